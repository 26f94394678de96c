"""Search by text or photo (`qdrant-mm search`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

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


@handles_errors
def search(
    query: Annotated[
        str | None, typer.Argument(metavar="QUERY", help="Text query (or --image)")
    ] = None,
    image: Annotated[
        Path | None, typer.Option(metavar="PATH", help="Search by photo instead of text")
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option(
            metavar="A,B,C",
            help="Weights of blip,clip,interrogator (e.g. 0.5,0.3,0.2 or clip=1); default: the"
            " stored profile 'default', else QDRANT_MM_WEIGHTS",
        ),
    ] = None,
    profile: Annotated[
        str | None, typer.Option(metavar="NAME", help="Use a stored weight profile")
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=1000, metavar="N", help="Results to show (1..1000)")
    ] = 10,
    offset: Annotated[
        int, typer.Option(min=0, metavar="N", help="Results to skip first (paging)")
    ] = 0,
    filter: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            metavar="EXPR",
            help="field=value, field=a|b, field!=v, price>=10 (repeatable: all must hold)",
        ),
    ] = None,
    calibrate: Annotated[
        bool | None,
        typer.Option(
            help="z-score calibrate the channel scores (text queries; default: the profile's)"
        ),
    ] = None,
    collection: CollectionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Search the catalog by text or photo with α/β/γ weights chosen now."""
    from qdrant_mm.filters import to_filter
    from qdrant_mm.weights import Weights

    # every argument and file is checked before the models load
    if weights is not None:
        Weights.parse(weights)
        if profile is not None:
            fail("give weights or profile, not both")
    if image is not None and image.is_dir():
        fail(f"--image: {image} is a folder: give an image file")
    if image is not None and not image.is_file():
        fail(f"--image: no such file: {image}")
    if query is None and image is None:
        fail("give a text query or --image PATH")
    if query is not None and query.strip() and image is not None:
        fail("give either a text query or --image, not both")
    to_filter(filter or None)
    mm, name = open_mm(collection)
    with mm:
        require_collection(mm, name)
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
        why = None
        if not result.hits:
            from qdrant_mm.no_hits import explain_no_hits

            why = explain_no_hits(mm.backend, name, filter, offset)
    if why is not None:  # on stderr: --json output stays parseable
        err.print(f"no results: {escape(why)}", highlight=False, soft_wrap=True)
    if as_json:
        out.print_json(json.dumps([h.model_dump() for h in result.hits], default=str))
        return
    if why is not None:
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
    # the photo that scored, shown when it tells something: a product with several photos, or
    # one found by its text
    photos = any(h.text_only or len(h.payload.get("image_refs") or ()) > 1 for h in result.hits)
    if photos:
        table.add_column("photo", no_wrap=True)
    for rank, h in enumerate(result.hits, start=offset + 1):
        cells = [
            f"{h.scores[c]:.3f}" if h.scores[c] is not None else "-"
            for c in ("blip", "clip", "interrogator")
        ]
        # catalog text is shown as it is, never read as Rich markup ("[/x]" in a title)
        table.add_row(
            str(rank),
            Text(h.id),
            f"{h.score:.4f}",
            *cells,
            Text(str(h.payload.get("title", ""))),
            Text(str(h.payload.get("category", ""))),
            Text(str(h.payload.get("price", ""))),
            *([Text(_photo_cell(h))] if photos else []),
        )
    out.print(table)


def _photo_cell(hit) -> str:
    """Which photo scored, short: ``2/3`` (the second of three), ``text`` for a product found by
    its text (``--json`` has the photo's reference)."""
    if hit.text_only:
        return "text"
    refs = hit.payload.get("image_refs") or []
    if hit.matched_image in refs:
        return f"{refs.index(hit.matched_image) + 1}/{len(refs)}"
    return "1/1" if hit.matched_image else ""
