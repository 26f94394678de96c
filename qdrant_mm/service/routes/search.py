"""``GET /search`` (text) and ``POST /search`` (JSON, a form, or a photo upload)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from qdrant_mm.service.deps import StateDep
from qdrant_mm.service.errors import ServiceError
from qdrant_mm.service.parsing import (
    MAX_QUERY_CHARS,
    SearchArgs,
    filter_conditions,
    profile_name,
    search_from_body,
    weights_input,
)
from qdrant_mm.service.schemas import (
    ChannelScores,
    ErrorOut,
    HitOut,
    SearchRequest,
    SearchResponse,
    WeightsOut,
)
from qdrant_mm.service.state import ServiceState
from qdrant_mm.weights import CHANNELS

router = APIRouter(tags=["search"])

FORM_SCHEMA = {
    "type": "object",
    "properties": {
        "image": {"type": "string", "format": "binary", "description": "Photo to search by"},
        "query": {"type": "string"},
        "limit": {"type": "integer", "default": 10},
        "offset": {"type": "integer", "default": 0},
        "weights": {"type": "string", "example": "0.5,0.3,0.2"},
        "profile": {"type": "string"},
        "filter": {"type": "array", "items": {"type": "string"}},
        "calibrate": {"type": "boolean"},
    },
}


def run_search(state: ServiceState, args: SearchArgs) -> SearchResponse:
    """Check the arguments, then search (blocking: call it from the thread pool)."""
    t0 = time.perf_counter()
    if args.query is not None and len(args.query) > MAX_QUERY_CHARS:
        raise ServiceError(400, f"query is longer than {MAX_QUERY_CHARS} characters")
    weights = weights_input(args.weights)
    profile = profile_name(args.profile) if args.profile else None
    searcher = state.ready_searcher()
    result = searcher.search(
        args.query,
        image=args.image,
        weights=weights,
        profile=profile,
        limit=args.limit,
        offset=args.offset,
        filter=args.filter,
        calibrate=args.calibrate,
    )
    hits = [
        HitOut(
            id=h.id,
            score=h.score,
            scores=ChannelScores(**{ch: h.scores.get(ch) for ch in CHANNELS}),
            payload=h.payload,
            image_url=state.hit_image_url(h),
            matched_image=h.matched_image,
            text_only=h.text_only,
        )
        for h in result.hits
    ]
    why = None
    if not hits and not isinstance(args.filter, Mapping):  # short-form conditions, or none
        from qdrant_mm.no_hits import explain_no_hits

        why = explain_no_hits(searcher.backend, searcher.collection, args.filter, args.offset)
    return SearchResponse(
        hits=hits,
        why=why,
        weights=WeightsOut(**result.weights.as_dict()),
        profile=result.profile,
        calibrated=result.calibrated,
        calibration={ch: st.model_dump() for ch, st in result.calibration.items()}
        if result.calibration
        else None,
        limit=args.limit,
        offset=args.offset,
        took_ms=round((time.perf_counter() - t0) * 1000, 3),
    )


@router.get("/search", response_model=SearchResponse)
def search_get(
    state: StateDep,
    q: Annotated[str, Query(description="Text query")],
    limit: Annotated[int, Query(description="Results per page (1-1000)")] = 10,
    offset: Annotated[int, Query(description="Results to skip")] = 0,
    weights: Annotated[
        str | None,
        Query(description="α,β,γ for blip,clip,interrogator: 0.5,0.3,0.2 or blip=1,clip=1"),
    ] = None,
    profile: Annotated[str | None, Query(description="Stored weight profile")] = None,
    filters: Annotated[
        list[str] | None,
        Query(alias="filter", description="category:shoes, brand=acme|zen, price<=50 (repeatable)"),
    ] = None,
    calibrate: Annotated[
        bool | None, Query(description="z-score calibrated channel scores")
    ] = None,
) -> SearchResponse:
    """Search by text."""
    args = SearchArgs(
        query=q,
        limit=limit,
        offset=offset,
        weights=weights,
        profile=profile,
        filter=filter_conditions(filters),
        calibrate=calibrate,
    )
    return run_search(state, args)


@router.post(
    "/search",
    response_model=SearchResponse,
    responses={413: {"model": ErrorOut}, 415: {"model": ErrorOut}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": SearchRequest.model_json_schema()},
                "multipart/form-data": {"schema": FORM_SCHEMA},
            },
        }
    },
)
async def search_post(request: Request, state: StateDep) -> SearchResponse:
    """Search by text (JSON body or form) or by photo (multipart form with an ``image`` file).

    The service never fetches a URL: upload the photo itself."""
    args = await search_from_body(request, state.mm.settings.image_max_bytes)
    return await run_in_threadpool(run_search, state, args)
