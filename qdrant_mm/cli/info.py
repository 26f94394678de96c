"""What a collection holds and what built it (`qdrant-mm info`)."""

from __future__ import annotations

import json
from typing import Any

from qdrant_mm.cli.common import CollectionOption, fail, handles_errors, open_mm, out


@handles_errors
def info(collection: CollectionOption = None) -> None:
    """Show the backend, the collection and what built it (no models are loaded)."""
    from qdrant_mm.collection import physical_collections, read_collection_meta
    from qdrant_mm.schema import LAYOUT, LAYOUT_PHOTOS

    mm, name = open_mm(collection)
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
                data["datatype"] = meta.datatype  # of fused's originals (QDRANT_MM_VECTOR_DATATYPE)
                # a rebuild gives the catalog's layout: photo rows stay photo rows, the
                # first layout becomes the current one
                setting = (
                    mm.new_collection_quantization(
                        LAYOUT_PHOTOS if meta.layout == LAYOUT_PHOTOS else LAYOUT
                    )
                    or "none"
                )
                if data["quantization"] != setting:
                    data["quantization_setting"] = (
                        f"{setting} (applies at the next `sync --rebuild`)"
                    )
            data["meta"] = meta.model_dump() if meta else None
    out.print_json(json.dumps(data, default=str))
    if physical is None and not unlinked:
        fail(
            f"collection {name!r} does not exist on the {data['backend']} backend: nothing has"
            " been synced into it yet (qdrant-mm sync CATALOG), or --collection /"
            " QDRANT_MM_COLLECTION names another one"
        )
