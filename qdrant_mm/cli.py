"""The ``qdrant-mm`` command line (Typer for parsing and help, Rich for tables and progress).

Exit codes: 0 success; 1 some products failed (the rest were stored); 2 usage, configuration,
model-loading or connection errors.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
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

    return wrapper  # type: ignore[return-value]


def _open(collection: str | None = None, **overrides):
    from qdrant_mm.app import QdrantMM

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
    catalog: Annotated[Path, typer.Argument(help="Catalog file (.jsonl or .csv)")],
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
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Embed new and changed products, delete removed ones; print a report."""
    from qdrant_mm.catalog import read_catalog

    cat = read_catalog(catalog)
    mm, name = _open(collection)
    with mm:
        progress = None if as_json or not sys.stderr.isatty() else _RichProgress("embedding")
        report = mm.syncer(name, batch_size).sync(
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
        if report.deletes_skipped:
            out.print(f"[yellow]deletes skipped:[/] {report.deletes_skipped}")
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
    for col in ("#", "id", "score", "blip", "clip", "interr.", "title", "category", "price"):
        table.add_column(col, justify="right" if col in ("#", "score", "price") else "left")
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


# --- info ------------------------------------------------------------------------------------
@app.command()
@handles_errors
def info(collection: Annotated[str | None, typer.Option()] = None) -> None:
    """Show the backend, the collection and what built it (no models are loaded)."""
    from qdrant_mm.collection import read_collection_meta

    mm, name = _open(collection)
    with mm:
        physical = mm.backend.resolve(name)
        data: dict[str, Any] = {
            "backend": mm.backend.name,
            "collection": name,
            "physical": physical,
        }
        if physical:
            meta = read_collection_meta(mm.backend, physical)
            data["points"] = mm.backend.count(name)
            data["meta"] = meta.model_dump() if meta else None
    out.print_json(json.dumps(data, default=str))


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
