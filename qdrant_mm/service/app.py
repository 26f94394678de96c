"""The qdrant-mm HTTP service (FastAPI).

``create_app(mm, collection)`` builds the app around a :class:`~qdrant_mm.app.QdrantMM`, so tests
inject tiny models and an in-memory or Edge backend. ``qdrant-mm serve`` builds it from settings.

Concurrency: blocking work (encoding a query, decoding an upload, talking to Qdrant) runs in
Starlette's thread pool. The models are loaded once, at start-up, and shared; query encoding is
serialised by the lock of :class:`~qdrant_mm.encoders.bundle.ModelBundle` (torch runs its own
intra-op threads, and Hugging Face fast tokenizers are not safe to call from several threads at
once: "Already borrowed"). Only the encoding holds the lock: the search
in Qdrant, profile reads and result building of concurrent requests overlap. The backends are
thread-safe (Edge guards its shards with locks; qdrant-client's HTTP client is shared).

Security: the service never fetches a URL it is given and never reads a path it is given except
under ``QDRANT_MM_IMAGE_ROOT`` (``/images``, checked after resolving symlinks). Changing profiles
needs ``X-API-Key`` equal to ``QDRANT_MM_API_KEY`` (compared in constant time); with no key
configured, profile changes are refused. Uploads are capped in bytes (Content-Length and the
bytes actually read) and in pixels (checked from the image header before decoding).
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path, PurePosixPath
from typing import Annotated, Any
from urllib.parse import quote

import httpx
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser

from qdrant_mm.app import QdrantMM
from qdrant_mm.catalog import point_id
from qdrant_mm.collection import open_collection
from qdrant_mm.errors import (
    BackendError,
    ConfigError,
    ImageLoadError,
    ModelLoadError,
    QdrantMMError,
    QueryError,
    SchemaMismatchError,
    WeightsError,
)
from qdrant_mm.profiles import Profile
from qdrant_mm.search import INTERNAL_FIELDS, Searcher
from qdrant_mm.settings import CHANNELS
from qdrant_mm.weights import Weights

log = logging.getLogger("qdrant_mm.service")

STATIC_DIR = Path(__file__).parent / "static"
#: Bytes a multipart body may carry beyond the image itself (boundaries, the other fields).
FORM_OVERHEAD = 64 * 1024
#: Largest JSON body of ``POST /search`` (a query, weights and a filter).
MAX_JSON_BODY = 1024 * 1024
MAX_QUERY_CHARS = 2000
#: File types served under /images (no SVG or HTML: nothing that can run script).
IMAGE_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".bmp": "image/bmp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
}
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self';"
    " img-src 'self' data: blob: https: http:; object-src 'none'; base-uri 'none';"
    " form-action 'self'; frame-ancestors 'none'"
)
API_KEY_HEADER = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="QDRANT_MM_API_KEY of the service"
)
NO_KEY_MESSAGE = (
    "profile changes are disabled: no API key is configured; set QDRANT_MM_API_KEY on the"
    " service and send it in the X-API-Key header"
)


# --- errors ---------------------------------------------------------------------------------------
class ServiceError(Exception):
    """An error answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def _status_of(exc: QdrantMMError) -> int:
    if isinstance(exc, ImageLoadError):
        msg = str(exc)
        if "not an image" in msg or "unsupported image format" in msg:
            return 415
        if "pixel limit" in msg or "decompression bomb" in msg or "over the" in msg:
            return 413
        return 400
    if isinstance(exc, SchemaMismatchError):
        return 409
    if isinstance(exc, BackendError):
        return 503
    if isinstance(exc, ModelLoadError):
        return 500
    if isinstance(exc, (QueryError, WeightsError, ConfigError)):
        return 400
    return 400


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


# --- response and request models ------------------------------------------------------------------
class ErrorOut(BaseModel):
    error: str


class ChannelScores(BaseModel):
    """Cosine of each channel; null for a channel with weight 0 (not computed)."""

    blip: float | None
    clip: float | None
    interrogator: float | None


class WeightsOut(BaseModel):
    blip: float
    clip: float
    interrogator: float


class HitOut(BaseModel):
    id: str = Field(description="Product id")
    score: float = Field(description="Fused score α·s_blip + β·s_clip + γ·s_interrogator")
    scores: ChannelScores
    payload: dict[str, Any]
    image_url: str | None = Field(
        None, description="Where a browser can load the product image (/images/... or its URL)"
    )


class SearchResponse(BaseModel):
    hits: list[HitOut]
    weights: WeightsOut
    profile: str | None = Field(None, description="Profile the weights came from, if any")
    calibrated: bool
    limit: int
    offset: int
    took_ms: float


class SearchRequest(BaseModel):
    """JSON body of ``POST /search`` (multipart forms take the same fields plus ``image``)."""

    model_config = ConfigDict(extra="forbid")

    query: str | None = None
    limit: int = 10
    offset: int = 0
    weights: dict[str, float] | str | list[float] | None = Field(
        None, description='{"blip": .5, "clip": .3, "interrogator": .2} or "0.5,0.3,0.2"'
    )
    profile: str | None = None
    filter: str | list[str] | dict[str, Any] | None = Field(
        None,
        description='"category=shoes,price<=50", a list of conditions, or a Qdrant filter object',
    )
    calibrate: bool | None = None


class ProfileBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    blip: float = 0.0
    clip: float = 0.0
    interrogator: float = 0.0
    calibrate: bool = False


class ProfileOut(BaseModel):
    name: str
    blip: float
    clip: float
    interrogator: float
    calibrate: bool
    updated_at: str


class ProductOut(BaseModel):
    id: str
    payload: dict[str, Any]
    image_url: str | None = None


class InfoOut(BaseModel):
    collection: str
    backend: str
    channels: list[str]
    default_weights: WeightsOut
    default_profile: str | None
    profile_writes_enabled: bool
    image_max_bytes: int


def _profile_out(p: Profile) -> ProfileOut:
    return ProfileOut(
        name=p.name, **p.weights.as_dict(), calibrate=p.calibrate, updated_at=p.updated_at
    )


class ServiceState:
    """What the requests share: the facade and one searcher."""

    def __init__(self, mm: QdrantMM, collection: str) -> None:
        self.mm = mm
        self.collection = collection
        self._start_lock = threading.Lock()
        self._searcher: Searcher | None = None
        self.load_seconds: float | None = None
        root = mm.settings.image_root
        self.image_root: Path | None = Path(root).expanduser().resolve() if root else None

    @property
    def started(self) -> bool:
        return self._searcher is not None

    def start(self) -> Searcher:
        """Load the models and open the backend (once)."""
        with self._start_lock:
            if self._searcher is None:
                t0 = time.perf_counter()
                self.mm.models  # noqa: B018 - load the models now, not on the first query
                backend = self.mm.backend
                searcher = self.mm.searcher(self.collection)
                self.load_seconds = time.perf_counter() - t0
                log.info(
                    "models loaded in %.1fs; collection %r on the %s backend",
                    self.load_seconds,
                    self.collection,
                    backend.name,
                )
                try:
                    searcher.meta  # noqa: B018 - check the collection now, and log why not
                except QdrantMMError as exc:
                    log.warning("not ready yet: %s", exc)
                except Exception as exc:  # noqa: BLE001 - Qdrant unreachable: /readyz says so
                    log.warning("not ready yet: cannot reach Qdrant: %s", exc)
                self._searcher = searcher
            return self._searcher

    @property
    def searcher(self) -> Searcher:
        return self._searcher or self.start()

    def ready_searcher(self) -> Searcher:
        """The searcher, after checking the collection exists and matches the models."""
        searcher = self.searcher
        try:
            searcher.meta  # noqa: B018
        except SchemaMismatchError:
            raise
        except QueryError as exc:  # the collection does not exist (yet)
            raise ServiceError(503, str(exc)) from None
        except QdrantMMError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise ServiceError(503, f"cannot reach Qdrant: {exc}") from None
        return searcher

    def image_url(self, ref: Any) -> str | None:
        """URL of a product image for a browser: an http(s) URL as is (the browser loads it,
        never the service), a file under the image root as ``/images/<relative path>``."""
        if not isinstance(ref, str) or not ref.strip():
            return None
        ref = ref.strip()
        if ref.startswith(("http://", "https://")):
            return ref
        if self.image_root is None:
            return None
        p = Path(ref)
        if p.is_absolute():
            try:
                rel = p.resolve().relative_to(self.image_root)
            except (ValueError, OSError):
                return None
            parts = rel.parts
        else:
            parts = PurePosixPath(ref.replace("\\", "/")).parts
            if ".." in parts:
                return None
        if not parts:
            return None
        return "/images/" + "/".join(quote(part) for part in parts)


# --- request helpers ------------------------------------------------------------------------------
def _filter_conditions(values: Iterable[str] | None) -> list[str] | None:
    """Repeated ``filter`` parameters, each possibly ``a=1,b=2``, as one list of conditions."""
    out = [c.strip() for v in values or () for c in re.split(r"[,;]", v) if c.strip()]
    return out or None


def _weights_input(raw: Any) -> Weights | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, str) and raw.strip().startswith("{"):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise WeightsError(f"cannot read weights {raw!r}: {exc.msg}") from None
        if not isinstance(raw, dict):
            raise WeightsError("weights must be an object of blip, clip, interrogator")
    return Weights.parse(raw)


def _parse_bool(name: str, raw: str | None) -> bool | None:
    if raw is None or raw == "":
        return None
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ServiceError(400, f"{name} must be true or false, got {raw!r}")


def _parse_int(name: str, raw: str | None, default: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ServiceError(400, f"{name} must be an integer, got {raw!r}") from None


async def _read_body(request: Request, cap: int, what: str) -> bytes:
    """The request body, refusing (413) one that declares or sends more than ``cap`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ServiceError(400, f"invalid Content-Length {declared!r}")
        if int(declared) > cap:
            raise ServiceError(
                413, f"{what} is {int(declared)} bytes, over the limit of {cap} bytes"
            )
    buf = bytearray()
    async for chunk in request.stream():
        buf.extend(chunk)
        if len(buf) > cap:
            raise ServiceError(413, f"{what} is over the limit of {cap} bytes")
    return bytes(buf)


async def _parse_form(request: Request, body: bytes, content_type: str) -> FormData:
    async def once() -> AsyncIterator[bytes]:
        yield body

    try:
        if content_type.startswith("multipart/form-data"):
            return await MultiPartParser(
                request.headers, once(), max_files=1, max_fields=32
            ).parse()
        return await FormParser(request.headers, once()).parse()
    except MultiPartException as exc:
        raise ServiceError(400, f"cannot read the form: {exc.message}") from None


FORM_FIELDS = frozenset(
    {"query", "limit", "offset", "weights", "profile", "filter", "calibrate", "image"}
)


def _require_key(settings_key: str | None, given: str | None) -> None:
    if not settings_key:
        raise ServiceError(403, NO_KEY_MESSAGE)
    if not given:
        raise ServiceError(401, "this needs the API key in the X-API-Key header")
    if not hmac.compare_digest(given.encode("utf-8"), settings_key.encode("utf-8")):
        raise ServiceError(401, "wrong API key (X-API-Key)")


# --- the app --------------------------------------------------------------------------------------
def create_app(mm: QdrantMM, collection: str | None = None) -> FastAPI:
    """The service around ``mm``; searches ``collection`` (default: the settings' collection).

    Models and backend load in the lifespan (start-up), or on first use where no lifespan runs.
    The caller owns ``mm`` and closes it.
    """
    state = ServiceState(mm, collection or mm.settings.collection)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await run_in_threadpool(state.start)
        yield

    app = FastAPI(
        title="qdrant-mm",
        summary="Multimodal product search: α·BLIP + β·CLIP + γ·CLIP-Interrogator, per query",
        version="0.1.0",
        lifespan=lifespan,
        responses={400: {"model": ErrorOut}},
    )
    app.state.qdrant_mm = state

    # --- error handlers: every error is {"error": "..."} ----------------------------------------
    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return _error(exc.status, exc.message, **exc.extra)

    @app.exception_handler(QdrantMMError)
    async def _qdrant_mm_error(request: Request, exc: QdrantMMError) -> JSONResponse:
        status = _status_of(exc)
        if status >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc)
        return _error(status, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
            parts.append(f"{loc}: {err.get('msg', 'invalid')}")
        return _error(400, "invalid request: " + "; ".join(parts))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path}"
        return JSONResponse(
            {"error": message}, status_code=exc.status_code, headers=exc.headers or None
        )

    @app.exception_handler(ResponseHandlingException)
    @app.exception_handler(httpx.TransportError)
    async def _qdrant_down(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s: Qdrant unreachable: %s", request.method, request.url.path, exc)
        return _error(503, f"cannot reach Qdrant: {exc}")

    @app.exception_handler(UnexpectedResponse)
    async def _qdrant_refused(request: Request, exc: UnexpectedResponse) -> JSONResponse:
        detail = exc.content.decode("utf-8", "replace")[:500]
        status = exc.status_code or 502
        if 400 <= status < 500:
            return _error(400, f"Qdrant refused the request (HTTP {status}): {detail}")
        log.error(
            "%s %s: Qdrant answered HTTP %s: %s", request.method, request.url.path, status, detail
        )
        return _error(502, f"Qdrant answered HTTP {status}: {detail}")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return _error(500, f"internal error: {type(exc).__name__}")

    @app.middleware("http")
    async def _headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    # --- search -----------------------------------------------------------------------------------
    def run_search(
        *,
        query: str | None,
        image: bytes | None,
        limit: int,
        offset: int,
        weights: Any,
        profile: str | None,
        filter: Any,
        calibrate: bool | None,
    ) -> SearchResponse:
        t0 = time.perf_counter()
        if query is not None and len(query) > MAX_QUERY_CHARS:
            raise ServiceError(400, f"query is longer than {MAX_QUERY_CHARS} characters")
        w = _weights_input(weights)
        if w is not None and profile:
            raise ServiceError(400, "give weights or profile, not both")
        searcher = state.ready_searcher()
        result = searcher.search(
            query,
            image=image,
            weights=w,
            profile=profile or None,
            limit=limit,
            offset=offset,
            filter=filter,
            calibrate=calibrate,
        )
        hits = [
            HitOut(
                id=h.id,
                score=h.score,
                scores=ChannelScores(**{ch: h.scores.get(ch) for ch in CHANNELS}),
                payload=h.payload,
                image_url=state.image_url(h.payload.get("image")),
            )
            for h in result.hits
        ]
        return SearchResponse(
            hits=hits,
            weights=WeightsOut(**result.weights.as_dict()),
            profile=result.profile,
            calibrated=result.calibrated,
            limit=limit,
            offset=offset,
            took_ms=round((time.perf_counter() - t0) * 1000, 3),
        )

    @app.get("/search", response_model=SearchResponse, tags=["search"])
    def search_get(
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
            Query(
                alias="filter",
                description="category:shoes, brand=acme|zen, price<=50 (repeatable)",
            ),
        ] = None,
        calibrate: Annotated[
            bool | None, Query(description="z-score calibrated channel scores")
        ] = None,
    ) -> SearchResponse:
        """Search by text."""
        return run_search(
            query=q,
            image=None,
            limit=limit,
            offset=offset,
            weights=weights,
            profile=profile,
            filter=_filter_conditions(filters),
            calibrate=calibrate,
        )

    form_schema = {
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

    @app.post(
        "/search",
        response_model=SearchResponse,
        tags=["search"],
        responses={413: {"model": ErrorOut}, 415: {"model": ErrorOut}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": SearchRequest.model_json_schema()},
                    "multipart/form-data": {"schema": form_schema},
                },
            }
        },
    )
    async def search_post(request: Request) -> SearchResponse:
        """Search by text (JSON body or form) or by photo (multipart form with an ``image`` file).

        The service never fetches a URL: upload the photo itself."""
        content_type = request.headers.get("content-type", "").lower()
        if content_type.startswith("application/json"):
            body = await _read_body(request, MAX_JSON_BODY, "the JSON body")
            try:
                data = json.loads(body or b"null")
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ServiceError(400, f"the body is not valid JSON: {exc}") from None
            if not isinstance(data, dict):
                raise ServiceError(400, "the JSON body must be an object")
            if "image" in data:
                raise ServiceError(
                    400,
                    "search by photo takes the image file as multipart/form-data (field"
                    " 'image'); the service does not fetch image URLs or paths",
                )
            try:
                req = SearchRequest.model_validate(data)
            except ValidationError as exc:
                parts = [
                    f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
                    for e in exc.errors()
                ]
                raise ServiceError(400, "invalid request: " + "; ".join(parts)) from None
            return await run_in_threadpool(
                lambda: run_search(
                    query=req.query,
                    image=None,
                    limit=req.limit,
                    offset=req.offset,
                    weights=req.weights,
                    profile=req.profile,
                    filter=_filter_conditions([req.filter])
                    if isinstance(req.filter, str)
                    else req.filter,
                    calibrate=req.calibrate,
                )
            )
        if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
            max_bytes = mm.settings.image_max_bytes
            body = await _read_body(request, max_bytes + FORM_OVERHEAD, "the upload")
            form = await _parse_form(request, body, content_type)
            try:
                unknown = sorted(set(form.keys()) - FORM_FIELDS)
                if unknown:
                    raise ServiceError(
                        400,
                        f"unknown form field(s) {', '.join(unknown)};"
                        f" fields are {', '.join(sorted(FORM_FIELDS))}",
                    )
                image: bytes | None = None
                upload = form.get("image")
                if isinstance(upload, UploadFile):
                    image = await upload.read(max_bytes + 1)
                    if len(image) > max_bytes:
                        raise ServiceError(
                            413,
                            f"the image is over the limit of {max_bytes} bytes"
                            " (QDRANT_MM_IMAGE_MAX_BYTES)",
                        )
                    if not image and not upload.filename:
                        image = None  # an empty file input
                    elif not image:
                        raise ServiceError(400, "the uploaded image is empty (0 bytes)")
                elif isinstance(upload, str) and upload.strip():
                    raise ServiceError(
                        400,
                        "'image' must be an uploaded file; the service does not fetch image"
                        " URLs or paths",
                    )

                def field(name: str) -> str | None:
                    v = form.get(name)
                    return v if isinstance(v, str) else None

                query = field("query")
                kwargs = dict(
                    query=query if (query and query.strip()) or image is None else None,
                    image=image,
                    limit=_parse_int("limit", field("limit"), 10),
                    offset=_parse_int("offset", field("offset"), 0),
                    weights=field("weights"),
                    profile=field("profile") or None,
                    filter=_filter_conditions(
                        v for v in form.getlist("filter") if isinstance(v, str)
                    ),
                    calibrate=_parse_bool("calibrate", field("calibrate")),
                )
            finally:
                await form.close()
            return await run_in_threadpool(lambda: run_search(**kwargs))
        raise ServiceError(
            415,
            "send application/json, or multipart/form-data (with an 'image' file to search by"
            f" photo); got {content_type or 'no Content-Type'}",
        )

    # --- products & images ------------------------------------------------------------------------
    @app.get(
        "/products/{product_id}",
        response_model=ProductOut,
        tags=["products"],
        responses={404: {"model": ErrorOut}},
    )
    def get_product(product_id: str) -> ProductOut:
        """A product's stored payload, by its catalog id."""
        state.ready_searcher()
        found = mm.backend.retrieve(state.collection, [point_id(product_id)])
        if not found:
            raise ServiceError(404, f"no product {product_id!r} in collection {state.collection!r}")
        payload = {k: v for k, v in found[0].payload.items() if k not in INTERNAL_FIELDS}
        return ProductOut(
            id=str(payload.get("product_id", product_id)),
            payload=payload,
            image_url=state.image_url(payload.get("image")),
        )

    @app.get(
        "/images/{path:path}",
        tags=["products"],
        response_class=FileResponse,
        responses={404: {"model": ErrorOut}, 400: {"model": ErrorOut}},
    )
    def get_image(path: str) -> FileResponse:
        """A product image from the image folder (``QDRANT_MM_IMAGE_ROOT``)."""
        root = state.image_root
        if root is None:
            raise ServiceError(404, "no image folder configured: set QDRANT_MM_IMAGE_ROOT")
        if not path or "\x00" in path or "\\" in path:
            raise ServiceError(400, f"invalid image path {path!r}")
        rel = PurePosixPath(path)
        if rel.is_absolute() or ".." in rel.parts or path.startswith("~"):
            raise ServiceError(
                400, f"invalid image path {path!r}: give a path relative to the image folder"
            )
        try:
            target = (root / rel).resolve(strict=True)
        except (FileNotFoundError, NotADirectoryError):
            raise ServiceError(404, f"no image {path!r}") from None
        except (OSError, RuntimeError):  # symlink loop, permission
            raise ServiceError(404, f"cannot read image {path!r}") from None
        if not target.is_relative_to(root):
            raise ServiceError(
                403, f"refused image path {path!r}: it leads outside the image folder"
            )
        if not target.is_file():
            raise ServiceError(404, f"no image {path!r}")
        media_type = IMAGE_TYPES.get(target.suffix.lower())
        if media_type is None:
            raise ServiceError(
                404,
                f"refused {path!r}: only image files are served ({', '.join(sorted(IMAGE_TYPES))})",
            )
        return FileResponse(
            target, media_type=media_type, headers={"Cache-Control": "public, max-age=3600"}
        )

    # --- weight profiles --------------------------------------------------------------------------
    @app.get("/weights", response_model=list[ProfileOut], tags=["weights"])
    def list_profiles() -> list[ProfileOut]:
        """Every weight profile of the collection."""
        return [_profile_out(p) for p in mm.profiles(state.collection).list()]

    @app.get(
        "/weights/{profile}",
        response_model=ProfileOut,
        tags=["weights"],
        responses={404: {"model": ErrorOut}},
    )
    def get_profile(profile: str) -> ProfileOut:
        found = mm.profiles(state.collection).get(profile)
        if found is None:
            raise ServiceError(404, f"no weight profile {profile!r}")
        return _profile_out(found)

    def check_key(key: Annotated[str | None, Depends(API_KEY_HEADER)] = None) -> None:
        _require_key(mm.settings.api_key, key)

    write_errors = {401: {"model": ErrorOut}, 403: {"model": ErrorOut}}

    @app.put(
        "/weights/{profile}",
        response_model=ProfileOut,
        tags=["weights"],
        dependencies=[Depends(check_key)],
        responses=write_errors,
    )
    def put_profile(profile: str, body: ProfileBody) -> ProfileOut:
        """Create or change a profile (needs X-API-Key). Weights are normalised to sum to 1;
        every service using the collection applies the change on its next query."""
        w = Weights.from_mapping({ch: getattr(body, ch) for ch in CHANNELS})
        if body.calibrate and not state.ready_searcher().meta.calibration:
            raise ServiceError(
                400,
                "calibrate asked for, but the collection has no score statistics yet: they are"
                " computed by a `qdrant-mm sync` that adds or changes products",
            )
        return _profile_out(mm.profiles(state.collection).set(profile, w, body.calibrate))

    @app.delete(
        "/weights/{profile}",
        tags=["weights"],
        dependencies=[Depends(check_key)],
        responses={**write_errors, 404: {"model": ErrorOut}},
    )
    def delete_profile(profile: str) -> dict[str, str]:
        """Delete a profile (needs X-API-Key)."""
        if not mm.profiles(state.collection).delete(profile):
            raise ServiceError(404, f"no weight profile {profile!r}")
        return {"deleted": profile}

    # --- health -----------------------------------------------------------------------------------
    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """The process is up (no checks)."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses={503: {"model": ErrorOut}})
    def readyz() -> Response:
        """Ready to search: models loaded, Qdrant reachable, the collection there and built
        with these models. 503 with the reason otherwise."""
        checks: dict[str, str] = {}
        if not state.started:
            checks["models"] = "not loaded yet"
            return _error(503, "models are not loaded yet", checks=checks)
        checks["models"] = "ok"
        models = mm.models
        try:
            mm.backend.resolve(state.collection)
        except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
            checks["qdrant"] = f"unreachable: {exc}"
            return _error(503, f"cannot reach Qdrant: {exc}", checks=checks)
        checks["qdrant"] = "ok"
        try:
            open_collection(mm.backend, state.collection, models.model_ids(), models.dims())
        except QdrantMMError as exc:
            checks["collection"] = str(exc)
            return _error(503, str(exc), checks=checks)
        checks["collection"] = "ok"
        return JSONResponse(
            {
                "status": "ready",
                "collection": state.collection,
                "backend": mm.backend.name,
                "checks": checks,
            }
        )

    @app.get("/info", response_model=InfoOut, tags=["health"])
    def info() -> InfoOut:
        """What the tuning page needs: collection, default weights, whether writes are on."""
        searcher = state.searcher
        w, name, _ = searcher.resolve_weights()
        return InfoOut(
            collection=state.collection,
            backend=mm.backend.name,
            channels=list(CHANNELS),
            default_weights=WeightsOut(**w.as_dict()),
            default_profile=name,
            profile_writes_enabled=bool(mm.settings.api_key),
            image_max_bytes=mm.settings.image_max_bytes,
        )

    # --- the tuning page --------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(
            STATIC_DIR / "index.html",
            media_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"},
        )

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


__all__ = ["create_app", "SearchResponse", "SearchRequest", "ProfileBody", "ServiceError"]
