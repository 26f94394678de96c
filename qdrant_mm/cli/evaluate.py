"""Offline measurement and learning of the weights (`qdrant-mm evaluate`, `qdrant-mm tune`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from qdrant_mm.cli.common import (
    CollectionOption,
    JsonOption,
    err,
    fail,
    handles_errors,
    open_mm,
    out,
    require_collection,
)


def _ks(text: str) -> list[int]:
    try:
        ks = sorted({int(k) for k in text.split(",") if k.strip()})
    except ValueError:
        fail(f"--k must be comma-separated integers, got {text!r}")
    if not ks or ks[0] < 1:
        fail(f"--k needs positive integers, got {text!r}")
    return ks


def _load_qrels(mm, name: str, parsed, template: str):
    """The searcher, the qrels resolved against the collection, and the queries' vectors (the
    models load here: the file was read and checked before)."""
    from qdrant_mm.evaluation.runner import embed_queries, resolve_qrels

    searcher = mm.searcher(name)
    qrels = resolve_qrels(searcher, parsed)
    return searcher, qrels, embed_queries(searcher, qrels, template)


def _out_folder(option: str, path: str | Path | None) -> None:
    """Fail before any search if the folder an output file goes to does not exist."""
    if path is not None and not Path(path).expanduser().parent.is_dir():
        fail(f"{option}: folder {Path(path).expanduser().parent} does not exist")


@handles_errors
def evaluate(
    qrels: Annotated[
        Path, typer.Argument(metavar="QRELS", help="Qrels JSONL (text, image or category queries)")
    ],
    weights: Annotated[
        list[str] | None,
        typer.Option("--weights", metavar="A,B,C", help="Weights to evaluate (repeatable)"),
    ] = None,
    profile: Annotated[
        list[str] | None,
        typer.Option("--profile", metavar="NAME", help="Stored profile to evaluate (repeatable)"),
    ] = None,
    grid: Annotated[
        float | None,
        typer.Option(
            metavar="STEP", help="Also every weighting on a simplex grid of this step, e.g. 0.25"
        ),
    ] = None,
    k: Annotated[str, typer.Option("--k", metavar="K,K", help="Cut-offs, e.g. 1,5,10")] = "1,5,10",
    definitions: Annotated[
        str,
        typer.Option(
            metavar="NAME",
            help="Metric definitions: qdrant-mm (mAP@K over min(K,R), nDCG gains 2^g-1, queries"
            " without a relevant product left out, ranking as searched) or trec (trec_eval's"
            " map_cut, ndcg_cut, P, recall, recip_rank, Rprec: AP over R, linear gains, such"
            " queries count 0, ties by product id descending)",
        ),
    ] = "qdrant-mm",
    run_out: Annotated[
        str | None,
        typer.Option(
            metavar="PATH",
            help="Write a TREC run file (qid Q0 docid rank score tag, tag = the weighting's"
            " run_tag) of the best (*) weighting; with {tag} in the path, one file per"
            " weighting, e.g. 'run.{tag}.txt'",
        ),
    ] = None,
    qrels_out: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH", help="Write the judgments as a TREC qrels file (qid 0 docid grade)"
        ),
    ] = None,
    category_template: Annotated[
        str,
        typer.Option(metavar="TEXT", help="Query text of a category query; {} is the category"),
    ] = "{}",
    plot: Annotated[
        Path | None,
        typer.Option(
            metavar="PNG",
            help="Draw --plot-metric over the weight simplex to this PNG (extra 'plot')",
        ),
    ] = None,
    plot_metric: Annotated[
        str | None,
        typer.Option(metavar="METRIC", help="Metric of --plot. Default: ndcg@<largest K>"),
    ] = None,
    plot_step: Annotated[
        float, typer.Option(metavar="STEP", help="Grid step of --plot (<= 0.05)")
    ] = 0.05,
    collection: CollectionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Metrics (P@K, R@K, mAP@K, nDCG@K, MRR, R-precision) per weighting; writes no point.

    --run-out and --qrels-out write TREC files that trec_eval -c scores as --definitions trec.
    """
    from qdrant_mm.evaluation.metrics import check_definitions, parse_metric
    from qdrant_mm.evaluation.qrels import read_qrels
    from qdrant_mm.evaluation.runner import evaluate_weightings
    from qdrant_mm.evaluation.trec import per_tag_path, qrels_lines, run_lines, write_lines
    from qdrant_mm.evaluation.tuning import simplex_grid
    from qdrant_mm.weights import Weights

    # every argument and file is checked before the models load
    ks = _ks(k)
    defs = check_definitions(definitions)
    _out_folder("--run-out", run_out)
    _out_folder("--qrels-out", qrels_out)
    _out_folder("--plot", plot)
    if plot is not None:
        from qdrant_mm.evaluation.plot import check_plot

        plot_metric = check_plot(plot_metric or f"ndcg@{max(ks)}", plot_step, defs)
    written: list[str] = []
    given = [(text, Weights.parse(text)) for text in weights or []]
    grid_rows: list[tuple[str, Weights]] = []
    if grid is not None:
        try:
            grid_rows = [(str(w), w) for w in simplex_grid(grid)]
        except ValueError as exc:
            fail(f"--grid: {exc}")
    parsed = read_qrels(qrels)
    mm, name = open_mm(collection)
    with mm:
        require_collection(mm, name)
        searcher, judged, vectors = _load_qrels(mm, name, parsed, category_template)
        judgment_lines: list[str] = []
        if qrels_out is not None:
            try:
                judgment_lines = qrels_lines(judged.relevance())
            except ValueError as exc:
                fail(f"--qrels-out: {exc}")
        rows: list[tuple[str, Weights]] = list(given)
        for pname in profile or []:
            w, _, _ = searcher.resolve_weights(profile=pname)
            rows.append((f"profile:{pname}", w))
        rows += grid_rows
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
        fail(f"--run-out: {exc}")
    except OSError as exc:
        fail(f"cannot write {exc.filename}: {exc.strerror}")
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
        label = f"[bold green]* {escape(r.label)}[/]" if r.best else escape(r.label)
        table.add_row(
            label, str(r.weights), *(f"{r.evaluation.metrics[str(m)]:.4f}" for m in metrics)
        )
    out.print(table)
    for line in written:
        out.print(f"wrote {escape(line)}", highlight=False, soft_wrap=True)


@handles_errors
def tune(
    qrels: Annotated[Path, typer.Argument(metavar="QRELS", help="Qrels JSONL")],
    metric: Annotated[
        str, typer.Option(metavar="METRIC", help="Metric to report and (grid) optimise")
    ] = "ndcg@10",
    holdout: Annotated[
        float, typer.Option(min=0.0, max=0.9, metavar="F", help="Share of queries held out")
    ] = 0.2,
    method: Annotated[
        str, typer.Option(metavar="NAME", help="contrastive (the fusion paper's loss) or grid")
    ] = "contrastive",
    tau: Annotated[
        float, typer.Option(metavar="T", help="Softmax temperature of the contrastive loss")
    ] = 0.05,
    depth: Annotated[
        int, typer.Option(min=1, max=1000, metavar="N", help="Candidates per channel and query")
    ] = 100,
    save: Annotated[
        str | None, typer.Option(metavar="NAME", help="Store the tuned weights as this profile")
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Save even when the start point or one model alone scores better (held out)",
        ),
    ] = False,
    seed: Annotated[
        int, typer.Option(metavar="N", help="Seed of the held-out split and the fit")
    ] = 0,
    category_template: Annotated[
        str,
        typer.Option(metavar="TEXT", help="Query text of a category query; {} is the category"),
    ] = "{}",
    collection: CollectionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Learn α/β/γ from labelled queries. Candidates are fetched once; the fit runs offline."""
    from qdrant_mm.evaluation.metrics import parse_metric
    from qdrant_mm.evaluation.runner import fetch_candidates
    from qdrant_mm.evaluation.tuning import tune as run_tuning

    if method not in ("contrastive", "grid"):
        fail(f"--method must be contrastive or grid, got {method!r}")
    from qdrant_mm.evaluation.qrels import read_qrels

    parse_metric(metric)
    parsed = read_qrels(qrels)  # checked before the models load
    mm, name = open_mm(collection)
    with mm:
        require_collection(mm, name)
        searcher, judged, vectors = _load_qrels(mm, name, parsed, category_template)
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
            fail(f"tuning failed: {exc}")
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
            f"{escape(r.label)} {getattr(r, report.judged_on)[report.metric]:.4f}" for r in better
        )
        err.print(
            f"[yellow]warning:[/] the tuned weights score {report.metric} {tuned_value:.4f}"
            f" on the {split} queries, below {beaten}",
            highlight=False,
            soft_wrap=True,
        )
    if save and not saved:
        fail(
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
            escape(r.label),
            str(r.weights),
            f"{r.train[report.metric]:.4f}",
            "-" if held is None else f"{held:.4f}",
        )
    out.print(table)
