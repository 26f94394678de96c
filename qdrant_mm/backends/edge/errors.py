"""Qdrant Edge's exceptions translated into qdrant-mm's, in one place.

qdrant-edge-py raises plain ``Exception`` (``ValueError`` / ``TypeError`` for some malformed
input) whose message says what went wrong. :func:`edge_error` reads it:

* another owner holds the shard's write-ahead log (``WouldBlock``): :class:`StoreLockedError`,
  raised at once (it is not a :class:`BackendTransientError`, so nothing retries it);
* a failure to open a shard for another reason: :class:`BackendError`;
* the request was wrong (a wrong dimension, an unknown named vector, ...): ``invalid``, which
  is :class:`QueryError` for reads and :class:`BackendRequestError` for writes, as on
  qdrant-client;
* anything else: :class:`BackendError`.

Edge runs in this process, so nothing it raises is transient. The original exception stays
chained (``raise ... from exc``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from qdrant_mm.errors import BackendError, BackendRequestError, QdrantMMError, StoreLockedError

# Substrings of Edge error messages that mean "the request was wrong", not "storage failed".
INPUT_ERROR_MARKERS = (
    "dimension error",
    "Not existing vector name",
    "Wrong input",
    "Bad input",
    "Bad request",
    "failed to parse",
)

#: ``what`` for opening (loading) a shard.
OPEN = "open"


def is_lock_error(msg: str) -> bool:
    """Edge's message when another owner holds the shard's write-ahead-log lock."""
    return "WouldBlock" in msg or "temporarily unavailable" in msg or "locked" in msg.lower()


def store_locked(store: Path, collection: str, detail: str = "") -> StoreLockedError:
    """The error for a collection whose shard another process (or another EdgeBackend in this
    process) holds open."""
    edge_says = f" (Qdrant Edge: {detail})" if detail else ""
    return StoreLockedError(
        f"collection {collection!r} is already open elsewhere: the embedded store at {store} "
        "is in use by another process (a running `qdrant-mm serve`?) or another EdgeBackend "
        "in this process, and a Qdrant Edge shard has one owner at a time: stop it, or use a "
        f"Qdrant server (QDRANT_MM_QDRANT_URL){edge_says}"
    )


def edge_error(
    exc: BaseException,
    *,
    what: str,
    collection: str,
    store: Path,
    invalid: type[QdrantMMError] = BackendRequestError,
) -> QdrantMMError:
    """The qdrant-mm error for ``exc``, raised by Qdrant Edge doing ``what`` on ``collection``
    of the store at ``store``."""
    if isinstance(exc, QdrantMMError):
        return exc
    msg = str(exc)
    if is_lock_error(msg):
        return store_locked(store, collection, msg)
    if what == OPEN:
        return BackendError(f"Qdrant Edge cannot open collection {collection!r}: {msg}")
    if isinstance(exc, (TypeError, ValueError)) or any(m in msg for m in INPUT_ERROR_MARKERS):
        return invalid(f"Qdrant Edge refused {what} on {collection!r}: {msg}")
    return BackendError(f"Qdrant Edge {what} on {collection!r} failed: {msg}")


@contextlib.contextmanager
def map_edge_errors(
    *,
    what: str,
    collection: str,
    store: Path,
    invalid: type[QdrantMMError] = BackendRequestError,
) -> Iterator[None]:
    """Raise :func:`edge_error` of any exception the block raises (qdrant-mm's own errors
    pass unchanged)."""
    try:
        yield
    except QdrantMMError:
        raise
    except Exception as exc:
        raise edge_error(
            exc, what=what, collection=collection, store=store, invalid=invalid
        ) from exc
