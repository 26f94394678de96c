"""Exceptions raised by qdrant-mm. Each names the thing that was wrong."""

from __future__ import annotations


class QdrantMMError(Exception):
    """Base class for every error qdrant-mm raises on purpose."""


class ConfigError(QdrantMMError):
    """A setting or command-line option has a bad value."""


class ModelLoadError(QdrantMMError):
    """A model could not be loaded from the hub id or local path given."""


class CatalogError(QdrantMMError):
    """The catalog file as a whole could not be read."""


class ImageLoadError(QdrantMMError):
    """An image could not be read, decoded or was refused (too large, unsupported)."""


class ImageTooLargeError(ImageLoadError):
    """An image is over the byte or pixel limit (``QDRANT_MM_IMAGE_MAX_BYTES`` /
    ``QDRANT_MM_IMAGE_MAX_PIXELS``)."""


class UnsupportedImageError(ImageLoadError):
    """The bytes are not an image, or not one of a format qdrant-mm decodes."""


class SchemaMismatchError(QdrantMMError):
    """The collection was built with other models, dimensions or schema version."""


class WeightsError(QdrantMMError):
    """Fusion weights are invalid (negative, NaN, all zero, unknown channel)."""


class QueryError(QdrantMMError):
    """A search request is invalid (empty query, bad filter, bad limit)."""


class CollectionNotFoundError(QueryError):
    """The collection (or alias) named does not exist: nothing has been synced into it yet."""


class StoredStateError(QdrantMMError):
    """A document qdrant-mm stored (collection metadata, a weight profile, an alias) cannot be
    trusted: it is missing fields or has wrong ones. The message names the collection or
    profile and how to repair it; it never names a server file path."""


class BackendError(QdrantMMError):
    """The storage backend could not be reached or refused an operation."""


class BackendUnavailableError(BackendError):
    """The requested backend cannot be used here (e.g. qdrant-edge-py missing)."""


class BackendTransientError(BackendError):
    """A storage call failed in a way another try may fix (a timeout, a 5xx answer, a dropped
    connection). Retried with backoff where qdrant-mm retries; answered 503 by the service."""


class StorageUnreachableError(BackendTransientError):
    """Qdrant could not be reached at all (connection refused, DNS, timeout on connect)."""


class StoreLockedError(BackendError):
    """The embedded store is held by another process (for example a running ``qdrant-mm serve``)."""


class BackendRequestError(BackendError):
    """Qdrant refused a request as invalid (a 4xx answer, or the engine rejected its input)."""


def stored_document_problems(exc: Exception, limit: int = 5) -> str:
    """The first ``limit`` problems of a pydantic ``ValidationError`` about a stored document,
    as ``field: message`` (``document: ...`` for the whole), for a :class:`StoredStateError`."""
    errors = exc.errors() if callable(getattr(exc, "errors", None)) else []
    return "; ".join(
        f"{'.'.join(str(x) for x in e['loc']) or 'document'}: {e['msg']}" for e in errors[:limit]
    ) or str(exc)
