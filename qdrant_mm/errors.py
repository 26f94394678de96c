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


class SchemaMismatchError(QdrantMMError):
    """The collection was built with other models, dimensions or schema version."""


class WeightsError(QdrantMMError):
    """Fusion weights are invalid (negative, NaN, all zero, unknown channel)."""


class QueryError(QdrantMMError):
    """A search request is invalid (empty query, bad filter, bad limit)."""


class BackendError(QdrantMMError):
    """The storage backend could not be reached or refused an operation."""


class BackendUnavailableError(BackendError):
    """The requested backend cannot be used here (e.g. qdrant-edge-py missing)."""
