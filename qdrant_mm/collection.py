"""Opening a product collection by name (an alias) and checking it matches the models."""

from __future__ import annotations

from datetime import datetime, timezone

from qdrant_mm.backends.base import Backend
from qdrant_mm.errors import CollectionNotFoundError
from qdrant_mm.schema import (
    CollectionMeta,
    check_compatible,
    collection_spec,
    load_meta,
    meta_key,
    normalize_quantization,
)


def new_physical_name(alias: str) -> str:
    """Name of a fresh physical collection behind ``alias`` (the alias is what users see)."""
    return f"{alias}--{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S%f')}"


def read_collection_meta(backend: Backend, physical: str) -> CollectionMeta | None:
    return load_meta(backend.read_meta(meta_key(physical)))


def create_physical(
    backend: Backend,
    physical: str,
    model_ids: dict[str, str],
    dims: dict[str, int],
    quantization: str | None = None,
) -> CollectionMeta:
    """Create an empty collection and record its models (and the quantization of ``fused``:
    ``"int8"``, or None / ``"none"``); the metadata is written first so a collection that exists
    always says what built it."""
    quant = normalize_quantization(quantization)
    meta = CollectionMeta(model_ids=model_ids, dims=dims, quantization=quant)
    backend.write_meta(meta_key(physical), meta.model_dump())
    backend.create_collection(physical, collection_spec(dims, quantization=quant))
    return meta


def open_collection(
    backend: Backend, name: str, model_ids: dict[str, str], dims: dict[str, int]
) -> tuple[str, CollectionMeta]:
    """Resolve ``name`` and check its models. Raises :class:`CollectionNotFoundError` (a
    :class:`~qdrant_mm.errors.QueryError`) when it is missing and
    :class:`SchemaMismatchError` when it was built with other models (before any write)."""
    physical = backend.resolve(name)
    if physical is None:
        raise CollectionNotFoundError(
            f"collection {name!r} does not exist on the {backend.name} backend;"
            " run `qdrant-mm sync CATALOG` first"
        )
    meta = read_collection_meta(backend, physical)
    check_compatible(name, meta, model_ids, dims)
    assert meta is not None
    return physical, meta


def open_or_create(
    backend: Backend,
    name: str,
    model_ids: dict[str, str],
    dims: dict[str, int],
    quantization: str | None = None,
) -> tuple[str, CollectionMeta]:
    """Open ``name`` for writing, creating ``name--<time>`` behind the alias ``name`` if absent
    (with ``quantization``; an existing collection keeps the quantization it was created with)."""
    if backend.resolve(name) is None:
        physical = new_physical_name(name)
        meta = create_physical(backend, physical, model_ids, dims, quantization)
        backend.switch_alias(name, physical)
        return physical, meta
    return open_collection(backend, name, model_ids, dims)
