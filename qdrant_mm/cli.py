"""The ``qdrant-mm`` command line (Typer for parsing and help, Rich for tables and progress).

Exit codes: 0 success; 1 ``sync`` did not do all it was asked (some products failed while the
rest were stored, deletes were held back, or a rebuild was not switched to); 2 usage,
configuration, model-loading or connection errors, an empty catalog, and stored state that
cannot be trusted.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from qdrant_mm.errors import QdrantMMError
from qdrant_mm.settings import load_settings

app = typer.Typer(
    name="qdrant-mm",
    help="Multimodal product search on Qdrant: BLIP + CLIP + CLIP Interrogator, weighted.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
weights_app = typer.Typer(
    help="Live weight profiles stored with the collection.", no_args_is_help=True
)
app.add_typer(weights_app, name="weights")

out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, code: int = 2) -> None:
    # escaped: messages hold brackets that are not Rich markup ('qdrant-mm[plot]', file names)
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def handles_errors(fn: F) -> F:
    """Turn qdrant-mm errors into a one-line message and exit code 2 (the backends raise only
    qdrant-mm errors, so storage failures that outlive sync's retries land here too)."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except QdrantMMError as exc:
            _fail(str(exc))

    return wrapper  # type: ignore[return-value]


def _open(collection: str | None = None, **overrides):
    from qdrant_mm.app import QdrantMM

    # transformers' "Loading weights" bars are noise on every command; this is read when
    # transformers is first imported (models load lazily, after this).
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    settings = load_settings(**overrides)
    mm = QdrantMM(settings)
    return mm, collection or settings.collection


class _RichProgress:
    def __init__(self, label: str) -> None:
        self._bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        )
        self._label = label
        self._task = None

    def start(self, total: int) -> None:
        self._bar.start()
        self._task = self._bar.add_task(self._label, total=total)

    def advance(self, n: int = 1) -> None:
        self._bar.advance(self._task, n)

    def stop(self) -> None:
        self._bar.stop()


# --- sync ------------------------------------------------------------------------------------
@app.command()
@handles_errors
def sync(
    catalog: Annotated[
        Path, typer.Argument(help="Catalog file (.jsonl/.ndjson, .json, .csv or .tsv)")
    ],
    collection: Annotated[str | None, typer.Option(help="Collection name (alias)")] = None,
    rebuild: Annotated[
        bool, typer.Option(help="Build a fresh collection, then switch the alias")
    ] = False,
    no_delete: Annotated[
        bool, typer.Option("--no-delete", help="Keep products that left the catalog")
    ] = False,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Products embedded per batch")
    ] = None,
    max_delete_fraction: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Largest share of the stored products this sync may delete (0..1; 1 allows"
            " any); more deletes nothing. Default: QDRANT_MM_MAX_DELETE_FRACTION (0.5)",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Embed new and changed products, delete removed ones; print a report.

    Exit 1 when products failed, deletes were held back or a rebuild was refused; exit 2 when
    the catalog holds no products (nothing is synced or deleted)."""
    from qdrant_mm.catalog import read_catalog

    cat = read_catalog(catalog)
    mm, name = _open(collection)
    with mm:
        progress = None if as_json or not sys.stderr.isatty() else _RichProgress("embedding")
        report = mm.syncer(name, batch_size, max_delete_fraction).sync(
            cat, delete=not no_delete, rebuild=rebuild, progress=progress
        )
    if as_json:
        out.print_json(report.model_dump_json())
    else:
        summary = Table(title=f"sync → {report.collection} ({mm.backend.name})", show_header=False)
        for key in ("added", "updated", "unchanged", "deleted"):
            summary.add_row(key, str(getattr(report, key)))
        summary.add_row("failed", str(len(report.failed)))
        summary.add_row("seconds", f"{report.seconds:.2f} (index build {report.index_seconds:.2f})")
        out.print(summary)
        for note in report.notes:
            out.print(f"[yellow]repaired:[/] {note}", highlight=False)
        if report.deletes_skipped:
            out.print(f"[yellow]deletes skipped:[/] {report.deletes_skipped}", highlight=False)
        if report.rebuild_refused:
            out.print(f"[red]rebuild not switched:[/] {report.rebuild_refused}", highlight=False)
        if report.quantization_note:
            out.print(f"[yellow]quantization:[/] {report.quantization_note}")
        for f in report.failed:
            out.print(
                f"[red]failed[/] {f.id if f.id is not None else '-'}: {f.reason}", highlight=False
            )
    raise typer.Exit(0 if report.ok else 1)


# --- search ----------------------------------------------------------------------------------
@app.command()
@handles_errors
def search(
    query: Annotated[str | None, typer.Argument(help="Text query")] = None,
    image: Annotated[Path | None, typer.Option(help="Search by photo instead of text")] = None,
    weights: Annotated[str | None, typer.Option(help="α,β,γ for blip,clip,interrogator")] = None,
    profile: Annotated[str | None, typer.Option(help="Use a stored weight profile")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 10,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    filter: Annotated[
        list[str] | None,
        typer.Option("--filter", help="field=value, field=a|b, field!=v, price>=10 (repeatable)"),
    ] = None,
    calibrate: Annotated[
        bool | None, typer.Option(help="z-score calibrated channel scores")
    ] = None,
    collection: Annotated[str | None, typer.Option()] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON")] = False,
) -> None:
    """Search the catalog by text or photo with α/β/γ weights chosen now."""
    mm, name = _open(collection)
    with mm:
        result = mm.searcher(name).search(
            query,
            image=image,
            weights=weights,
            profile=profile,
            limit=limit,
            offset=offset,
            filter=filter or None,
            calibrate=calibrate,
        )
    if as_json:
        out.print_json(json.dumps([h.model_dump() for h in result.hits], default=str))
        return
    w = result.weights
    source = f"profile {result.profile}" if result.profile else "weights"
    table = Table(
        title=f"{source}: blip={w.blip:.3g} clip={w.clip:.3g} interrogator={w.interrogator:.3g}"
    )
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("id", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    for col in ("blip", "clip", "interr."):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("title", ratio=1)
    table.add_column("category")
    table.add_column("price", justify="right", no_wrap=True)
    for rank, h in enumerate(result.hits, start=offset + 1):
        cells = [
            f"{h.scores[c]:.3f}" if h.scores[c] is not None else "-"
            for c in ("blip", "clip", "interrogator")
        ]
        table.add_row(
            str(rank),
            h.id,
            f"{h.score:.4f}",
            *cells,
            str(h.payload.get("title", "")),
            str(h.payload.get("category", "")),
            str(h.payload.get("price", "")),
        )
    out.print(table)


# --- weights ---------------------------------------------------------------------------------
def _profile_dict(p) -> dict[str, Any]:
    return {
        "name": p.name,
        **p.weights.as_dict(),
        "calibrate": p.calibrate,
        "updated_at": p.updated_at,
    }


@weights_app.command("list")
@handles_errors
def weights_list(collection: Annotated[str | None, typer.Option()] = None) -> None:
    """List the profiles of a collection."""
    mm, name = _open(collection)
    with mm:
        profiles = mm.profiles(name).list()
    table = Table(title=f"weight profiles of {name}")
    for col in ("name", "blip", "clip", "interrogator", "calibrate", "updated"):
        table.add_column(col)
    for p in profiles:
        d = _profile_dict(p)
        table.add_row(
            p.name,
            *(f"{d[c]:.3g}" for c in ("blip", "clip", "interrogator")),
            str(p.calibrate),
            p.updated_at,
        )
    out.print(table)


@weights_app.command("show")
@handles_errors
def weights_show(name: str, collection: Annotated[str | None, typer.Option()] = None) -> None:
    """Show one profile as JSON."""
    mm, coll = _open(collection)
    with mm:
        p = mm.profiles(coll).get(name)
    if p is None:
        _fail(f"no weight profile {name!r} in collection {coll!r}")
    out.print_json(json.dumps(_profile_dict(p)))


@weights_app.command("set")
@handles_errors
def weights_set(
    name: str,
    weights: Annotated[str, typer.Argument(help="α,β,γ, e.g. 0.5,0.3,0.2")],
    calibrate: Annotated[
        bool, typer.Option(help="Use z-score calibration with this profile")
    ] = False,
    collection: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Create or change a profile; running services use it on their next query."""
    from qdrant_mm.weights import Weights

    w = Weights.parse(weights)
    mm, coll = _open(collection)
    with mm:
        p = mm.profiles(coll).set(name, w, calibrate)
    out.print_json(json.dumps(_profile_dict(p)))


@weights_app.command("delete")
@handles_errors
def weights_delete(name: str, collection: Annotated[str | None, typer.Option()] = None) -> None:
    """Delete a profile."""
    mm, coll = _open(collection)
    with mm:
        deleted = mm.profiles(coll).delete(name)
    if not deleted:
        _fail(f"no weight profile {name!r} in collection {coll!r}")
    out.print(f"deleted profile {name}")


# --- evaluate & tune -------------------------------------------------------------------------
def _ks(text: str) -> list[int]:
    try:
        ks = sorted({int(k) for k in text.split(",") if k.strip()})
    except ValueError:
        _fail(f"--k must be comma-separated integers, got {text!r}")
    if not ks or ks[0] < 1:
        _fail(f"--k needs positive integers, got {text!r}")
    return ks


def _load_qrels(mm, name: str, qrels_path: Path, template: str):
    from qdrant_mm.evaluation.qrels import read_qrels
    from qdrant_mm.evaluation.runner import embed_queries, resolve_qrels

    searcher = mm.searcher(name)
    qrels = resolve_qrels(searcher, read_qrels(qrels_path))
    return searcher, qrels, embed_queries(searcher, qrels, template)


def _out_folder(option: str, path: str | Path | None) -> None:
    """Fail before any search if the folder an output file goes to does not exist."""
    if path is not None and not Path(path).expanduser().parent.is_dir():
        _fail(f"{option}: folder {Path(path).expanduser().parent} does not exist")


@app.command()
@handles_errors
def evaluate(
    qrels: Annotated[Path, typer.Argument(help="Qrels JSONL (text, image or category queries)")],
    weights: Annotated[
        list[str] | None, typer.Option("--weights", help="α,β,γ to evaluate (repeatable)")
    ] = None,
    profile: Annotated[
        list[str] | None, typer.Option("--profile", help="Stored profile(s)")
    ] = None,
    grid: Annotated[float | None, typer.Option(help="Every weighting on a simplex grid")] = None,
    k: Annotated[str, typer.Option("--k", help="Cut-offs, e.g. 1,5,10")] = "1,5,10",
    definitions: Annotated[
        str,
        typer.Option(
            help="Metric definitions: qdrant-mm (mAP@K over min(K,R), nDCG gains 2^g-1, queries"
            " without a relevant product left out, ranking as searched) or trec (trec_eval's"
            " map_cut, ndcg_cut, P, recall, recip_rank, Rprec: AP over R, linear gains, such"
            " queries count 0, ties by product id descending)"
        ),
    ] = "qdrant-mm",
    run_out: Annotated[
        str | None,
        typer.Option(
            help="Write a TREC run file (qid Q0 docid rank score tag, tag = the weighting's"
            " run_tag) of the best (*) weighting; with {tag} in the path, one file per"
            " weighting, e.g. 'run.{tag}.txt'"
        ),
    ] = None,
    qrels_out: Annotated[
        Path | None,
        typer.Option(help="Write the judgments as a TREC qrels file (qid 0 docid grade)"),
    ] = None,
    category_template: Annotated[str, typer.Option(help="Query text of a category")] = "{}",
    plot: Annotated[
        Path | None,
        typer.Option(help="Draw --plot-metric over the weight simplex to this PNG (matplotlib)"),
    ] = None,
    plot_metric: Annotated[str | None, typer.Option(help="Default: ndcg@<largest K>")] = None,
    plot_step: Annotated[float, typer.Option(help="Grid step of --plot (<= 0.05)")] = 0.05,
    collection: Annotated[str | None, typer.Option()] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Metrics (P@K, R@K, mAP@K, nDCG@K, MRR, R-precision) per weighting; writes no point.

    --run-out and --qrels-out write TREC files that trec_eval -c scores as --definitions trec.
    """
    from qdrant_mm.evaluation.metrics import check_definitions, parse_metric
    from qdrant_mm.evaluation.runner import evaluate_weightings
    from qdrant_mm.evaluation.trec import per_tag_path, qrels_lines, run_lines, write_lines
    from qdrant_mm.evaluation.tuning import simplex_grid
    from qdrant_mm.weights import Weights

    ks = _ks(k)
    defs = check_definitions(definitions)
    _out_folder("--run-out", run_out)
    _out_folder("--qrels-out", qrels_out)
    _out_folder("--plot", plot)
    if plot is not None:
        from qdrant_mm.evaluation.plot import check_plot

        plot_metric = check_plot(plot_metric or f"ndcg@{max(ks)}", plot_step, defs)
    written: list[str] = []
    mm, name = _open(collection)
    with mm:
        searcher, judged, vectors = _load_qrels(mm, name, qrels, category_template)
        judgment_lines: list[str] = []
        if qrels_out is not None:
            try:
                judgment_lines = qrels_lines(judged.relevance())
            except ValueError as exc:
                _fail(f"--qrels-out: {exc}")
        rows: list[tuple[str, Weights]] = []
        for text in weights or []:
            rows.append((text, Weights.parse(text)))
        for pname in profile or []:
            w, _, _ = searcher.resolve_weights(profile=pname)
            rows.append((f"profile:{pname}", w))
        if grid is not None:
            try:
                rows += [(str(w), w) for w in simplex_grid(grid)]
            except ValueError as exc:
                _fail(f"--grid: {exc}")
        if not rows:
            w, pname, _ = searcher.resolve_weights()
            rows.append((f"profile:{pname}" if pname else "default", w))
        for ch in ("blip", "clip", "interrogator"):
            rows.append((f"{ch} only", Weights.from_mapping({ch: 1.0})))
        results = evaluate_weightings(searcher, judged, vectors, rows, ks, definitions=defs)
        if plot is not None:
            from qdrant_mm.evaluation.plot import plot_evaluation

            marks = [(r.label, r.weights) for r in results if not r.label.endswith(" only")]
            args = (searcher, judged, vectors, plot, plot_metric, plot_step, ks, defs, marks)
            written.append(f"plot {plot_metric} → {plot_evaluation(*args)}")
    try:
        if run_out is not None:
            # the best row; the first when none could be scored
            best = next((r for r in results if r.best), results[0])
            for r in results:
                if "{tag}" in run_out or r is best:
                    path = per_tag_path(run_out, r.run_tag)
                    write_lines(path, run_lines(r.run, r.run_tag))
                    written.append(f"run {r.run_tag} → {path}")
        if qrels_out is not None:
            written.append(f"qrels → {write_lines(qrels_out, judgment_lines)}")
    except ValueError as exc:
        _fail(f"--run-out: {exc}")
    except OSError as exc:
        _fail(f"cannot write {exc.filename}: {exc.strerror}")
    if as_json:
        out.print_json(json.dumps([r.model_dump() for r in results], default=str))
        return
    top = max(ks)
    metrics = [parse_metric(m, defs) for m in (f"p@{top}", f"r@{top}", f"map@{top}")]
    metrics += [parse_metric(m, defs) for m in (f"ndcg@{top}", "mrr", "r-precision")]
    # trec definitions are shown under trec_eval's names, so no one mistakes which they are
    heads = [(m.trec_name if defs == "trec" else None) or str(m) for m in metrics]
    table = Table(
        title=f"{len(judged)} queries, {results[0].evaluation.n_queries} in the means"
        f" (definitions: {defs})",
        caption=f"* best by {heads[3]}; every K ({k}) with --json",
    )
    table.add_column("weighting")
    table.add_column("α,β,γ", no_wrap=True)
    for head in heads:
        table.add_column(head, justify="right", no_wrap=True)
    for r in results:
        label = f"[bold green]* {r.label}[/]" if r.best else r.label
        table.add_row(
            label, str(r.weights), *(f"{r.evaluation.metrics[str(m)]:.4f}" for m in metrics)
        )
    out.print(table)
    for line in written:
        out.print(f"wrote {line}", highlight=False, soft_wrap=True)


@app.command()
@handles_errors
def tune(
    qrels: Annotated[Path, typer.Argument(help="Qrels JSONL")],
    metric: Annotated[str, typer.Option(help="Metric to report and (grid) optimise")] = "ndcg@10",
    holdout: Annotated[
        float, typer.Option(min=0.0, max=0.9, help="Share of queries held out")
    ] = 0.2,
    method: Annotated[
        str, typer.Option(help="contrastive (the fusion paper's loss) or grid")
    ] = "contrastive",
    tau: Annotated[float, typer.Option(help="Softmax temperature of the contrastive loss")] = 0.05,
    depth: Annotated[
        int, typer.Option(min=1, max=1000, help="Candidates per channel and query")
    ] = 100,
    save: Annotated[
        str | None, typer.Option(help="Store the tuned weights as this profile")
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Save even when the start point or one model alone scores better (held out)",
        ),
    ] = False,
    seed: Annotated[int, typer.Option()] = 0,
    category_template: Annotated[str, typer.Option(help="Query text of a category")] = "{}",
    collection: Annotated[str | None, typer.Option()] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Learn α/β/γ from labelled queries. Candidates are fetched once; the fit runs offline."""
    from qdrant_mm.evaluation.metrics import parse_metric
    from qdrant_mm.evaluation.runner import fetch_candidates
    from qdrant_mm.evaluation.tuning import tune as run_tuning

    if method not in ("contrastive", "grid"):
        _fail(f"--method must be contrastive or grid, got {method!r}")
    parse_metric(metric)
    mm, name = _open(collection)
    with mm:
        searcher, judged, vectors = _load_qrels(mm, name, qrels, category_template)
        start, _, _ = searcher.resolve_weights()
        candidates = fetch_candidates(searcher, judged, vectors, depth)
        try:
            report = run_tuning(
                candidates,
                method=method,
                metric=metric,
                holdout=holdout,
                seed=seed,
                start=start,
                tau=tau,
            )
        except ValueError as exc:
            _fail(f"tuning failed: {exc}")
        better = report.better_than_tuned()
        saved = bool(save) and (force or not better)
        if saved:
            mm.profiles(name).set(save, report.weights)
    if as_json:
        data = report.model_dump(mode="json")
        data["better_than_tuned"] = [r.label for r in better]
        data["saved_as"] = save if saved else None
        out.print_json(json.dumps(data))
    else:
        _tuning_table(report)
    if better:
        split = report.judged_on.replace("_", "-")
        tuned_value = getattr(report.result("tuned"), report.judged_on)[report.metric]
        beaten = ", ".join(
            f"{r.label} {getattr(r, report.judged_on)[report.metric]:.4f}" for r in better
        )
        err.print(
            f"[yellow]warning:[/] the tuned weights score {report.metric} {tuned_value:.4f}"
            f" on the {split} queries, below {beaten}",
            highlight=False,
            soft_wrap=True,
        )
    if save and not saved:
        _fail(
            f"not saved as profile {save!r}: the tuned weights are worse on the"
            f" {report.judged_on.replace('_', '-')} queries than the weights named above"
            " (--force saves them anyway)",
            code=1,
        )
    if saved and not as_json:
        out.print(f"saved as profile [bold]{save}[/]")


def _tuning_table(report) -> None:
    table = Table(
        title=f"tuning ({report.method}): {len(report.train_queries)} train,"
        f" {len(report.held_out_queries)} held-out queries"
    )
    for col in ("weighting", "α,β,γ", f"train {report.metric}", f"held-out {report.metric}"):
        table.add_column(col)
    for r in report.results:
        held = r.held_out.get(report.metric)
        table.add_row(
            r.label,
            str(r.weights),
            f"{r.train[report.metric]:.4f}",
            "-" if held is None else f"{held:.4f}",
        )
    out.print(table)


# --- info ------------------------------------------------------------------------------------
@app.command()
@handles_errors
def info(collection: Annotated[str | None, typer.Option()] = None) -> None:
    """Show the backend, the collection and what built it (no models are loaded)."""
    from qdrant_mm.collection import physical_collections, read_collection_meta

    mm, name = _open(collection)
    with mm:
        physical = mm.backend.resolve(name)
        data: dict[str, Any] = {
            "backend": mm.backend.name,
            "collection": name,
            "physical": physical,
        }
        # Collections built for this name that the alias does not point at (a lost alias, a
        # killed first sync): the next sync adopts one, or says how to repair.
        unlinked = [p for p in physical_collections(mm.backend, name) if p != physical]
        if unlinked:
            data["without_alias"] = unlinked
        if physical:
            meta = read_collection_meta(mm.backend, physical)
            data["points"] = mm.backend.count(name)
            if meta is not None:
                # Chosen when the collection was created; QDRANT_MM_QUANTIZATION applies to the
                # next collection created (first sync or sync --rebuild).
                data["quantization"] = meta.quantization or "none"
                if data["quantization"] != mm.settings.quantization:
                    data["quantization_setting"] = (
                        f"{mm.settings.quantization} (applies at the next `sync --rebuild`)"
                    )
            data["meta"] = meta.model_dump() if meta else None
    out.print_json(json.dumps(data, default=str))


# --- serve -----------------------------------------------------------------------------------
@app.command()
@handles_errors
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on (0.0.0.0 for every interface)")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    collection: Annotated[str | None, typer.Option(help="Collection (alias) to search")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    qrels: Annotated[
        Path | None,
        typer.Option(help="Labelled queries (JSONL, as for evaluate) for the page's live metrics"),
    ] = None,
    qrels_depth: Annotated[
        int, typer.Option(min=10, max=1000, help="Candidates per channel and labelled query")
    ] = 200,
) -> None:
    """Run the HTTP service: search API, weight profiles, images and the tuning page at /."""
    try:
        import uvicorn

        from qdrant_mm.service.app import create_app
    except ImportError as exc:
        _fail(f"the service needs the 'service' extra: pip install 'qdrant-mm[service]' ({exc})")
    from qdrant_mm.evaluation.qrels import read_qrels

    judged = read_qrels(qrels) if qrels is not None else None  # a bad file stops the start
    mm, name = _open(collection)
    with mm:
        app = create_app(mm, name, qrels=judged, qrels_depth=qrels_depth)
        uvicorn.run(app, host=host, port=port, log_level=log_level)


# --- demo-models -----------------------------------------------------------------------------
@app.command("demo-models")
@handles_errors
def demo_models(
    folder: Annotated[
        Path, typer.Argument(help="Where the models are built (and found again next time)")
    ] = Path(".qdrant-mm/models"),
    size: Annotated[
        str, typer.Option(help="tiny (seconds to build) or base (real-size architectures)")
    ] = "tiny",
    env_file: Annotated[
        Path, typer.Option(help="The .env file that later commands in this folder read")
    ] = Path(".env"),
    collection: Annotated[
        str, typer.Option(help="Collection the demo models sync into (kept apart from real ones)")
    ] = "products_random_models",
) -> None:
    """Random-weight models for working offline: built once, then reused; their settings go to
    .env, so every later qdrant-mm command run in this folder uses them. Rankings are chance."""
    import time

    from qdrant_mm.testing.random_models import build_or_reuse, write_env_file

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if size not in ("tiny", "base"):
        _fail(f"--size must be tiny or base, got {size!r}")
    t0 = time.perf_counter()
    settings, built = build_or_reuse(folder, size)
    what = f"built in {time.perf_counter() - t0:.0f} s" if built else "already built: reused"
    err.print(f"random-weight {size} models in {folder.resolve()} ({what})", highlight=False)
    names = write_env_file(env_file, settings, collection=collection)
    err.print(
        f"wrote {', '.join(names)} to {env_file}: qdrant-mm commands run in this folder now use"
        f" these models and the collection {collection!r}. Their rankings are chance; remove"
        " those lines to use the real models.",
        highlight=False,
        soft_wrap=True,
    )


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
