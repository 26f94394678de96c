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

import httpx
import typer
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse
from rich.console import Console
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
#: Transport and server errors that reach the CLI (after sync's retries): exit code 2.
BACKEND_FAILURES = (
    ConnectionError,
    TimeoutError,
    httpx.TransportError,
    ResponseHandlingException,
    UnexpectedResponse,
)


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def handles_errors(fn: F) -> F:
    """Turn qdrant-mm errors into a one-line message and exit code 2."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except QdrantMMError as exc:
            _fail(str(exc))
        except BACKEND_FAILURES as exc:
            _fail(f"Qdrant failed or could not be reached: {type(exc).__name__}: {exc}")

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
    if weights is not None and profile is not None:
        _fail("give --weights or --profile, not both")
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
    category_template: Annotated[str, typer.Option(help="Query text of a category")] = "{}",
    collection: Annotated[str | None, typer.Option()] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Metrics (P@K, R@K, mAP@K, nDCG@K, MRR, R-precision) per weighting; writes nothing."""
    from qdrant_mm.evaluation.runner import evaluate_weightings
    from qdrant_mm.evaluation.tuning import simplex_grid
    from qdrant_mm.weights import Weights

    ks = _ks(k)
    mm, name = _open(collection)
    with mm:
        searcher, judged, vectors = _load_qrels(mm, name, qrels, category_template)
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
        results = evaluate_weightings(searcher, judged, vectors, rows, ks)
    if as_json:
        out.print_json(json.dumps([r.model_dump() for r in results], default=str))
        return
    top = max(ks)
    metric_names = [f"p@{top}", f"r@{top}", f"map@{top}", f"ndcg@{top}", "mrr", "r-precision"]
    table = Table(
        title=f"{len(judged)} queries, {results[0].evaluation.n_queries} with relevant products",
        caption=f"* best by ndcg@{top}; every K ({k}) with --json",
    )
    table.add_column("weighting")
    table.add_column("α,β,γ", no_wrap=True)
    for m in metric_names:
        table.add_column(m, justify="right", no_wrap=True)
    for r in results:
        label = f"[bold green]* {r.label}[/]" if r.best else r.label
        table.add_row(
            label, str(r.weights), *(f"{r.evaluation.metrics[m]:.4f}" for m in metric_names)
        )
    out.print(table)


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
        if save:
            mm.profiles(name).set(save, report.weights)
    if as_json:
        out.print_json(report.model_dump_json())
        return
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
    if save:
        out.print(f"saved as profile [bold]{save}[/]")


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
) -> None:
    """Run the HTTP service: search API, weight profiles, images and the tuning page at /."""
    try:
        import uvicorn

        from qdrant_mm.service.app import create_app
    except ImportError as exc:
        _fail(f"the service needs the 'service' extra: pip install 'qdrant-mm[service]' ({exc})")
    mm, name = _open(collection)
    with mm:
        uvicorn.run(create_app(mm, name), host=host, port=port, log_level=log_level)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
