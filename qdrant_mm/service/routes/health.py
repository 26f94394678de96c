"""Liveness (``/healthz``), readiness (``/readyz``) and ``/info`` for the tuning page.

``/healthz`` touches nothing and answers at once, even while Qdrant is down. ``/readyz`` checks,
in order, the models, Qdrant (opening the backend if it is not open yet, and resolving the
collection), then the collection's recorded models and dimensions and its default weight
profile; it answers 503 with the reason and every check's state until all pass.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from qdrant_mm.collection import open_collection
from qdrant_mm.errors import BackendTransientError, QdrantMMError
from qdrant_mm.service.deps import StateDep
from qdrant_mm.service.errors import error_response, public_message
from qdrant_mm.service.schemas import ErrorOut, InfoOut, WeightsOut
from qdrant_mm.service.state import ServiceState
from qdrant_mm.weights import CHANNELS

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up (no checks)."""
    return {"status": "ok"}


def _not_ready(state: ServiceState, message: str, checks: dict[str, str]) -> JSONResponse:
    state.note_readiness(message)
    return error_response(503, message, checks=checks)


@router.get("/readyz", responses={503: {"model": ErrorOut}})
def readyz(request: Request, state: StateDep) -> Response:
    """Ready to search: models loaded, Qdrant reachable, the collection there, built with these
    models and its stored state readable. 503 with the reason otherwise."""
    checks: dict[str, str] = {}
    if not state.started:
        checks["models"] = "not loaded yet"
        return error_response(503, "models are not loaded yet", checks=checks)
    checks["models"] = "ok"
    models = state.models()
    try:
        backend = state.backend()
        backend.resolve(state.collection)
    except QdrantMMError as exc:
        message = public_message(request, exc)
        if isinstance(exc, BackendTransientError):
            checks["qdrant"] = f"unreachable: {message}"
            return _not_ready(state, f"cannot reach Qdrant: {message}", checks)
        checks["qdrant"] = f"failed: {message}"
        return _not_ready(state, f"cannot use Qdrant: {message}", checks)
    checks["qdrant"] = "ok"
    try:
        open_collection(backend, state.collection, models.model_ids(), models.dims())
        state.searcher().resolve_weights()  # the stored default profile every search reads
    except QdrantMMError as exc:
        checks["collection"] = public_message(request, exc)
        return _not_ready(state, checks["collection"], checks)
    checks["collection"] = "ok"
    state.note_readiness(None)
    return JSONResponse(
        {
            "status": "ready",
            "collection": state.collection,
            "backend": backend.name,
            "checks": checks,
        }
    )


@router.get("/info", response_model=InfoOut)
def info(state: StateDep) -> InfoOut:
    """What the tuning page needs: collection, default weights, whether writes are on."""
    searcher = state.searcher()
    w, name, _ = searcher.resolve_weights()
    settings = state.mm.settings
    return InfoOut(
        collection=state.collection,
        backend=searcher.backend.name,
        channels=list(CHANNELS),
        default_weights=WeightsOut(**w.as_dict()),
        default_profile=name,
        profile_writes_enabled=bool(settings.api_key),
        image_max_bytes=settings.image_max_bytes,
    )
