"""Sync a catalog into a collection (`qdrant-mm sync`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from qdrant_mm.cli.common import (
    CollectionOption,
    JsonOption,
    LineProgress,
    RichProgress,
    handles_errors,
    open_mm,
    out,
)


@handles_errors
def sync(
    catalog: Annotated[
        Path,
        typer.Argument(
            metavar="CATALOG", help="Catalog file (.jsonl/.ndjson, .json, .csv or .tsv)"
        ),
    ],
    collection: CollectionOption = None,
    rebuild: Annotated[
        bool, typer.Option(help="Build a fresh collection, then switch the alias")
    ] = False,
    no_delete: Annotated[
        bool, typer.Option("--no-delete", help="Keep products that left the catalog")
    ] = False,
    batch_size: Annotated[
        int | None,
        typer.Option(
            min=1, metavar="N", help="Products embedded per batch. Default: QDRANT_MM_BATCH_SIZE"
        ),
    ] = None,
    max_delete_fraction: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            metavar="F",
            help="Largest share of the stored products this sync may delete (0..1; 1 allows"
            " any); more deletes nothing. Default: QDRANT_MM_MAX_DELETE_FRACTION (0.5)",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Embed new and changed products, delete removed ones; print a report.

    Exit 1 when products failed, deletes were held back or a rebuild was refused; exit 2 when
    the catalog holds no products (nothing is synced or deleted)."""
    from qdrant_mm.catalog import read_catalog

    cat = read_catalog(catalog)
    mm, name = open_mm(collection)
    with mm:
        progress = None
        if not as_json:  # --json: nothing but the report (2>&1 stays parseable)
            progress = (RichProgress if sys.stderr.isatty() else LineProgress)("embedding")
        report = mm.syncer(name, batch_size, max_delete_fraction).sync(
            cat, delete=not no_delete, rebuild=rebuild, progress=progress
        )
    if as_json:
        out.print_json(report.model_dump_json())
    else:
        summary = Table(
            title=f"sync → {escape(report.collection)} ({mm.backend.name})", show_header=False
        )
        for key in ("added", "updated", "unchanged", "deleted"):
            summary.add_row(key, str(getattr(report, key)))
        summary.add_row("failed", str(len(report.failed)))
        summary.add_row("photos embedded", str(report.photos_embedded))
        if report.stored_from_text:
            summary.add_row("stored from text", str(report.stored_from_text))
        if report.skipped:
            summary.add_row("skipped (no photo)", str(len(report.skipped)))
        summary.add_row("seconds", f"{report.seconds:.2f} (index build {report.index_seconds:.2f})")
        out.print(summary)
        for note in report.notes:
            out.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
        if report.deletes_skipped:
            out.print(
                f"[yellow]deletes skipped:[/] {escape(report.deletes_skipped)}", highlight=False
            )
        if report.rebuild_refused:
            out.print(
                f"[red]rebuild not switched:[/] {escape(report.rebuild_refused)}", highlight=False
            )
        if report.quantization_note:
            out.print(f"[yellow]quantization:[/] {escape(report.quantization_note)}")
        for f in report.fallbacks:
            out.print(
                f"[yellow]photo fallback[/] {escape(f.id or '-')}: {escape(f.reason)}",
                highlight=False,
            )
        for f in report.failed:
            out.print(
                f"[red]failed[/] {escape(f.id if f.id is not None else '-')}: {escape(f.reason)}",
                highlight=False,
            )
    raise typer.Exit(0 if report.ok else 1)
