"""Conversions every backend shares: point ids, vectors in and out, and the one message for a
collection that does not exist.

A backend on qdrant-client and one on Qdrant Edge accept and return the same values through
these, so a point id, a query vector or a missing collection is judged the same way on each.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from qdrant_mm.errors import BackendRequestError, CollectionNotFoundError, QdrantMMError, QueryError


def point_id(
    pid: Any, error: type[QdrantMMError] = BackendRequestError, what: str = "point id"
) -> str | int:
    """A Qdrant point id in canonical form: a UUID as its lower-case string, or an unsigned
    int. Anything else raises ``error`` naming ``what``."""
    if isinstance(pid, uuid.UUID):
        return str(pid)
    if isinstance(pid, str):
        try:
            return str(uuid.UUID(pid))
        except ValueError as exc:
            raise error(f"{what} {pid!r} is not a UUID or an unsigned integer") from exc
    if isinstance(pid, (int, np.integer)) and not isinstance(pid, bool) and pid >= 0:
        return int(pid)
    raise error(f"{what} {pid!r} is not a UUID or an unsigned integer")


def float_list(vec: Any) -> list[float] | list[list[float]]:
    """A vector as the list of float32 values the engines take: flat, or one list per row for
    a multivector (a 2-d array)."""
    arr = np.asarray(vec, dtype=np.float32)
    return arr.tolist() if arr.ndim == 2 else arr.reshape(-1).tolist()


def query_vector(vec: Any) -> list[float] | list[list[float]]:
    """A query vector as a float list (a ``(1, dim)`` array: one row, the form a query on a
    multivector takes); empty, NaN or infinite vectors raise QueryError."""
    arr = np.asarray(vec, dtype=np.float32)
    if arr.ndim != 2:
        arr = arr.reshape(-1)
    if arr.size == 0:
        raise QueryError("query vector is empty")
    if not np.all(np.isfinite(arr)):
        raise QueryError("query vector contains NaN or infinity")
    return arr.tolist()


def named_vectors(raw: Any, names: Sequence[str]) -> dict[str, np.ndarray]:
    """The named vectors ``names`` out of an engine's ``{name: vector}`` (float32 arrays);
    names the point does not have are left out."""
    if not names or not isinstance(raw, dict):
        return {}
    return {n: np.asarray(raw[n], dtype=np.float32) for n in names if n in raw}


def unit(vec: np.ndarray) -> np.ndarray:
    """``vec`` scaled to length 1 (a zero vector stays zero)."""
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm > 0 else vec


def check_scroll_batch(batch: int) -> None:
    if batch < 1:
        raise QueryError(f"scroll batch must be at least 1, got {batch}")


def collection_not_found(collection: str, backend: str) -> CollectionNotFoundError:
    """The error every backend raises for a collection or alias that does not exist."""
    return CollectionNotFoundError(
        f"collection {collection!r} does not exist on the {backend} backend"
    )
