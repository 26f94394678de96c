"""How errors become HTTP answers: one table from the project's error types to statuses, and
the handlers that answer every error as ``{"error": message}``.

The status of a project error is chosen by its type alone (:data:`STATUS_BY_TYPE`, first match
wins), never by its message text. Messages are passed on with every server file path taken out
(:class:`PathScrubber`): a client learns which setting or document is wrong, not where the
server keeps its files. Any other exception is a 500 naming only its type; the details go to
the log.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from qdrant_mm.errors import (
    BackendError,
    BackendRequestError,
    BackendTransientError,
    BackendUnavailableError,
    CollectionNotFoundError,
    ConfigError,
    ImageLoadError,
    ImageTooLargeError,
    ModelLoadError,
    QdrantMMError,
    QueryError,
    SchemaMismatchError,
    StoredStateError,
    StoreLockedError,
    UnsupportedImageError,
    WeightsError,
)
from qdrant_mm.settings import ENV_PREFIX, Settings

log = logging.getLogger("qdrant_mm.service")

#: The status of each project error type; the first row the error is an instance of wins, so a
#: subclass comes before its base class (``tests/test_service.py`` checks that no row is hidden).
STATUS_BY_TYPE: tuple[tuple[type[QdrantMMError], int], ...] = (
    (ImageTooLargeError, 413),
    (UnsupportedImageError, 415),
    (ImageLoadError, 400),
    (CollectionNotFoundError, 503),  # nothing synced yet: not ready
    (QueryError, 400),
    (WeightsError, 400),
    (SchemaMismatchError, 409),
    (StoredStateError, 503),
    (BackendTransientError, 503),  # StorageUnreachableError too
    (StoreLockedError, 503),
    (BackendRequestError, 400),
    (BackendUnavailableError, 500),  # the installation lacks the backend: a server problem
    (BackendError, 502),
    (ConfigError, 500),
    (ModelLoadError, 500),
)
#: Status of a project error no row names (e.g. CatalogError, which the service never raises).
DEFAULT_STATUS = 500


def status_of(exc: QdrantMMError) -> int:
    for kind, status in STATUS_BY_TYPE:
        if isinstance(exc, kind):
            return status
    return DEFAULT_STATUS


class ServiceError(Exception):
    """An error of the service itself, answered as ``{"error": message, **extra}``."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


# An absolute POSIX path of two or more parts ("/srv/qdrant/edge", "/home/x/models/blip") that
# does not continue a word, a URL ("http://host/a/b") or a path already rewritten ("$X/a").
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~$:/-])/[^\s/'\"<>,;()]+(?:/[^\s/'\"<>,;()]*)+")


class PathScrubber:
    """Takes server file paths out of messages: the storage and image folders become the name
    of their setting (``$QDRANT_MM_QDRANT_PATH/edge/...``), any other absolute path
    ``<server path>``."""

    def __init__(self, folders: dict[str, Path | None]) -> None:
        names: dict[str, str] = {}
        for setting, folder in folders.items():
            if folder is None:
                continue
            for form in (Path(folder).expanduser(), Path(folder).expanduser().resolve()):
                text = str(form)
                if text not in (".", "/", "") and text not in names:
                    names[text] = f"${setting}"
        # longest first, so a folder inside another is named by its own setting
        self._folders = sorted(names.items(), key=lambda kv: len(kv[0]), reverse=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> PathScrubber:
        return cls(
            {
                f"{ENV_PREFIX}QDRANT_PATH": settings.qdrant_path,
                f"{ENV_PREFIX}IMAGE_ROOT": settings.image_root,
            }
        )

    def __call__(self, message: str) -> str:
        for text, name in self._folders:
            message = re.sub(re.escape(text) + r"(?=[/\s'\",;:)\]]|$)", name, message)
        return _ABSOLUTE_PATH.sub("<server path>", message)


def error_response(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def public_message(request: Request, exc: BaseException) -> str:
    """The message of ``exc`` as a client may see it (no server paths)."""
    scrub: PathScrubber = request.app.state.qdrant_mm.scrub
    return scrub(str(exc))


async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
    return error_response(exc.status, exc.message, **exc.extra)


async def _project_error(request: Request, exc: QdrantMMError) -> JSONResponse:
    status = status_of(exc)
    message = public_message(request, exc)
    if status == 503:  # not ready (Qdrant down, nothing synced): expected, and /readyz says so
        log.warning("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    elif status >= 500:
        log.error("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    return error_response(status, message)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return error_response(400, "invalid request: " + "; ".join(parts))


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = f"no such endpoint: {request.method} {request.url.path}"
    return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    """The last resort: a bug. The client sees the type only; the traceback goes to the log."""
    log.exception("%s %s failed", request.method, request.url.path)
    return error_response(500, f"internal error: {type(exc).__name__}")


def install_error_handlers(app: FastAPI) -> None:
    """Every error of ``app`` answers ``{"error": "..."}`` with the status of its type."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(QdrantMMError, _project_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


__all__ = [
    "STATUS_BY_TYPE",
    "PathScrubber",
    "ServiceError",
    "error_response",
    "install_error_handlers",
    "public_message",
    "status_of",
]
