"""Opening a product collection by name (an alias) and checking it matches the models.

Users name a collection (``products``); qdrant-mm stores it in a physical collection
``products--<UTC time>`` behind the alias ``products``, so that ``sync --rebuild`` can build a
new one and switch the alias atomically. Every physical collection qdrant-mm creates has its
metadata document (models, dims, quantization) written first.

When the alias is missing although a physical collection of that name exists (an alias lost,
a sync killed between creating its collection and pointing the alias at it, two first syncs
racing), sync adopts that collection instead of embedding the catalog again into a new one and
leaving the old one orphaned; when it cannot tell which one to adopt it refuses and says how
to repair it (:class:`~qdrant_mm.errors.StoredStateError`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from pydantic import ValidationError

from qdrant_mm.backends.base import Backend, HnswSpec, Quantization
from qdrant_mm.errors import (
    BackendRequestError,
    CollectionNotFoundError,
    StoredStateError,
    stored_document_problems,
)
from qdrant_mm.schema import (
    LAYOUT,
    CollectionMeta,
    check_compatible,
    collection_spec,
    load_meta,
    meta_key,
    normalize_quantization,
    resolve_quantization,
)

#: Suffix of a physical collection's name: ``--`` and the UTC time it was created.
_PHYSICAL_SUFFIX = r"--\d{8}T\d{12}"


def new_physical_name(alias: str) -> str:
    """Name of a fresh physical collection behind ``alias`` (the alias is what users see)."""
    return f"{alias}--{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S%f')}"


def is_physical_of(alias: str, name: str) -> bool:
    """Whether ``name`` is a physical collection qdrant-mm made for ``alias``."""
    return re.fullmatch(re.escape(alias) + _PHYSICAL_SUFFIX, name) is not None


def alias_of(physical: str) -> str:
    """The user-facing name a physical collection was made for (itself if not one of ours)."""
    m = re.fullmatch(rf"(.+){_PHYSICAL_SUFFIX}", physical)
    return m.group(1) if m else physical


def rebuild_hint(alias: str) -> str:
    return f"`qdrant-mm sync CATALOG --collection {alias} --rebuild`"


def read_collection_meta(backend: Backend, physical: str) -> CollectionMeta | None:
    """The metadata of ``physical`` (None when it has none). Raises :class:`StoredStateError`
    when the stored document has missing or wrong fields."""
    raw = backend.read_meta(meta_key(physical))
    try:
        return load_meta(raw)
    except ValidationError as exc:
        problems = stored_document_problems(exc)
        alias = alias_of(physical)
        raise StoredStateError(
            f"the metadata stored for collection {alias!r} (physical collection {physical!r})"
            f" cannot be trusted ({problems}); rebuild the collection with {rebuild_hint(alias)}"
        ) from None


def physical_collections(backend: Backend, alias: str) -> list[str]:
    """Physical collections qdrant-mm created for ``alias`` that exist, oldest first (whether
    or not the alias points at them)."""
    prefix = meta_key(f"{alias}--")
    names = (key.removeprefix(meta_key("")) for key in backend.list_meta(prefix))
    return sorted(n for n in names if is_physical_of(alias, n) and backend.resolve(n) == n)


def new_collection_quantization(
    backend: Backend, setting: str | None, layout: int = LAYOUT
) -> Quantization | None:
    """The quantization a collection of ``layout`` created now on ``backend`` gets for the
    setting (``QDRANT_MM_QUANTIZATION``): ``"auto"`` resolved against what the backend can
    create (a server's version is read once, by the backend), any other value as it is."""
    available = backend.quantizations() if setting == "auto" else ()
    return resolve_quantization(setting, available, layout)


def create_physical(
    backend: Backend,
    physical: str,
    model_ids: dict[str, str],
    dims: dict[str, int],
    quantization: str | None = None,
    layout: int = LAYOUT,
    fused_hnsw: HnswSpec | None = None,
    datatype: str = "float32",
) -> CollectionMeta:
    """Create an empty collection and record its models, the quantization of ``fused`` (a kind
    of ``QUANTIZATIONS``, or None / ``"none"``), how its originals are stored (``datatype``, of
    ``DATATYPES``; :func:`~qdrant_mm.schema.resolve_datatype` picks it) and its ``layout``
    (new collections get the current one; ``fused_hnsw``: see
    :func:`~qdrant_mm.schema.collection_spec`); the metadata is written first so a collection
    that exists always says what built it."""
    quant = normalize_quantization(quantization)
    if quant is not None and quant not in (kinds := backend.quantizations()):
        # Refused before the metadata is written: no document for a collection never made.
        raise BackendRequestError(
            f"quantization {quant!r} is not available on the {backend.name} backend (it can"
            f" create: {', '.join(kinds) or 'none'}; TurboQuant needs Qdrant 1.18 or later"
            " and qdrant-client 1.18 or later): use QDRANT_MM_QUANTIZATION=auto or int8"
        )
    spec = collection_spec(
        dims, quantization=quant, layout=layout, fused_hnsw=fused_hnsw, datatype=datatype
    )
    meta = CollectionMeta(
        model_ids=model_ids,
        dims=dims,
        quantization=quant,
        layout=layout,
        datatype=datatype,  # type: ignore[arg-type]
    )
    backend.write_meta(meta_key(physical), meta.model_dump())
    backend.create_collection(physical, spec)
    return meta


def drop_physical(backend: Backend, physical: str) -> None:
    """Delete a physical collection qdrant-mm created, and its metadata."""
    if backend.resolve(physical) == physical:
        backend.delete_collection(physical)
    backend.delete_meta(meta_key(physical))


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


@dataclass
class Opened:
    """The collection a sync writes to. ``created``: this sync created it (a first sync);
    ``note``: what was repaired on the way (an alias pointed at a collection found without)."""

    physical: str
    meta: CollectionMeta
    created: bool = False
    note: str | None = None


def open_or_create(
    backend: Backend,
    name: str,
    model_ids: dict[str, str],
    dims: dict[str, int],
    quantization: str | None = None,
    layout: int = LAYOUT,
    datatype: str = "float32",
) -> Opened:
    """Open ``name`` for writing, creating ``name--<time>`` behind the alias ``name`` if absent
    (with ``quantization``, ``layout`` and ``datatype``; an existing collection keeps those it
    was created with).

    With the alias missing, a physical collection of ``name`` built with the same models is
    adopted (the alias is pointed at it); when there are several, or only ones built with other
    models, :class:`StoredStateError` says which and how to repair it. After creating a
    collection, one created meanwhile by a racing first sync is preferred (the alias's target,
    else the oldest), so that both end up writing to the same collection."""
    if backend.resolve(name) is not None:
        return Opened(*open_collection(backend, name, model_ids, dims))
    found = physical_collections(backend, name)
    if found:
        physical = _adoptable(backend, name, found, model_ids, dims)
        backend.switch_alias(name, physical)
        meta = read_collection_meta(backend, physical)
        assert meta is not None
        return Opened(
            physical,
            meta,
            note=f"the alias {name!r} was missing: pointed it at {physical!r}, the collection"
            " built for it with these models",
        )
    physical = new_physical_name(name)
    meta = create_physical(
        backend, physical, model_ids, dims, quantization, layout=layout, datatype=datatype
    )
    rivals = [
        p
        for p in physical_collections(backend, name)
        if p != physical and _compatible(backend, p, model_ids, dims)
    ]
    if rivals:
        current = backend.resolve(name)
        winner = current if current in rivals else min([physical, *rivals])
        if winner != physical:
            drop_physical(backend, physical)
            backend.switch_alias(name, winner)
            adopted = read_collection_meta(backend, winner)
            assert adopted is not None
            return Opened(
                winner,
                adopted,
                note=f"another sync created {winner!r} for {name!r} at the same time: syncing"
                " into it",
            )
    backend.switch_alias(name, physical)
    return Opened(physical, meta, created=True)


def _compatible(backend: Backend, physical: str, model_ids, dims) -> bool:
    try:
        meta = read_collection_meta(backend, physical)
    except StoredStateError:
        return False
    return meta is not None and not meta.differences(model_ids, dims)


def _adoptable(
    backend: Backend, name: str, found: list[str], model_ids: dict[str, str], dims: dict[str, int]
) -> str:
    """The one collection of ``found`` to point the alias ``name`` at, or StoredStateError."""
    same: list[str] = []
    described: list[str] = []
    for physical in found:
        try:
            meta = read_collection_meta(backend, physical)
        except StoredStateError:
            described.append(f"{physical!r} (its metadata cannot be read)")
            continue
        diffs = meta.differences(model_ids, dims) if meta is not None else ["no metadata"]
        points = backend.count(physical)
        if diffs:
            described.append(f"{physical!r} ({points} points, built with {'; '.join(diffs)})")
        else:
            same.append(physical)
            described.append(f"{physical!r} ({points} points, built with these models)")
    if len(same) == 1:
        return same[0]  # any others were built with other models: they cannot be meant
    problem = (
        "which one to use is ambiguous"
        if same
        else "none was built with the current models (and its vectors cannot be mixed)"
    )
    raise StoredStateError(
        f"collection {name!r} has no alias, and of the collections built for it"
        f" ({', '.join(described)}) {problem}. Nothing was changed. Build a fresh one with the"
        f" current models with {rebuild_hint(name)}: it replaces these once it is complete"
    )
