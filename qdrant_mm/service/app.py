"""The app factory of the qdrant-mm HTTP service (FastAPI).

``create_app(mm, collection)`` builds the app around a :class:`~qdrant_mm.app.QdrantMM`, so tests
inject tiny models and an in-memory or Edge backend; ``qdrant-mm serve`` builds it from
settings. The parts: :mod:`.state` (what requests share: models, backend, searcher),
:mod:`.deps` (route dependencies), :mod:`.routes` (one module per group, joined in :mod:`.api`),
:mod:`.parsing` (request bodies and forms), :mod:`.errors` (error type → status),
:mod:`.schemas` (JSON shapes), :mod:`.workbench` (the labelled query set of the live metrics).

Start-up loads the models; Qdrant may be unreachable then: the service starts anyway, answers
``/healthz``, and ``/readyz`` says why it is not ready until Qdrant is back.

Concurrency: blocking work (encoding a query, decoding an upload, talking to Qdrant) runs in
Starlette's thread pool. The models are loaded once, at start-up, and shared; query encoding is
serialised by the lock of :class:`~qdrant_mm.encoders.bundle.ModelBundle` (torch runs its own
intra-op threads, and Hugging Face fast tokenizers are not safe to call from several threads at
once: "Already borrowed"). Only the encoding holds the lock: the search in Qdrant, profile reads
and result building of concurrent requests overlap. The backends are thread-safe.

Security: the service never fetches a URL it is given and never reads a path it is given except
under ``QDRANT_MM_IMAGE_ROOT`` or, without it, the catalog folders sync recorded
(``/images``, checked after resolving symlinks). Changing profiles
needs ``X-API-Key`` equal to ``QDRANT_MM_API_KEY`` (compared in constant time); with no key
configured, profile changes are refused. Uploads are capped in bytes (Content-Length and the
bytes actually read) and in pixels (checked from the image header before decoding); JSON bodies
in bytes and nesting depth. No answer names a server file path.
"""

from __future__ import annotations

import threading
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool

from qdrant_mm.app import QdrantMM
from qdrant_mm.evaluation.live import DEFAULT_DEPTH
from qdrant_mm.evaluation.qrels import Qrels
from qdrant_mm.service.api import api_router
from qdrant_mm.service.errors import ServiceError, install_error_handlers
from qdrant_mm.service.routes.page import STATIC_DIR
from qdrant_mm.service.schemas import ErrorOut, ProfileBody, SearchRequest, SearchResponse
from qdrant_mm.service.state import ServiceState
from qdrant_mm.service.workbench import Workbench


def create_app(
    mm: QdrantMM,
    collection: str | None = None,
    *,
    qrels: Qrels | None = None,
    qrels_depth: int = DEFAULT_DEPTH,
) -> FastAPI:
    """The service around ``mm``; searches ``collection`` (default: the settings' collection).
    ``qrels``: a labelled query set for the page's live metrics, loaded (queries embedded,
    ``qrels_depth`` candidates per channel fetched) once the storage is ready.

    The lifespan loads the models (where no lifespan runs, the first request does) and starts
    a check of the storage that does not delay the start; the backend is opened by that check
    or on first use, and tried again while it cannot be. The caller owns ``mm`` and closes it.
    """
    state = ServiceState(mm, collection or mm.settings.collection, Workbench(qrels, qrels_depth))

    def check_and_load() -> None:
        if state.check_storage():
            state.workbench.load_pending(state)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await run_in_threadpool(state.models)  # fatal if the models cannot be loaded
        # Qdrant may not answer for a while (or at all): check it without delaying the start
        check = threading.Thread(target=check_and_load, name="qdrant-mm storage check")
        check.start()
        yield
        await run_in_threadpool(check.join)

    # FastAPIOffline: FastAPI whose /docs and /redoc load Swagger UI and ReDoc from files the
    # fastapi-offline package ships (served under /static-offline-docs), not from a CDN.
    app = FastAPIOffline(
        title="qdrant-mm",
        summary="Multimodal product search: α·BLIP + β·CLIP + γ·CLIP-Interrogator, per query",
        version="0.1.0",
        lifespan=lifespan,
        responses={400: {"model": ErrorOut}},
        swagger_ui_parameters={"validatorUrl": None},  # no badge from validator.swagger.io
    )
    app.state.qdrant_mm = state
    install_error_handlers(app)

    @app.middleware("http")
    async def _headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    app.include_router(api_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


__all__ = ["create_app", "SearchResponse", "SearchRequest", "ProfileBody", "ServiceError"]
