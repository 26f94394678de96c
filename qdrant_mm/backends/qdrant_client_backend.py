"""Backend on qdrant-client: a Qdrant server or cluster, or qdrant-client's local mode.

Metadata documents (collection schema, weight profiles) live as payload-only points in one
sidecar collection, :data:`META_COLLECTION`, so that every process connected to the same Qdrant
sees them. Aliases are Qdrant's own.

A vector with ``quantization="int8"`` gets Qdrant's scalar quantization (int8, quantile 0.99,
``always_ram``), ``"turbo4"`` / ``"turbo2"`` its TurboQuant at 4 / 2 bits (``always_ram``; a
server older than TurboQuant refuses the collection with its own message). Searches send
``QueryPlan.quantization`` as ``SearchParams.quantization`` on a server; local mode stores the
quantization config but searches exactly (brute force on the float32 vectors), so it never
sends search parameters.

Every call to qdrant-client runs inside :meth:`QdrantClientBackend._errors`, so only qdrant-mm's
errors leave this module (mapped by :mod:`qdrant_mm.backends.client_errors`). The request
timeout (``QDRANT_MM_QDRANT_TIMEOUT``) is applied to the HTTP transport exactly as given:
qdrant-client itself rounds it up to whole seconds.
"""

from __future__ import annotations

import itertools
import math
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

import httpx
import numpy as np
from qdrant_client import QdrantClient, models

from qdrant_mm.backends.base import (
    DATATYPES,
    INT8_QUANTILE,
    QUANTIZATIONS,
    TURBO_SINCE,
    BuildWatch,
    CollectionSpec,
    Hit,
    PointRecord,
    QuantizationSearch,
    QueryPlan,
    StoredPoint,
    VectorSpec,
)
from qdrant_mm.backends.client_errors import map_client_errors
from qdrant_mm.backends.common import (
    check_scroll_batch,
    float_list,
    named_vectors,
    point_id,
    query_vector,
    unit,
)
from qdrant_mm.errors import (
    BackendRequestError,
    CollectionNotFoundError,
    QdrantMMError,
    QueryError,
)

META_COLLECTION = "qdrant_mm_meta"
_META_NS = uuid.UUID("0d7c4a55-2b61-4f0e-8f7c-3f1f0b6c9e21")

_DISTANCE = {"cosine": models.Distance.COSINE, "dot": models.Distance.DOT}
_INDEX = {
    "keyword": models.PayloadSchemaType.KEYWORD,
    "float": models.PayloadSchemaType.FLOAT,
    "integer": models.PayloadSchemaType.INTEGER,
}


#: qdrant-client's TurboQuant bit sizes by kind (names, looked up on use: clients before 1.18
#: have no TurboQuant and still serve int8).
_TURBO_BITS = {"turbo4": "BITS4", "turbo2": "BITS2"}


def _client_has_turbo() -> bool:
    return hasattr(models, "TurboQuantization") and hasattr(models, "TurboQuantBitSize")


def _version_tuple(version: str) -> tuple[int, ...]:
    """``"1.18.2"`` -> ``(1, 18, 2)``; a suffix such as ``-dev`` is dropped, an unreadable
    version reads as 0 (so only what is known to support a feature gets it)."""
    parts = []
    for piece in version.strip().lstrip("v").split("."):
        digits = "".join(itertools.takewhile(str.isdigit, piece))
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts) or (0,)


def _meta_id(key: str) -> str:
    return str(uuid.uuid5(_META_NS, key))


def _vector_params(v: VectorSpec) -> models.VectorParams:
    if v.distance not in _DISTANCE:
        raise BackendRequestError(f"named vector {v.name!r}: unknown distance {v.distance!r}")
    quantization = None
    if v.quantization == "int8":
        quantization = models.ScalarQuantization(
            scalar=models.ScalarQuantizationConfig(
                type=models.ScalarType.INT8, quantile=INT8_QUANTILE, always_ram=True
            )
        )
    elif v.quantization in _TURBO_BITS:
        if not _client_has_turbo():
            raise BackendRequestError(
                f"named vector {v.name!r}: quantization {v.quantization!r} needs qdrant-client"
                " 1.18 or later (pip install 'qdrant-client>=1.18'), or QDRANT_MM_QUANTIZATION=int8"
            )
        quantization = models.TurboQuantization(
            turbo=models.TurboQuantQuantizationConfig(
                bits=getattr(models.TurboQuantBitSize, _TURBO_BITS[v.quantization]),
                always_ram=True,
            )
        )
    elif v.quantization is not None:
        raise BackendRequestError(
            f"named vector {v.name!r}: unknown quantization {v.quantization!r}"
        )
    if v.datatype not in DATATYPES:
        raise BackendRequestError(f"named vector {v.name!r}: unknown datatype {v.datatype!r}")
    return models.VectorParams(
        size=v.dim,
        distance=_DISTANCE[v.distance],
        # local mode does not apply it (vectors stay float32); a server stores half the bytes
        datatype=models.Datatype.FLOAT16 if v.datatype == "float16" else None,
        quantization_config=quantization,
        hnsw_config=_hnsw_diff(v),
        multivector_config=models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM)
        if v.multivector
        else None,
    )


def _hnsw_diff(v: VectorSpec) -> models.HnswConfigDiff | None:
    """The per-vector HNSW settings of ``v`` (None: the collection's)."""
    h = v.hnsw
    if h is None:
        return None
    h.check(v.name)
    return models.HnswConfigDiff(
        m=h.m,
        ef_construct=h.ef_construct,
        payload_m=h.payload_m,
        full_scan_threshold=h.full_scan_threshold_kb,
    )


def _index_schema(spec: CollectionSpec, field: str, kind: str) -> Any:
    """The payload index schema of ``field``: a plain type, or index parameters saying whether
    it gets HNSW payload links when ``spec.payload_graph`` names the fields that do."""
    if spec.payload_graph is None:
        return _INDEX[kind]
    enable = field in spec.payload_graph
    if kind == "keyword":
        return models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, enable_hnsw=enable)
    if kind == "float":
        return models.FloatIndexParams(type=models.FloatIndexType.FLOAT, enable_hnsw=enable)
    return models.IntegerIndexParams(
        type=models.IntegerIndexType.INTEGER, lookup=True, range=True, enable_hnsw=enable
    )


def _quantization_params(q: QuantizationSearch | None) -> models.QuantizationSearchParams | None:
    if q is None:  # QuantizationSearch checked its oversampling when it was built
        return None
    return models.QuantizationSearchParams(rescore=q.rescore, oversampling=q.oversampling)


def rest_timeout(seconds: float) -> Callable[[httpx.Request, Callable], httpx.Response]:
    """qdrant-client middleware giving every HTTP request the timeout ``seconds`` (connect,
    read, write and pool), fractions of a second included."""
    timeout = httpx.Timeout(seconds).as_dict()

    def middleware(request: httpx.Request, call_next: Callable) -> httpx.Response:
        request.extensions["timeout"] = timeout
        return call_next(request)

    return middleware


class QdrantClientBackend:
    """Storage on a Qdrant server (``url``) or in qdrant-client's local mode (``path``)."""

    def __init__(self, client: QdrantClient, name: str = "server", where: str = "") -> None:
        self.client = client
        self.name = name
        #: the URL or folder, for messages
        self.where = where or ("local mode" if name == "local" else "Qdrant")
        self._server_version: tuple[int, ...] | None = None

    @classmethod
    def connect(
        cls, url: str, api_key: str | None = None, timeout: float = 30.0, **options: Any
    ) -> QdrantClientBackend:
        """A Qdrant server at ``url``; ``timeout`` seconds per request (``0.3`` is 0.3 s).
        ``options`` go to :class:`~qdrant_client.QdrantClient` (and on to httpx)."""
        with map_client_errors(what="connect", where=url):
            # qdrant-client takes whole seconds (rounded up); the HTTP transport gets the
            # exact value from the middleware.
            client = QdrantClient(
                url=url, api_key=api_key, timeout=max(1, math.ceil(timeout)), **options
            )
            client.http.client.add_middleware(rest_timeout(timeout))
        return cls(client, "server", url)

    @classmethod
    def local(cls, path) -> QdrantClientBackend:
        where = f"{path} (local mode)"
        with warnings.catch_warnings(), map_client_errors(what="open", where=where):
            warnings.simplefilter("ignore")  # local mode warns about large collections
            return cls(QdrantClient(path=str(path)), "local", where)

    def _errors(
        self,
        what: str,
        collection: str | None = None,
        invalid: type[QdrantMMError] = BackendRequestError,
    ) -> AbstractContextManager[None]:
        """The block's qdrant-client exceptions as qdrant-mm errors (``invalid``: the type for
        a request Qdrant refuses as invalid)."""
        return map_client_errors(
            what=what, collection=collection, invalid=invalid, backend=self.name, where=self.where
        )

    def check_reachable(self) -> None:
        """One cheap request; raises :class:`~qdrant_mm.errors.StorageUnreachableError` (or
        another :class:`~qdrant_mm.errors.BackendError`) when Qdrant cannot be used."""
        with self._errors("listing collections"):
            self.client.get_collections()

    # --- collections & aliases ---------------------------------------------------------------
    def collection_exists(self, collection: str) -> bool:
        return self.resolve(collection) is not None

    def quantizations(self) -> tuple[str, ...]:
        """Every kind in local mode (it stores the config and searches exactly); on a server,
        TurboQuant only from Qdrant 1.18 on (the version is asked once); int8 alone with a
        qdrant-client older than 1.18."""
        if not _client_has_turbo():
            return ("int8",)
        if self.name == "local":
            return QUANTIZATIONS
        if self._server_version is None:
            with self._errors("reading the server version"):
                version = str(self.client.info().version)
            self._server_version = _version_tuple(version)
        if self._server_version >= TURBO_SINCE:
            return QUANTIZATIONS
        return ("int8",)

    def create_collection(self, collection: str, spec: CollectionSpec) -> None:
        for v in spec.vectors:
            if (
                v.quantization in _TURBO_BITS
                and _client_has_turbo()  # else _vector_params names the client
                and v.quantization not in self.quantizations()
            ):
                since = ".".join(map(str, TURBO_SINCE))
                raise BackendRequestError(
                    f"named vector {v.name!r}: quantization {v.quantization!r} needs Qdrant "
                    f"{since} or later (TurboQuant), {self.where} runs "
                    f"{'.'.join(map(str, self._server_version or ()))}: use "
                    "QDRANT_MM_QUANTIZATION=int8 or auto"
                )
        vectors = {v.name: _vector_params(v) for v in spec.vectors}
        for field, kind in spec.payload_indexes.items():
            if kind not in _INDEX:
                raise BackendRequestError(f"payload index on {field!r}: unknown type {kind!r}")
        with self._errors("create collection", collection):
            self.client.create_collection(collection, vectors_config=vectors)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # local mode: "payload indexes have no effect"
                for field, kind in spec.payload_indexes.items():
                    self.client.create_payload_index(
                        collection, field, field_schema=_index_schema(spec, field, kind)
                    )

    def delete_collection(self, collection: str) -> None:
        with self._errors("delete collection", collection):
            self.client.delete_collection(collection)

    def _aliases(self) -> dict[str, str]:
        with self._errors("listing aliases"):
            return {a.alias_name: a.collection_name for a in self.client.get_aliases().aliases}

    def resolve(self, collection: str) -> str | None:
        target = self._aliases().get(collection)
        if target is not None:
            return target
        with self._errors("listing collections"):
            names = {c.name for c in self.client.get_collections().collections}
        return collection if collection in names else None

    def switch_alias(self, alias: str, collection: str) -> str | None:
        previous = self._aliases().get(alias)
        ops: list[Any] = []
        if previous is not None:
            ops.append(
                models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias))
            )
        ops.append(
            models.CreateAliasOperation(
                create_alias=models.CreateAlias(collection_name=collection, alias_name=alias)
            )
        )
        try:
            with self._errors("switch alias", alias):
                self.client.update_collection_aliases(change_aliases_operations=ops)
        except CollectionNotFoundError as exc:  # as on Edge: a refused alias change
            raise BackendRequestError(
                f"cannot point alias {alias!r} at {collection!r}: no such collection"
            ) from exc
        return previous

    # --- metadata documents --------------------------------------------------------------------
    def read_meta(self, key: str) -> dict[str, Any] | None:
        # One round trip (this runs on every query for the default profile): a missing meta
        # collection is a CollectionNotFoundError here, and means "no document".
        try:
            with self._errors("reading metadata", META_COLLECTION):
                got = self.client.retrieve(META_COLLECTION, [_meta_id(key)], with_payload=True)
        except CollectionNotFoundError:
            return None
        return dict(got[0].payload["value"]) if got else None

    def write_meta(self, key: str, value: dict[str, Any]) -> None:
        with self._errors("writing metadata", META_COLLECTION):
            if not self.client.collection_exists(META_COLLECTION):
                self.client.create_collection(META_COLLECTION, vectors_config={})
            self.client.upsert(
                META_COLLECTION,
                [
                    models.PointStruct(
                        id=_meta_id(key), vector={}, payload={"key": key, "value": value}
                    )
                ],
                wait=True,
            )

    def delete_meta(self, key: str) -> bool:
        if self.read_meta(key) is None:
            return False
        with self._errors("deleting metadata", META_COLLECTION):
            self.client.delete(
                META_COLLECTION, models.PointIdsList(points=[_meta_id(key)]), wait=True
            )
        return True

    def list_meta(self, prefix: str) -> dict[str, dict[str, Any]]:
        with self._errors("listing metadata", META_COLLECTION):
            if not self.client.collection_exists(META_COLLECTION):
                return {}
        out: dict[str, dict[str, Any]] = {}
        offset = None
        while True:
            with self._errors("listing metadata", META_COLLECTION):
                records, offset = self.client.scroll(
                    META_COLLECTION, limit=256, offset=offset, with_payload=True, with_vectors=False
                )
            for r in records:
                key = r.payload.get("key", "")
                if key.startswith(prefix):
                    out[key] = dict(r.payload["value"])
            if offset is None:
                return out

    # --- points -----------------------------------------------------------------------------
    def upsert(self, collection: str, points: Sequence[PointRecord]) -> None:
        if not points:
            return
        structs = [
            models.PointStruct(
                id=point_id(p.id),
                vector={k: float_list(v) for k, v in p.vectors.items()},
                payload=p.payload,
            )
            for p in points
        ]
        with self._errors("upsert", collection):
            self.client.upsert(collection, structs, wait=True)

    def delete(self, collection: str, ids: Sequence[str]) -> None:
        if not ids:
            return
        selector = models.PointIdsList(points=[point_id(i) for i in ids])
        with self._errors("delete", collection):
            self.client.delete(collection, selector, wait=True)

    def scroll_payload(
        self, collection: str, fields: Sequence[str], batch: int = 1024
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        check_scroll_batch(batch)
        offset = None
        while True:
            with self._errors("scroll", collection, QueryError):
                records, offset = self.client.scroll(
                    collection,
                    limit=batch,
                    offset=offset,
                    with_payload=models.PayloadSelectorInclude(include=list(fields)),
                    with_vectors=False,
                )
            for r in records:
                yield str(r.id), dict(r.payload or {})
            if offset is None:
                return

    def retrieve(
        self, collection: str, ids: Sequence[str], with_vectors: Sequence[str] = ()
    ) -> list[StoredPoint]:
        if not ids:
            return []
        wanted = [point_id(i) for i in ids]
        with self._errors("retrieve", collection, QueryError):
            got = self.client.retrieve(
                collection, wanted, with_payload=True, with_vectors=list(with_vectors) or False
            )
        return [
            StoredPoint(str(r.id), dict(r.payload or {}), named_vectors(r.vector, with_vectors))
            for r in got
        ]

    def count(self, collection: str, filter: models.Filter | None = None) -> int:
        with self._errors("count", collection, QueryError):
            return self.client.count(collection, count_filter=filter, exact=True).count

    def query(self, collection: str, plan: QueryPlan) -> list[Hit]:
        with self._errors("query", collection, QueryError):
            resp = self._query_points(collection, plan)
        # label -> (named vector, query, cosine?): cosines of score_vectors, dots of score_dots
        wanted = {
            name: (name, unit(np.asarray(vec, dtype=np.float32)), True)
            for name, vec in plan.score_vectors.items()
        }
        wanted.update(
            {
                label: (using, np.asarray(vec, dtype=np.float32), False)
                for label, (using, vec) in plan.score_dots.items()
            }
        )
        hits = []
        for p in resp.points:
            stored = named_vectors(p.vector, list({using for using, _, _ in wanted.values()}))
            hits.append(
                Hit(
                    str(p.id),
                    float(p.score),
                    dict(p.payload or {}),
                    named_vectors(p.vector, plan.with_vectors),
                    {
                        label: float((unit(stored[using]) if cos else stored[using]) @ q)
                        for label, (using, q, cos) in wanted.items()
                        if using in stored
                    },
                )
            )
        return hits

    def _query_points(self, collection: str, plan: QueryPlan) -> models.QueryResponse:
        params = models.SearchParams(
            hnsw_ef=plan.hnsw_ef,
            exact=plan.exact,
            quantization=_quantization_params(plan.quantization),
            acorn=models.AcornSearchParams(enable=True)
            if plan.acorn and plan.filter is not None
            else None,
        )
        prefetch = [
            models.Prefetch(
                query=query_vector(p.vector),
                using=p.using,
                limit=p.limit,
                filter=plan.filter,
                params=params if self.name != "local" else None,
            )
            for p in plan.prefetch
        ]
        return self.client.query_points(
            collection,
            query=query_vector(plan.vector),
            using=plan.using,
            prefetch=prefetch or None,
            query_filter=plan.filter,
            # Local mode is exact anyway. Over prefetches, the rescoring must be exact: an HNSW
            # rescoring can drop candidates of the union (as seen on Edge, the same engine).
            search_params=None
            if self.name == "local"
            else (models.SearchParams(exact=True) if prefetch else params),
            limit=plan.limit,
            offset=plan.offset or None,
            with_payload=plan.with_payload,
            # One round trip: the breakdown is computed here from the hits' vectors.
            with_vectors=list(
                dict.fromkeys(
                    [
                        *plan.with_vectors,
                        *plan.score_vectors,
                        *(using for using, _ in plan.score_dots.values()),
                    ]
                )
            )
            or False,
        )

    def optimize(self, collection: str, watch: BuildWatch | None = None) -> float:
        return 0.0  # the server and local mode index as they go: nothing to wait for or report

    def close(self) -> None:
        with self._errors("close"):
            self.client.close()
