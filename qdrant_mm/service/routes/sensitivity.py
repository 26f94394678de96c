"""``GET /sensitivity``: for one query, how far each weight can move (as its slider moves it:
the other two rescaled proportionally) before the top-K order changes.

The query is a text (``q``, with the page's ``filter``) or a query of the loaded set (``qid``).
Its candidates (each channel's top products with all three channel scores) are fetched once and
kept; :func:`qdrant_mm.evaluation.sensitivity.weight_intervals` does the rest.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query

from qdrant_mm.evaluation.live import DEFAULT_DEPTH, EPS, LiveQuery, fetch_query
from qdrant_mm.evaluation.sensitivity import order, weight_intervals
from qdrant_mm.filters import to_filter
from qdrant_mm.service.deps import StateDep
from qdrant_mm.service.errors import ServiceError
from qdrant_mm.service.parsing import MAX_QUERY_CHARS, filter_conditions
from qdrant_mm.service.routes.evaluate import WeightsQ, resolve
from qdrant_mm.service.schemas import ErrorOut
from qdrant_mm.service.state import ServiceState
from qdrant_mm.weights import CHANNELS

router = APIRouter(tags=["evaluate"], responses={400: {"model": ErrorOut}})


def _text_query(state: ServiceState, text: str, filters: list[str] | None) -> LiveQuery:
    if len(text) > MAX_QUERY_CHARS:
        raise ServiceError(400, f"q is longer than {MAX_QUERY_CHARS} characters")
    searcher = state.ready_searcher()
    flt = to_filter(filter_conditions(filters))

    def fetch() -> LiveQuery:
        vectors = searcher.models.encode_query_text(text, CHANNELS)
        return fetch_query(searcher, text, vectors, {}, DEFAULT_DEPTH, filter=flt)

    return state.workbench.recent((text, tuple(filters or ())), fetch)


@router.get("/sensitivity", responses={404: {"model": ErrorOut}})
def sensitivity(
    state: StateDep,
    weights: WeightsQ = None,
    k: Annotated[
        int, Query(ge=1, le=100, description="How many top results keep their order")
    ] = 10,
    q: Annotated[str | None, Query(description="A text query")] = None,
    qid: Annotated[str | None, Query(description="A query of the loaded set")] = None,
    filters: Annotated[
        list[str] | None, Query(alias="filter", description="As in /search (with q)")
    ] = None,
    calibrate: Annotated[bool, Query(description="z-score calibrated channel scores")] = False,
) -> dict[str, Any]:
    """For each weight, the interval of values (moved as its slider moves it) over which the
    query's top-``k`` order stays the same, and which two products swap at each end."""
    if (q is None) == (qid is None):
        raise ServiceError(400, "give either q (a text query) or qid (a query of the loaded set)")
    w = resolve(state, weights)
    if qid is not None:
        live = state.workbench.require(state)
        if qid not in live.queries:
            raise ServiceError(404, f"no query {qid!r} in the loaded set")
        query = live.queries[qid]
    else:
        if not q.strip():
            raise ServiceError(400, "q is empty")
        query = _text_query(state, q.strip(), filters)
    cands = query.candidates
    vec = np.array([getattr(w, ch) for ch in CHANNELS])
    # A product with several photos scores its best photo under these weights; the intervals
    # hold while each keeps its best photo (``best_photo_fixed``).
    scores = np.array([cands.best_row(i, vec) for i in range(len(cands.ids))]).reshape(
        len(cands.ids), len(CHANNELS)
    )
    floor = np.array(query.floor)
    if calibrate:
        stats = state.ready_searcher().meta.calibration
        if not stats:
            raise ServiceError(400, "calibrate asked for, but the collection has no statistics")
        mean = np.array([stats[ch].mean for ch in CHANNELS])
        std = np.array([stats[ch].std for ch in CHANNELS])
        scores, floor = (scores - mean) / std, (floor - mean) / std
    k = min(k, len(cands.ids))
    if k == 0:
        return {"k": 0, "top": [], "intervals": [], "certified": True}
    fused = scores @ vec
    ranked = order(scores, vec, cands.ids)
    bound = -np.inf if np.isneginf(floor).any() else float(floor @ vec)
    intervals = weight_intervals(
        cands.ids, scores, vec, k, None if np.isneginf(floor).any() else floor
    )
    return {
        "k": k,
        "weights": w.as_dict(),
        "top": [cands.ids[i] for i in ranked[:k]],
        "intervals": [iv.model_dump() for iv in intervals],
        "candidates": len(cands.ids),
        # the candidates' top k is the collection's when no other product can reach it
        "certified": bool(fused[ranked[k - 1]] > bound + EPS),
        # products with several photos: each is scored by its best photo at these weights; an
        # interval's end may come earlier where another of its photos takes over
        "best_photo_fixed": bool(len(cands.photo_rows)),
    }
