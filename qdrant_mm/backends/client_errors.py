"""qdrant-client's exceptions translated into qdrant-mm's, in one place.

qdrant-client raises its own types (``UnexpectedResponse`` for an HTTP answer it did not expect,
``ResponseHandlingException`` wrapping whatever httpx raised), httpx's, grpc's, and in local
mode plain ``ValueError`` / ``RuntimeError``. :func:`translate_client_error` maps each to the
error contract of :mod:`qdrant_mm.backends.base`, and :func:`map_client_errors` applies it
around a block (like httpx's own ``map_httpcore_exceptions``):

========================================================  =====================================
qdrant-client / httpx / grpc                              qdrant-mm
========================================================  =====================================
connection refused, DNS failure, connect timeout          :class:`StorageUnreachableError`
read/write/pool timeout, dropped connection, 5xx, 429,    :class:`BackendTransientError`
``ResponseHandlingException`` (a transport failure),
grpc ``UNAVAILABLE`` / ``DEADLINE_EXCEEDED``
404 naming a collection or alias, local mode's            :class:`CollectionNotFoundError`
"Collection ... not found", grpc ``NOT_FOUND``
other 4xx, local mode's ``ValueError`` / ``TypeError``,   ``invalid``: :class:`QueryError` for
grpc ``INVALID_ARGUMENT`` and the like                    reads, :class:`BackendRequestError`
                                                          for writes
local mode's storage folder held by another process       :class:`StoreLockedError`
anything else                                             :class:`BackendError`
========================================================  =====================================

The original exception stays chained (``raise ... from exc``). A ``ResponseHandlingException``
whose cause is not the transport (Qdrant's answer could not be parsed: a server of another
version) is a :class:`BackendError`, not worth another try.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator

import httpx
from qdrant_client.common.client_exceptions import ResourceExhaustedResponse
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from qdrant_mm.backends.common import collection_not_found
from qdrant_mm.errors import (
    BackendError,
    BackendRequestError,
    BackendTransientError,
    CollectionNotFoundError,
    QdrantMMError,
    StorageUnreachableError,
    StoreLockedError,
)

#: Characters of Qdrant's answer kept in a message.
DETAIL_CHARS = 300

try:  # grpc comes with qdrant-client; only its gRPC mode raises grpc errors
    import grpc
except ImportError:  # pragma: no cover
    grpc = None  # type: ignore[assignment]


def translate_client_error(
    exc: BaseException,
    *,
    what: str = "request",
    collection: str | None = None,
    invalid: type[QdrantMMError] = BackendRequestError,
    backend: str = "server",
    where: str = "Qdrant",
) -> QdrantMMError:
    """The qdrant-mm error for ``exc``, raised by qdrant-client while doing ``what`` (on
    ``collection``). ``invalid`` is the type for a request Qdrant refuses as invalid;
    ``backend`` ("server" or "local") and ``where`` (the URL or folder) go into messages."""
    if isinstance(exc, QdrantMMError):
        return exc
    on = f" on {collection!r}" if collection else ""
    if isinstance(exc, ResponseHandlingException):
        source = getattr(exc, "source", None)
        if isinstance(source, Exception) and _is_transport(source):
            return translate_client_error(
                source,
                what=what,
                collection=collection,
                invalid=invalid,
                backend=backend,
                where=where,
            )
        if isinstance(source, ValueError):  # pydantic could not read Qdrant's answer
            return BackendError(
                f"cannot read Qdrant's answer to {what}{on} ({where}; a server of an unsupported "
                f"version?): {_short(str(source))}"
            )
        return BackendTransientError(f"Qdrant {what}{on} failed ({where}): {_describe(source)}")
    if isinstance(exc, UnexpectedResponse):
        return _from_status(exc.status_code, _detail(exc), what, collection, invalid, backend)
    if isinstance(exc, ResourceExhaustedResponse):
        return BackendTransientError(f"Qdrant is rate-limiting {what}{on}: {exc}")
    if _is_unreachable(exc):
        return StorageUnreachableError(
            f"cannot reach Qdrant at {where} (QDRANT_MM_QDRANT_URL): {_describe(exc)}"
        )
    if _is_transport(exc):
        return BackendTransientError(f"Qdrant {what}{on} failed ({where}): {_describe(exc)}")
    if grpc is not None and isinstance(exc, grpc.RpcError):
        return _from_grpc(exc, what, collection, invalid, backend)
    msg = str(exc)
    if isinstance(exc, ValueError) and "not found" in msg and msg.startswith("Collection "):
        # local mode: "Collection <name> not found"
        return collection_not_found(collection or msg.split(" ")[1], backend)
    if isinstance(exc, RuntimeError) and "already accessed by another instance" in msg:
        return StoreLockedError(
            f"the embedded store at {where} is in use by another process (a running "
            "`qdrant-mm serve`?): stop it, or use a Qdrant server (QDRANT_MM_QDRANT_URL)"
        )
    if isinstance(exc, (ValueError, TypeError)):  # local mode and client-side validation
        return invalid(f"Qdrant refused {what}{on}: {_short(msg)}")
    return BackendError(f"Qdrant {what}{on} failed ({where}): {_describe(exc)}")


@contextlib.contextmanager
def map_client_errors(
    *,
    what: str = "request",
    collection: str | None = None,
    invalid: type[QdrantMMError] = BackendRequestError,
    backend: str = "server",
    where: str = "Qdrant",
) -> Iterator[None]:
    """Raise :func:`translate_client_error` of any exception the block raises (qdrant-mm's
    own errors pass unchanged)."""
    try:
        yield
    except QdrantMMError:
        raise
    except Exception as exc:
        raise translate_client_error(
            exc, what=what, collection=collection, invalid=invalid, backend=backend, where=where
        ) from exc


# --- helpers ---------------------------------------------------------------------------------
def _from_status(
    status: int | None,
    detail: str,
    what: str,
    collection: str | None,
    invalid: type[QdrantMMError],
    backend: str,
) -> QdrantMMError:
    on = f" on {collection!r}" if collection else ""
    if status == 404:
        lowered = detail.lower()
        if "collection" in lowered or "alias" in lowered:
            return _not_found(collection, backend, detail)
        return BackendRequestError(f"Qdrant answered 404 to {what}{on}: {detail}")
    if status is None or status >= 500 or status == 429:
        return BackendTransientError(f"Qdrant answered HTTP {status} to {what}{on}: {detail}")
    if 400 <= status < 500:
        return invalid(f"Qdrant refused {what}{on} (HTTP {status}): {detail}")
    return BackendError(f"Qdrant answered HTTP {status} to {what}{on}: {detail}")


def _not_found(collection: str | None, backend: str, detail: str) -> CollectionNotFoundError:
    if collection:
        return collection_not_found(collection, backend)
    return CollectionNotFoundError(f"a collection or alias does not exist: {detail}")


def _from_grpc(
    exc: BaseException,
    what: str,
    collection: str | None,
    invalid: type[QdrantMMError],
    backend: str,
) -> QdrantMMError:
    on = f" on {collection!r}" if collection else ""
    code = exc.code() if callable(getattr(exc, "code", None)) else None
    details = exc.details() if callable(getattr(exc, "details", None)) else str(exc)
    detail = _short(str(details or ""))
    codes = grpc.StatusCode
    if code in (
        codes.UNAVAILABLE,
        codes.DEADLINE_EXCEEDED,
        codes.RESOURCE_EXHAUSTED,
        codes.ABORTED,
    ):
        return BackendTransientError(f"Qdrant {what}{on} failed (gRPC {code.name}): {detail}")
    if code == codes.NOT_FOUND:
        return _not_found(collection, backend, detail)
    if code in (
        codes.INVALID_ARGUMENT,
        codes.FAILED_PRECONDITION,
        codes.ALREADY_EXISTS,
        codes.OUT_OF_RANGE,
    ):
        return invalid(f"Qdrant refused {what}{on} (gRPC {code.name}): {detail}")
    if code in (codes.UNAUTHENTICATED, codes.PERMISSION_DENIED):
        return BackendRequestError(f"Qdrant refused {what}{on} (gRPC {code.name}): {detail}")
    name = code.name if code is not None else "error"
    return BackendError(f"Qdrant {what}{on} failed (gRPC {name}): {detail}")


def _is_unreachable(exc: BaseException) -> bool:
    """Nothing answered at all: refused, unknown host, or no connection within the timeout."""
    return isinstance(
        exc,
        (httpx.ConnectError, httpx.ConnectTimeout, ConnectionRefusedError, socket.gaierror),
    )


def _is_transport(exc: BaseException) -> bool:
    return isinstance(exc, (httpx.TransportError, ConnectionError, TimeoutError, socket.gaierror))


def _detail(exc: UnexpectedResponse) -> str:
    """Qdrant's own words from an error answer (``status.error``), else the raw body."""
    content = exc.content or b""
    try:
        doc = json.loads(content)
        error = doc.get("status", {}).get("error") if isinstance(doc, dict) else None
    except (ValueError, AttributeError):
        error = None
    text = error if isinstance(error, str) and error else content.decode("utf-8", "replace")
    return _short(text.strip() or (exc.reason_phrase or "no detail"))


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "no detail"
    text = str(exc)
    return f"{type(exc).__name__}: {_short(text)}" if text else type(exc).__name__


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 3] + "..."
