"""Backend on qdrant-client: a Qdrant server or cluster, or qdrant-client's local mode.

Metadata documents (collection schema, weight profiles) live as payload-only points in one
sidecar collection, :data:`META_COLLECTION`, so that every process connected to the same Qdrant
sees them. Aliases are Qdrant's own.

A vector with ``quantization="int8"`` gets Qdrant's scalar quantization (int8, quantile 0.99,
``always_ram``). Searches send ``QueryPlan.quantization`` as ``SearchParams.quantization`` on a
server; local mode stores the quantization config but searches exactly (brute force on the
float32 vectors), so it never sends search parameters.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from qdrant_mm.backends.base import (
    INT8_QUANTILE,
    CollectionSpec,
    Hit,
    PointRecord,
    QuantizationSearch,
    QueryPlan,
    StoredPoint,
    VectorSpec,
)
from qdrant_mm.errors import BackendError, QueryError

META_COLLECTION = "qdrant_mm_meta"
_META_NS = uuid.UUID("0d7c4a55-2b61-4f0e-8f7c-3f1f0b6c9e21")

_DISTANCE = {"cosine": models.Distance.COSINE, "dot": models.Distance.DOT}
_INDEX = {
    "keyword": models.PayloadSchemaType.KEYWORD,
    "float": models.PayloadSchemaType.FLOAT,
    "integer": models.PayloadSchemaType.INTEGER,
}


def _meta_id(key: str) -> str:
    return str(uuid.uuid5(_META_NS, key))


def _as_list(v: np.ndarray | Sequence[float]) -> list[float]:
    return np.asarray(v, dtype=np.float32).tolist()


def _vector_params(v: VectorSpec) -> models.VectorParams:
    quantization = None
    if v.quantization == "int8":
        quantization = models.ScalarQuantization(
            scalar=models.ScalarQuantizationConfig(
                type=models.ScalarType.INT8, quantile=INT8_QUANTILE, always_ram=True
            )
        )
    elif v.quantization is not None:
        raise BackendError(f"named vector {v.name!r}: unknown quantization {v.quantization!r}")
    return models.VectorParams(
        size=v.dim, distance=_DISTANCE[v.distance], quantization_config=quantization
    )


def _quantization_params(q: QuantizationSearch | None) -> models.QuantizationSearchParams | None:
    if q is None:
        return None
    if q.oversampling is not None and not (np.isfinite(q.oversampling) and q.oversampling >= 1):
        raise QueryError(f"oversampling must be a number >= 1, got {q.oversampling!r}")
    return models.QuantizationSearchParams(rescore=q.rescore, oversampling=q.oversampling)


def _unit(vec: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm > 0 else vec


def _vectors(raw: Any, names: Sequence[str]) -> dict[str, np.ndarray]:
    if not names or not isinstance(raw, dict):
        return {}
    return {n: np.asarray(raw[n], dtype=np.float32) for n in names if n in raw}


class QdrantClientBackend:
    """Storage on a Qdrant server (``url``) or in qdrant-client's local mode (``path``)."""

    def __init__(self, client: QdrantClient, name: str = "server") -> None:
        self.client = client
        self.name = name

    @classmethod
    def connect(cls, url: str, api_key: str | None = None, timeout: float = 30.0):
        return cls(QdrantClient(url=url, api_key=api_key, timeout=int(timeout)), "server")

    @classmethod
    def local(cls, path) -> QdrantClientBackend:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # local mode warns about large collections
            return cls(QdrantClient(path=str(path)), "local")

    # --- collections & aliases ---------------------------------------------------------------
    def collection_exists(self, collection: str) -> bool:
        return self.resolve(collection) is not None

    def create_collection(self, collection: str, spec: CollectionSpec) -> None:
        self.client.create_collection(
            collection,
            vectors_config={v.name: _vector_params(v) for v in spec.vectors},
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # local mode: "payload indexes have no effect"
            for field, kind in spec.payload_indexes.items():
                self.client.create_payload_index(collection, field, field_schema=_INDEX[kind])

    def delete_collection(self, collection: str) -> None:
        self.client.delete_collection(collection)

    def _aliases(self) -> dict[str, str]:
        return {a.alias_name: a.collection_name for a in self.client.get_aliases().aliases}

    def resolve(self, collection: str) -> str | None:
        target = self._aliases().get(collection)
        if target is not None:
            return target
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
        self.client.update_collection_aliases(change_aliases_operations=ops)
        return previous

    # --- metadata documents --------------------------------------------------------------------
    def _ensure_meta(self) -> None:
        if not self.client.collection_exists(META_COLLECTION):
            self.client.create_collection(META_COLLECTION, vectors_config={})

    def read_meta(self, key: str) -> dict[str, Any] | None:
        # One round trip (this runs on every query for the default profile): a missing meta
        # collection answers 404 on a server and ValueError in local mode.
        try:
            got = self.client.retrieve(META_COLLECTION, [_meta_id(key)], with_payload=True)
        except UnexpectedResponse as exc:
            if exc.status_code == 404:
                return None
            raise
        except ValueError:
            if self.name == "local" and not self.client.collection_exists(META_COLLECTION):
                return None
            raise
        return dict(got[0].payload["value"]) if got else None

    def write_meta(self, key: str, value: dict[str, Any]) -> None:
        self._ensure_meta()
        self.client.upsert(
            META_COLLECTION,
            [models.PointStruct(id=_meta_id(key), vector={}, payload={"key": key, "value": value})],
            wait=True,
        )

    def delete_meta(self, key: str) -> bool:
        if self.read_meta(key) is None:
            return False
        self.client.delete(META_COLLECTION, models.PointIdsList(points=[_meta_id(key)]), wait=True)
        return True

    def list_meta(self, prefix: str) -> dict[str, dict[str, Any]]:
        if not self.client.collection_exists(META_COLLECTION):
            return {}
        out: dict[str, dict[str, Any]] = {}
        offset = None
        while True:
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
        self.client.upsert(
            collection,
            [
                models.PointStruct(
                    id=p.id,
                    vector={k: _as_list(v) for k, v in p.vectors.items()},
                    payload=p.payload,
                )
                for p in points
            ],
            wait=True,
        )

    def delete(self, collection: str, ids: Sequence[str]) -> None:
        if ids:
            self.client.delete(collection, models.PointIdsList(points=list(ids)), wait=True)

    def scroll_payload(
        self, collection: str, fields: Sequence[str], batch: int = 1024
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        offset = None
        while True:
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
        got = self.client.retrieve(
            collection, list(ids), with_payload=True, with_vectors=list(with_vectors) or False
        )
        return [
            StoredPoint(str(r.id), dict(r.payload or {}), _vectors(r.vector, with_vectors))
            for r in got
        ]

    def count(self, collection: str, filter: models.Filter | None = None) -> int:
        return self.client.count(collection, count_filter=filter, exact=True).count

    def query(self, collection: str, plan: QueryPlan) -> list[Hit]:
        params = models.SearchParams(
            hnsw_ef=plan.hnsw_ef,
            exact=plan.exact,
            quantization=_quantization_params(plan.quantization),
        )
        prefetch = [
            models.Prefetch(
                query=_as_list(p.vector),
                using=p.using,
                limit=p.limit,
                filter=plan.filter,
                params=params if self.name != "local" else None,
            )
            for p in plan.prefetch
        ]
        resp = self.client.query_points(
            collection,
            query=_as_list(plan.vector),
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
            with_vectors=list(dict.fromkeys([*plan.with_vectors, *plan.score_vectors])) or False,
        )
        queries = {
            name: _unit(np.asarray(vec, dtype=np.float32))
            for name, vec in plan.score_vectors.items()
        }
        hits = []
        for p in resp.points:
            stored = _vectors(p.vector, list(queries))
            hits.append(
                Hit(
                    str(p.id),
                    float(p.score),
                    dict(p.payload or {}),
                    _vectors(p.vector, plan.with_vectors),
                    {
                        name: float(_unit(stored[name]) @ q)
                        for name, q in queries.items()
                        if name in stored
                    },
                )
            )
        return hits

    def optimize(self, collection: str) -> float:
        return 0.0  # the server and local mode index as they go

    def close(self) -> None:
        self.client.close()
