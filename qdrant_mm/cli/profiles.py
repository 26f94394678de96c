"""Live weight profiles (`qdrant-mm weights list|show|set|delete`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from qdrant_mm.cli.common import (
    CollectionOption,
    fail,
    handles_errors,
    open_mm,
    out,
    require_collection,
)


def _profile_dict(p) -> dict[str, Any]:
    return {
        "name": p.name,
        **p.weights.as_dict(),
        "calibrate": p.calibrate,
        "updated_at": p.updated_at,
    }


@handles_errors
def weights_list(collection: CollectionOption = None) -> None:
    """List the profiles of a collection."""
    mm, name = open_mm(collection)
    with mm:
        profiles = mm.profiles(name).list()
    table = Table(title=f"weight profiles of {escape(name)}")
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


@handles_errors
def weights_show(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Profile name")],
    collection: CollectionOption = None,
) -> None:
    """Show one profile as JSON."""
    mm, coll = open_mm(collection)
    with mm:
        p = mm.profiles(coll).get(name)
    if p is None:
        fail(f"no weight profile {name!r} in collection {coll!r}")
    out.print_json(json.dumps(_profile_dict(p)))


@handles_errors
def weights_set(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Profile name")],
    weights: Annotated[
        str,
        typer.Argument(metavar="A,B,C", help="Weights of blip,clip,interrogator, e.g. 0.5,0.3,0.2"),
    ],
    calibrate: Annotated[
        bool, typer.Option(help="Use z-score calibration with this profile")
    ] = False,
    collection: CollectionOption = None,
) -> None:
    """Create or change a profile; running services use it on their next query."""
    from qdrant_mm.weights import Weights

    w = Weights.parse(weights)
    mm, coll = open_mm(collection)
    with mm:
        require_collection(mm, coll)  # a typo in --collection stores nothing
        p = mm.profiles(coll).set(name, w, calibrate)
    out.print_json(json.dumps(_profile_dict(p)))


@handles_errors
def weights_delete(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Profile name")],
    collection: CollectionOption = None,
) -> None:
    """Delete a profile."""
    mm, coll = open_mm(collection)
    with mm:
        deleted = mm.profiles(coll).delete(name)
    if not deleted:
        fail(f"no weight profile {name!r} in collection {coll!r}")
    out.print(f"deleted profile {name}")
