"""Why a search found nothing, in plain words.

An empty result list says nothing by itself: the collection may be empty, the page may be past
the last result, a filter may name a field no product has (a typo: ``colour`` for ``color``), or
each filter may match products while no product matches all of them. Only asked after a search
came back empty, it answers with a few exact counts in the engine.
"""

from __future__ import annotations

from collections.abc import Sequence

from qdrant_client import models

from qdrant_mm.backends.base import Backend
from qdrant_mm.filters import condition_field, parse_conditions, split_conditions, to_filter


def _has_field(field: str) -> models.Filter:
    return models.Filter(
        must_not=[models.IsEmptyCondition(is_empty=models.PayloadField(key=field))]
    )


def explain_no_hits(
    backend: Backend,
    collection: str,
    conditions: Sequence[str] | str | None = None,
    offset: int = 0,
) -> str:
    """Why a search of ``collection`` with the short-form filter ``conditions`` (as the CLI and
    the service take them) and ``offset`` returned no product."""
    stored = backend.count(collection)
    if stored == 0:
        return f"collection {collection!r} holds no products yet (qdrant-mm sync CATALOG)"
    texts = split_conditions([conditions] if isinstance(conditions, str) else conditions or [])
    matching = backend.count(collection, to_filter(texts)) if texts else stored
    if matching and offset:
        return f"offset {offset} is past the last result: {matching} product(s) match" + (
            " the filters" if texts else ""
        )
    if not texts:  # pragma: no cover - an unfiltered first page of a non-empty collection
        return f"no product matched, of {stored} stored"
    reasons = []
    for text in texts:
        field = condition_field(text)
        if field is not None and backend.count(collection, _has_field(field)) == 0:
            reasons.append(f"no product has a field {field!r} (check its name)")
        elif backend.count(collection, parse_conditions([text])) == 0:
            reasons.append(f"no product matches {text!r}")
    if reasons:
        return "; ".join(reasons)
    return (
        "each filter matches some products, but no product matches all of them ("
        + " and ".join(repr(t) for t in texts)
        + ")"
    )
