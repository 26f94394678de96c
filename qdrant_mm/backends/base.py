"""The storage interface that sync and search talk to.

Two families implement it: :mod:`qdrant_mm.backends.qdrant_client_backend` (a Qdrant server or
cluster, or qdrant-client's local mode) and :mod:`qdrant_mm.backends.edge` (Qdrant Edge, the
Rust engine in-process). Sync and search never import either; they take a :class:`Backend`.

Every backend raises only qdrant-mm's own errors (:mod:`qdrant_mm.errors`), the same type for
the same fault: :class:`~qdrant_mm.errors.CollectionNotFoundError` for a collection or alias
that does not exist; :class:`~qdrant_mm.errors.QueryError` for a search, count, scroll or
retrieval the engine refuses as invalid, :class:`~qdrant_mm.errors.BackendRequestError` for a
write or collection change it refuses; :class:`~qdrant_mm.errors.BackendTransientError` (and
its subclass :class:`~qdrant_mm.errors.StorageUnreachableError`) for what another try may fix;
:class:`~qdrant_mm.errors.StoreLockedError` when an embedded store is held by another
process; :class:`~qdrant_mm.errors.BackendError` for anything else. The engine's exception is
chained (``raise ... from``).

The query types check their own values (:class:`QueryPlan`, :class:`Prefetch`,
:class:`QuantizationSearch` raise :class:`~qdrant_mm.errors.QueryError` when built with a
limit below 1, a negative offset, ...), so no backend repeats those checks.

Filters are expressed with ``qdrant_client.models.Filter`` everywhere (the lingua franca users
already know); a backend on another engine converts them.

Collection names given to any method may be an alias: the backend resolves it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from qdrant_mm.errors import BackendRequestError, QueryError

if TYPE_CHECKING:  # filters are qdrant_client.models.Filter; the models load only where used
    from qdrant_client import models

Distance = Literal["cosine", "dot"]
PayloadIndexType = Literal["keyword", "float", "integer"]
Quantization = Literal["int8", "turbo4", "turbo2"]
#: ``int8``: scalar quantization, one byte per dimension. ``turbo4`` / ``turbo2``: Qdrant's
#: TurboQuant (a random rotation, then 4 or 2 bits per dimension scored against the float query),
#: half or a quarter of int8's bytes per distance during the graph walk. Every kind keeps the
#: float32 originals for rescoring: scores returned are exact whatever the kind.
QUANTIZATIONS: tuple[str, ...] = ("int8", "turbo4", "turbo2")
Datatype = Literal["float32", "float16"]
#: How the original vectors (those searches rescore with and scores come from) are stored:
#: ``float32``, or ``float16`` (half the bytes: 11 significant bits, ~3.3 decimal digits, as fine
#: as the bf16 the encoders run in; a cosine moves by ~1e-5).
DATATYPES: tuple[str, ...] = ("float32", "float16")
#: Qdrant's first version with TurboQuant.
TURBO_SINCE = (1, 18)
#: Scalar quantization parameters every backend uses for ``quantization="int8"``: values are
#: clipped to this quantile of the vector components before mapping them to int8, and the
#: quantized vectors are kept in RAM (the float32 originals stay where they were, for rescoring).
INT8_QUANTILE = 0.99


@dataclass(frozen=True)
class HnswSpec:
    """How a named vector's HNSW graph is built (None: the engine's default).

    ``m``: links per node (0: no graph, the vector is only scanned exactly); ``ef_construct``:
    candidates kept while building; ``payload_m``: links per node of the extra graphs built for
    the values of indexed payload fields (0: none; filtered searches then rely on the
    engine's filtered-search strategy); ``full_scan_threshold_kb``: a search whose filter keeps
    fewer points than this many KB of vectors scans them exactly instead of walking the graph.
    """

    m: int | None = None
    ef_construct: int | None = None
    payload_m: int | None = None
    full_scan_threshold_kb: int | None = None

    def check(self, vector: str) -> None:
        """Refuse values the engine cannot build with, naming the vector (every backend asks
        this before creating a collection)."""
        for what, value in (
            ("m", self.m),
            ("ef_construct", self.ef_construct),
            ("payload_m", self.payload_m),
        ):
            if value is not None and int(value) < (4 if what == "ef_construct" else 0):
                raise BackendRequestError(
                    f"named vector {vector!r}: {what} {value} is out of range"
                )


@dataclass(frozen=True)
class VectorSpec:
    """A named vector. ``quantization`` (one of :data:`QUANTIZATIONS`) stores a quantized copy
    beside the float32 vector (int8: quantile :data:`INT8_QUANTILE`; kept in RAM); HNSW
    searches then score with it
    and, when the query asks for it (:class:`QuantizationSearch`), rescore with the originals.
    ``hnsw``: how its graph is built (None: the engine's defaults). ``multivector``: each point
    holds a list of vectors (rows) and a query vector scores the best row (Qdrant's ``MAX_SIM``
    comparator): vectors written are ``(rows, dim)`` arrays, vectors read back too.
    ``datatype``: how the originals are stored (:data:`DATATYPES`; a backend that cannot store
    ``float16``, such as qdrant-client's local mode, keeps float32)."""

    name: str
    dim: int
    distance: Distance
    quantization: Quantization | None = None
    hnsw: HnswSpec | None = None
    multivector: bool = False
    datatype: Datatype = "float32"


@dataclass(frozen=True)
class CollectionSpec:
    """Named vectors and payload indexes. ``payload_graph``: the indexed payload fields that get
    extra HNSW links (see :attr:`HnswSpec.payload_m`); None: every indexed field (the engine's
    default)."""

    vectors: tuple[VectorSpec, ...]
    payload_indexes: dict[str, PayloadIndexType] = field(default_factory=dict)
    payload_graph: frozenset[str] | None = None


@dataclass(frozen=True)
class BuildWatch:
    """Asks :meth:`Backend.optimize` to report a long index build as it goes: what it is doing
    and for how long, on the file descriptor ``fd`` (2: stderr), every ``every_s`` seconds (the
    first report after that long, so a short build says nothing). ``live``: a terminal, where
    one line is rewritten in place; otherwise one line per report (logs, pipes). Backends whose
    engine indexes by itself (a Qdrant server, local mode) have nothing to report."""

    fd: int = 2
    every_s: float = 15.0
    live: bool = False


@dataclass
class PointRecord:
    """A point to write: Qdrant point id (UUID string), named vectors (``(dim,)`` arrays, or
    ``(rows, dim)`` for a multivector), payload."""

    id: str
    vectors: dict[str, np.ndarray]
    payload: dict[str, Any]


@dataclass
class StoredPoint:
    id: str
    payload: dict[str, Any]
    vectors: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Hit:
    id: str
    score: float
    payload: dict[str, Any]
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    #: cosine of the hit's named vector with the query vector given for it in
    #: ``QueryPlan.score_vectors`` (named vector -> score)
    vector_scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Prefetch:
    """One candidate source: nearest neighbours of ``vector`` on the named vector ``using``."""

    using: str
    vector: np.ndarray
    limit: int

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise QueryError(
                f"prefetch on {self.using!r}: limit must be at least 1, got {self.limit}"
            )


@dataclass(frozen=True)
class QuantizationSearch:
    """How a search uses a quantized vector.

    ``rescore``: score the candidates found with the quantized vectors again with the original
    float32 vectors, so the returned scores are exact; ``oversampling``: collect
    ``oversampling x limit`` candidates with the quantized vectors before rescoring (recovers
    the recall that quantization loses). Ignored for vectors that are not quantized, for exact
    searches (they use the originals) and by qdrant-client's local mode (always exact).
    """

    rescore: bool = True
    oversampling: float | None = None

    def __post_init__(self) -> None:
        o = self.oversampling
        if o is not None and not (
            isinstance(o, (int, float, np.number)) and np.isfinite(o) and o >= 1
        ):
            raise QueryError(f"oversampling must be a number >= 1, got {o!r}")


@dataclass(frozen=True)
class QueryPlan:
    """What to ask the engine for.

    The engine ranks by the dot product of ``vector`` with the named vector ``using`` over the
    points that pass ``filter``. With ``prefetch`` empty this is one (HNSW or exact) search; with
    prefetches the engine first collects their candidates (each restricted by ``filter``) and
    then rescores that union exactly on ``using`` (the safety-net plan). ``quantization``
    applies to the searches on a quantized vector (None: the engine's defaults).

    ``score_vectors`` (named vector -> query vector, cosine named vectors only): each returned
    hit also gets, in ``Hit.vector_scores``, the cosine of its stored named vector with that
    query vector (the per-channel breakdown). ``score_dots`` (label -> (named vector, query
    vector)): the hit gets, under ``label``, the dot product of its stored named vector with that
    query vector (a channel's cosine read from its block of ``fused``: the query is the unit
    channel query with zeros elsewhere). Backends compute both their cheapest way: Edge with
    one batched exact query restricted to the hits' ids, qdrant-client from the hits' vectors.

    ``acorn``: with a ``filter``, let the engine use ACORN (it also explores the neighbours'
    neighbours of points the filter rejects), which keeps filtered HNSW searches accurate on a
    graph without payload links. Ignored without a filter and by local mode (always exact).
    """

    using: str
    vector: np.ndarray
    limit: int
    offset: int = 0
    filter: models.Filter | None = None
    prefetch: tuple[Prefetch, ...] = ()
    hnsw_ef: int | None = None
    exact: bool = False
    quantization: QuantizationSearch | None = None
    with_payload: bool = True
    with_vectors: tuple[str, ...] = ()
    score_vectors: Mapping[str, np.ndarray] = field(default_factory=dict)
    score_dots: Mapping[str, tuple[str, np.ndarray]] = field(default_factory=dict)
    acorn: bool = False

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise QueryError(f"limit must be at least 1, got {self.limit}")
        if self.offset < 0:
            raise QueryError(f"offset must not be negative, got {self.offset}")
        if self.hnsw_ef is not None and self.hnsw_ef < 1:
            raise QueryError(f"hnsw_ef must be at least 1, got {self.hnsw_ef}")


class Backend(Protocol):
    """Storage operations qdrant-mm needs. Implementations must behave identically (the
    ``backend`` fixture of ``tests/backends.py`` runs the same tests against each), errors
    included (see the module docstring)."""

    name: str  # "server", "local" or "edge"

    # --- collections & aliases ------------------------------------------------------------
    def collection_exists(self, collection: str) -> bool: ...

    def create_collection(self, collection: str, spec: CollectionSpec) -> None: ...

    def quantizations(self) -> tuple[str, ...]:
        """The kinds of :data:`QUANTIZATIONS` this engine can create (a Qdrant server before
        1.18 has no TurboQuant)."""
        ...

    def delete_collection(self, collection: str) -> None: ...

    def resolve(self, collection: str) -> str | None:
        """Physical collection behind ``collection`` (itself if not an alias), None if absent."""
        ...

    def switch_alias(self, alias: str, collection: str) -> str | None:
        """Point ``alias`` at ``collection`` atomically; return the collection it pointed at."""
        ...

    # --- small documents stored beside the collections (schema metadata, weight profiles) ---
    def read_meta(self, key: str) -> dict[str, Any] | None: ...

    def write_meta(self, key: str, value: dict[str, Any]) -> None: ...

    def delete_meta(self, key: str) -> bool: ...

    def list_meta(self, prefix: str) -> dict[str, dict[str, Any]]: ...

    # --- points ------------------------------------------------------------------------------
    def upsert(self, collection: str, points: Sequence[PointRecord]) -> None: ...

    def delete(self, collection: str, ids: Sequence[str]) -> None: ...

    def scroll_payload(
        self, collection: str, fields: Sequence[str], batch: int = 1024
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every point's id and the given payload fields, no vectors."""
        ...

    def retrieve(
        self, collection: str, ids: Sequence[str], with_vectors: Sequence[str] = ()
    ) -> list[StoredPoint]: ...

    def count(self, collection: str, filter: models.Filter | None = None) -> int: ...

    def query(self, collection: str, plan: QueryPlan) -> list[Hit]: ...

    def optimize(self, collection: str, watch: BuildWatch | None = None) -> float:
        """Build indexes after a bulk write; returns the seconds it took (0 when the engine
        indexes by itself). ``watch``: report the build as it goes (see :class:`BuildWatch`)."""
        ...

    def close(self) -> None: ...
