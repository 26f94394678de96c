"""EdgeBackend on its own: storage layout, emulated server features, exactness of queries."""

from __future__ import annotations

import datetime as dt
import os
import sys
import threading
import uuid

import numpy as np
import pytest
from qdrant_client import models

from qdrant_mm.backends.base import (
    CollectionSpec,
    PointRecord,
    Prefetch,
    QueryPlan,
    VectorSpec,
)
from qdrant_mm.backends.edge import EdgeBackend
from qdrant_mm.errors import (
    BackendError,
    BackendUnavailableError,
    CollectionNotFoundError,
    QueryError,
    StoredStateError,
)

DIMS = {"blip": 6, "clip": 8, "interrogator": 8, "fused": 22}
CATS = ["shoes", "hats", "bags"]


def spec() -> CollectionSpec:
    return CollectionSpec(
        vectors=tuple(
            VectorSpec(name, dim, "dot" if name == "fused" else "cosine")
            for name, dim in DIMS.items()
        ),
        payload_indexes={"category": "keyword", "price": "float", "stock": "integer"},
    )


class Data:
    """``n`` random points with payload, and brute-force answers computed with numpy."""

    def __init__(self, n: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.ids = [str(uuid.UUID(bytes=rng.bytes(16))) for _ in range(n)]
        self.vectors = {
            name: rng.standard_normal((n, dim)).astype(np.float32) for name, dim in DIMS.items()
        }
        self.category = np.array([CATS[i % 3] for i in range(n)])
        self.price = np.round(rng.uniform(1, 100, n), 2)
        self.stock = rng.integers(0, 5, n)

    def payload(self, i: int) -> dict:
        p = {
            "product_id": f"p{i}",
            "category": str(self.category[i]),
            "price": float(self.price[i]),
            "stock": int(self.stock[i]),
        }
        if i % 10 == 0:
            p["tags"] = []
        elif i % 10 == 1:
            p["tags"] = ["sale", "new"]
        return p

    def records(self) -> list[PointRecord]:
        return [
            PointRecord(self.ids[i], {k: v[i] for k, v in self.vectors.items()}, self.payload(i))
            for i in range(len(self.ids))
        ]

    def scores(self, using: str, q: np.ndarray) -> np.ndarray:
        m = self.vectors[using]
        if using != "fused":  # cosine: Qdrant normalises stored and query vectors
            m = m / np.linalg.norm(m, axis=1, keepdims=True)
            q = q / np.linalg.norm(q)
        return m @ q

    def top(self, scores: np.ndarray, mask: np.ndarray | None, k: int, offset: int = 0):
        s = scores.copy()
        if mask is not None:
            s[~mask] = -np.inf
        order = [i for i in np.argsort(-s, kind="stable") if np.isfinite(s[i])]
        return order[offset : offset + k]


def new_backend(path, **kw) -> EdgeBackend:
    pytest.importorskip("qdrant_edge")  # only the missing-package test runs without it
    return EdgeBackend(path, **kw)


@pytest.fixture
def edge(tmp_path):
    b = new_backend(tmp_path / "edge")
    yield b
    b.close()


@pytest.fixture
def filled(edge):
    data = Data(300)
    edge.create_collection("products_v1", spec())
    edge.upsert("products_v1", data.records())
    return edge, data


def plan(data_q: np.ndarray, **kw) -> QueryPlan:
    return QueryPlan(using="fused", vector=data_q, **kw)


# --- collections ---------------------------------------------------------------------------------
def test_create_exists_delete(edge, tmp_path):
    assert not edge.collection_exists("c1")
    assert edge.resolve("c1") is None
    edge.create_collection("c1", spec())
    assert edge.collection_exists("c1")
    assert edge.resolve("c1") == "c1"
    assert (tmp_path / "edge" / "collections" / "c1" / "edge_config.json").is_file()
    assert edge.shard_info("c1")["payload_indexes"] == {
        "category": "Keyword",
        "price": "Float",
        "stock": "Integer",
    }
    with pytest.raises(BackendError, match="already exists"):
        edge.create_collection("c1", spec())
    edge.delete_collection("c1")
    assert not edge.collection_exists("c1")
    assert not (tmp_path / "edge" / "collections" / "c1").exists()
    edge.delete_collection("c1")  # absent: no error
    edge.create_collection("c1", spec())  # the name is free again
    assert edge.count("c1") == 0


@pytest.mark.parametrize("bad", ["", "a/b", "../x", ".hidden", "x" * 256, "a:b"])
def test_invalid_collection_names_are_refused(edge, bad):
    with pytest.raises(BackendError, match="invalid collection name"):
        edge.create_collection(bad, spec())
    assert edge.resolve(bad) is None


def test_operations_on_a_missing_collection(edge):
    with pytest.raises(CollectionNotFoundError, match="does not exist"):
        edge.count("nope")
    with pytest.raises(CollectionNotFoundError, match="does not exist"):
        edge.query("nope", plan(np.ones(22, np.float32), limit=3))


# --- points --------------------------------------------------------------------------------------
def test_upsert_retrieve_round_trip(filled):
    edge, data = filled
    assert edge.count("products_v1") == 300
    missing = str(uuid.uuid4())
    got = edge.retrieve(
        "products_v1", [data.ids[5], missing, data.ids[2], data.ids[5]], ["fused", "clip"]
    )
    assert [p.id for p in got] == [data.ids[5], data.ids[2]]  # requested order, missing skipped
    p = got[0]
    assert p.payload == data.payload(5)
    assert set(p.vectors) == {"fused", "clip"}
    assert p.vectors["fused"].dtype == np.float32
    np.testing.assert_allclose(p.vectors["fused"], data.vectors["fused"][5], rtol=1e-6)
    clip = data.vectors["clip"][5]
    np.testing.assert_allclose(p.vectors["clip"], clip / np.linalg.norm(clip), rtol=1e-5)
    assert edge.retrieve("products_v1", [data.ids[0]])[0].vectors == {}
    assert edge.retrieve("products_v1", []) == []


def test_upsert_overwrites_and_ids_are_canonical(filled):
    edge, data = filled
    rec = data.records()[7]
    rec.payload = {"category": "hats", "price": 1.0}
    rec.id = rec.id.upper()  # Qdrant canonicalises UUIDs
    edge.upsert("products_v1", [rec])
    assert edge.count("products_v1") == 300
    (p,) = edge.retrieve("products_v1", [data.ids[7]])
    assert p.id == data.ids[7] and p.payload == {"category": "hats", "price": 1.0}
    with pytest.raises(BackendError, match="not a UUID"):
        edge.upsert("products_v1", [PointRecord("p-1", rec.vectors, {})])


def test_upsert_wrong_dimension_is_refused(edge):
    edge.create_collection("c", spec())
    vecs = {name: np.ones(dim, np.float32) for name, dim in DIMS.items()}
    vecs["fused"] = np.ones(5, np.float32)
    with pytest.raises(BackendError, match="dim"):
        edge.upsert("c", [PointRecord(str(uuid.uuid4()), vecs, {})])


def test_scroll_payload(filled):
    edge, data = filled
    rows = list(edge.scroll_payload("products_v1", ["product_id", "tags"], batch=7))
    assert len(rows) == 300
    assert {pid for pid, _ in rows} == set(data.ids)
    by_id = dict(rows)
    assert by_id[data.ids[3]] == {"product_id": "p3"}  # no tags there: field absent
    assert by_id[data.ids[1]] == {"product_id": "p1", "tags": ["sale", "new"]}
    bare = list(edge.scroll_payload("products_v1", []))
    assert len(bare) == 300 and all(pl == {} for _, pl in bare)


def test_count_with_filter_and_delete(filled):
    edge, data = filled
    hats = models.Filter(
        must=[models.FieldCondition(key="category", match=models.MatchValue(value="hats"))]
    )
    assert edge.count("products_v1", hats) == int((data.category == "hats").sum())
    gone = [data.ids[i] for i in range(0, 300, 3)]  # every "shoes"
    edge.delete("products_v1", gone + [str(uuid.uuid4())])
    assert edge.count("products_v1") == 200
    assert edge.retrieve("products_v1", gone[:3]) == []
    shoes = models.Filter(
        must=[models.FieldCondition(key="category", match=models.MatchValue(value="shoes"))]
    )
    assert edge.count("products_v1", shoes) == 0
    edge.delete("products_v1", [])


# --- queries -------------------------------------------------------------------------------------
def _check(hits, data, scores, expected):
    assert [h.id for h in hits] == [data.ids[i] for i in expected]
    np.testing.assert_allclose([h.score for h in hits], scores[expected], rtol=1e-5, atol=1e-5)


def test_query_equals_brute_force_exact(filled):
    edge, data = filled
    rng = np.random.default_rng(1)
    for _ in range(5):
        q = rng.standard_normal(22).astype(np.float32)
        s = data.scores("fused", q)
        hits = edge.query("products_v1", plan(q, limit=10, exact=True, with_vectors=("fused",)))
        _check(hits, data, s, data.top(s, None, 10))
        assert hits[0].payload == data.payload(data.ids.index(hits[0].id))
        np.testing.assert_allclose(
            hits[0].vectors["fused"], data.vectors["fused"][data.ids.index(hits[0].id)]
        )
        # default (no index yet: full scan) agrees too
        _check(edge.query("products_v1", plan(q, limit=10)), data, s, data.top(s, None, 10))
    q = rng.standard_normal(8).astype(np.float32)
    s = data.scores("clip", q)
    hits = edge.query("products_v1", QueryPlan(using="clip", vector=q, limit=5, exact=True))
    _check(hits, data, s, data.top(s, None, 5))


def test_query_equals_brute_force_hnsw_after_optimize(tmp_path):
    data = Data(400, seed=3)
    with new_backend(tmp_path / "e", indexing_threshold_kb=1, full_scan_threshold_kb=1) as edge:
        edge.create_collection("c", spec())
        edge.upsert("c", data.records())
        edge.optimize("c")
        info = edge.shard_info("c")
        assert info["points"] == 400 and info["indexed_vectors"] >= 400  # HNSW was built
        rng = np.random.default_rng(4)
        for _ in range(5):
            q = rng.standard_normal(22).astype(np.float32)
            s = data.scores("fused", q)
            hits = edge.query("c", plan(q, limit=10, hnsw_ef=512))
            _check(hits, data, s, data.top(s, None, 10))
            hits = edge.query("c", plan(q, limit=10, exact=True))
            _check(hits, data, s, data.top(s, None, 10))


FILTERS = {
    "match": (
        models.Filter(
            must=[models.FieldCondition(key="category", match=models.MatchValue(value="bags"))]
        ),
        lambda d: d.category == "bags",
    ),
    "any+range": (
        models.Filter(
            must=[
                models.FieldCondition(key="category", match=models.MatchAny(any=["bags", "hats"])),
                models.FieldCondition(key="price", range=models.Range(gte=20, lt=70)),
            ]
        ),
        lambda d: np.isin(d.category, ["bags", "hats"]) & (d.price >= 20) & (d.price < 70),
    ),
    "except/must_not/should": (
        models.Filter(
            must=[
                models.FieldCondition(
                    key="category", match=models.MatchExcept(**{"except": ["shoes"]})
                )
            ],
            must_not=[models.FieldCondition(key="stock", match=models.MatchValue(value=0))],
            should=[
                models.FieldCondition(key="price", range=models.Range(lte=30)),
                models.FieldCondition(key="price", range=models.Range(gt=80)),
            ],
        ),
        lambda d: (d.category != "shoes") & (d.stock != 0) & ((d.price <= 30) | (d.price > 80)),
    ),
    "nested filter": (
        models.Filter(
            must_not=[
                models.Filter(
                    should=[
                        models.FieldCondition(
                            key="category", match=models.MatchValue(value="hats")
                        ),
                        models.FieldCondition(key="stock", range=models.Range(gte=3)),
                    ]
                )
            ]
        ),
        lambda d: ~((d.category == "hats") | (d.stock >= 3)),
    ),
    "is_empty": (
        models.Filter(must=[models.IsEmptyCondition(is_empty=models.PayloadField(key="tags"))]),
        lambda d: np.arange(len(d.ids)) % 10 != 1,
    ),
    "is_null": (
        models.Filter(must_not=[models.IsNullCondition(is_null=models.PayloadField(key="price"))]),
        lambda d: np.ones(len(d.ids), bool),
    ),
}


@pytest.mark.parametrize("name", list(FILTERS))
def test_filter_and_pagination_match_brute_force(filled, name):
    edge, data = filled
    flt, mask_of = FILTERS[name]
    mask = mask_of(data)
    assert edge.count("products_v1", flt) == int(mask.sum())
    q = np.random.default_rng(5).standard_normal(22).astype(np.float32)
    s = data.scores("fused", q)
    pages = []
    for page in range(3):
        hits = edge.query("products_v1", plan(q, limit=8, offset=8 * page, filter=flt, exact=True))
        _check(hits, data, s, data.top(s, mask, 8, 8 * page))
        pages += [h.id for h in hits]
    assert len(set(pages)) == len(pages)  # pages do not overlap


def test_has_id_filter(filled):
    edge, data = filled
    some = [data.ids[i] for i in (4, 40, 140)]
    flt = models.Filter(must=[models.HasIdCondition(has_id=some)])
    assert edge.count("products_v1", flt) == 3
    hits = edge.query("products_v1", plan(np.ones(22, np.float32), limit=10, filter=flt))
    assert sorted(h.id for h in hits) == sorted(some)


def test_other_filter_kinds(edge):
    edge.create_collection("c", spec())
    payloads = [
        {"added": "2024-01-05T10:00:00Z", "offers": [{"shop": "a", "price": 5}], "t": "red shoe"},
        {"added": "2024-03-01T00:00:00Z", "offers": [{"shop": "b", "price": 9}], "t": "blue hat"},
        {"added": "2024-06-01T00:00:00Z", "offers": [], "sku": None},
    ]
    recs = [
        PointRecord(str(uuid.uuid4()), {n: np.ones(d, np.float32) for n, d in DIMS.items()}, p)
        for p in payloads
    ]
    edge.upsert("c", recs)
    fc = models.FieldCondition
    cases = {
        1: fc(
            key="added", range=models.DatetimeRange(gte=dt.datetime(2024, 2, 1), lt="2024-05-01")
        ),
        2: fc(key="offers", values_count=models.ValuesCount(gte=1)),
        3: models.NestedCondition(
            nested=models.Nested(
                key="offers",
                filter=models.Filter(
                    must=[
                        fc(key="shop", match=models.MatchValue(value="b")),
                        fc(key="price", range=models.Range(gt=8)),
                    ]
                ),
            )
        ),
        4: fc(key="t", match=models.MatchText(text="shoe")),
        5: fc(key="sku", is_null=True),
        6: models.HasVectorCondition(has_vector="fused"),
    }
    expected = {1: 1, 2: 2, 3: 1, 4: 1, 5: 1, 6: 3}
    for i, cond in cases.items():
        assert edge.count("c", models.Filter(must=[cond])) == expected[i], i
    min_should = models.Filter(
        min_should=models.MinShould(conditions=[cases[2], cases[4], cases[5]], min_count=2)
    )
    assert edge.count("c", min_should) == 1
    assert edge.count("c", {"must": [{"key": "t", "match": {"text": "hat"}}]}) == 1  # dict form


def test_unconvertible_filters_raise_query_error(filled):
    edge, _ = filled
    with pytest.raises(QueryError, match="no condition"):
        edge.count("products_v1", models.Filter(must=[models.FieldCondition(key="price")]))
    with pytest.raises(QueryError, match="not supported"):
        edge.count("products_v1", models.Filter.model_construct(must=["price > 3"]))
    with pytest.raises(QueryError, match="has_id"):
        edge.count("products_v1", models.Filter(must=[models.HasIdCondition(has_id=["nope"])]))
    # Edge 0.9 would read True as the integer 1 and match no boolean value: refused
    on_sale = models.FieldCondition(key="on_sale", match=models.MatchValue(value=True))
    with pytest.raises(QueryError, match="true/false"):
        edge.count("products_v1", models.Filter(must=[on_sale]))


def test_bad_query_input_raises_query_error(filled):
    edge, _ = filled
    with pytest.raises(QueryError, match="dim"):
        edge.query("products_v1", plan(np.ones(5, np.float32), limit=3))
    with pytest.raises(QueryError, match="limit"):
        edge.query("products_v1", plan(np.ones(22, np.float32), limit=0))
    with pytest.raises(QueryError):
        edge.query("products_v1", QueryPlan(using="nope", vector=np.ones(22), limit=3))


def test_prefetch_union_is_rescored_exactly(tmp_path):
    data = Data(300, seed=7)
    # HNSW with a tiny full-scan threshold: the case where Edge's rescoring would otherwise
    # search the candidates with HNSW and lose some.
    with new_backend(tmp_path / "e", indexing_threshold_kb=1, full_scan_threshold_kb=1) as edge:
        edge.create_collection("c", spec())
        edge.upsert("c", data.records())
        edge.optimize("c")
        rng = np.random.default_rng(8)
        flt, mask_of = FILTERS["any+range"]
        for mask, f in [(None, None)] * 4 + [(mask_of(data), flt)] * 4:
            qs = {name: rng.standard_normal(dim).astype(np.float32) for name, dim in DIMS.items()}
            prefetch = tuple(
                Prefetch(name, qs[name], 15) for name in ("blip", "clip", "interrogator")
            )
            union: set[int] = set()
            for p in prefetch:
                union |= set(data.top(data.scores(p.using, p.vector), mask, 15))
            s = data.scores("fused", qs["fused"])
            in_union = np.zeros(len(data.ids), bool)
            in_union[list(union)] = True
            everything = edge.query(
                "c", plan(qs["fused"], limit=100, prefetch=prefetch, filter=f, exact=True)
            )
            _check(everything, data, s, data.top(s, in_union, 100))
            assert len(everything) == len(union)
            page = edge.query(
                "c", plan(qs["fused"], limit=5, offset=4, prefetch=prefetch, filter=f, hnsw_ef=64)
            )
            _check(page, data, s, data.top(s, in_union, 5, 4))


def test_concurrent_queries_and_writes(filled):
    edge, data = filled
    errors: list[BaseException] = []
    q = np.random.default_rng(9).standard_normal(22).astype(np.float32)
    expected = [h.id for h in edge.query("products_v1", plan(q, limit=5, exact=True))]

    def reader():
        try:
            for _ in range(30):
                assert [
                    h.id for h in edge.query("products_v1", plan(q, limit=5, exact=True))
                ] == expected
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def writer():
        try:
            for rec in data.records()[:30]:
                edge.upsert("products_v1", [rec])
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)] + [
        threading.Thread(target=writer)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# --- aliases, metadata, persistence ------------------------------------------------------------
def test_aliases(edge):
    edge.create_collection("products--1", spec())
    edge.create_collection("products--2", spec())
    assert edge.switch_alias("products", "products--1") is None
    assert edge.resolve("products") == "products--1"
    assert edge.collection_exists("products")
    edge.upsert("products", Data(3).records())  # alias accepted everywhere
    assert edge.count("products--1") == 3
    assert edge.switch_alias("products", "products--2") == "products--1"
    assert edge.count("products") == 0
    with pytest.raises(BackendError, match="no such collection"):
        edge.switch_alias("products", "missing")
    with pytest.raises(BackendError, match="a collection has that name"):
        edge.switch_alias("products--1", "products--2")
    with pytest.raises(BackendError, match="an alias has that name"):
        edge.create_collection("products", spec())
    edge.delete_collection("products")  # through the alias: collection and alias go
    assert edge.resolve("products") is None
    assert not edge.collection_exists("products--2")
    assert edge.list_aliases() == {}
    assert edge.list_collections() == ["products--1"]


def test_alias_changes_by_another_process_are_seen_at_once(tmp_path, monkeypatch):
    """Aliases are read from a cache keyed by the file's identity: an unchanged file is not
    parsed again, a switch written by another store on the same folder (another process) is
    seen by the next read, and so is a rewrite in place of the same size with a new mtime;
    the cached dict cannot be changed through what a read returns."""
    import json as real_json
    from types import SimpleNamespace

    from qdrant_mm.backends.edge import store as store_module
    from qdrant_mm.backends.edge.store import ALIASES, JsonStore

    parses = []

    def loads(text):
        parses.append(text)
        return real_json.loads(text)

    monkeypatch.setattr(store_module, "json", SimpleNamespace(loads=loads, dumps=real_json.dumps))
    root = tmp_path / "store"
    root.mkdir()
    reader, writer = JsonStore(root), JsonStore(root)
    assert reader.read_aliases() == {}
    writer.update_aliases(lambda a: a.update(products="products--1"))
    parsed = len(parses)
    assert reader.read_aliases() == {"products": "products--1"}
    assert len(parses) == parsed + 1
    for _ in range(3):  # unchanged: answered from the cache
        assert reader.read_aliases() == {"products": "products--1"}
    assert len(parses) == parsed + 1
    got = reader.read_aliases()
    got["products"] = "tampered"
    assert reader.read_aliases() == {"products": "products--1"}
    for target in ("products--2", "products--3", "products--1"):  # same size each time
        writer.update_aliases(lambda a, t=target: a.update(products=t))
        assert reader.read_aliases() == {"products": target}
    # rewritten in place (same inode, same size), with a later mtime
    path = root / ALIASES
    before = path.stat()
    path.write_text(path.read_text().replace("products--1", "products--9"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))
    assert path.stat().st_ino == before.st_ino and path.stat().st_size == before.st_size
    assert reader.read_aliases() == {"products": "products--9"}
    writer.update_aliases(lambda a: a.clear())
    assert reader.read_aliases() == {}


KEYS = [
    "collection:products_v1",
    "profile:products:default",
    "profile:products:Default",  # differs only in case
    "weird/../../key with spaces/ünïcode",
    "x" * 600,
]


def test_metadata(edge):
    assert edge.read_meta("collection:nope") is None
    for i, key in enumerate(KEYS):
        edge.write_meta(key, {"i": i, "nested": {"a": [1, 2.5, None, "é"]}})
    for i, key in enumerate(KEYS):
        assert edge.read_meta(key) == {"i": i, "nested": {"a": [1, 2.5, None, "é"]}}
    edge.write_meta(KEYS[0], {"i": 99})
    assert edge.read_meta(KEYS[0]) == {"i": 99}
    assert set(edge.list_meta("profile:products:")) == {KEYS[1], KEYS[2]}
    assert len(edge.list_meta("")) == len(KEYS)
    assert edge.delete_meta(KEYS[1]) is True
    assert edge.delete_meta(KEYS[1]) is False
    assert edge.read_meta(KEYS[1]) is None
    with pytest.raises(BackendError, match="JSON"):
        edge.write_meta("bad", {"x": object()})
    assert list((edge.path / "meta").glob("*.tmp")) == []


def test_metadata_files_damaged_by_hand_are_said_not_read_as_absent(edge):
    """A profile file edited into another shape was read as "no profile" (the search then
    used the default weights, silently); one nested too deeply crashed the reader."""
    key = "profile:products:default"
    edge.write_meta(key, {"weights": {"clip": 1.0}})
    edge.write_meta("profile:products:other", {"weights": {"blip": 1.0}})
    path = edge._store.meta_path(key)
    for content, words in [
        ('{"key": "profile:products:default", "value": [1, 2, 3]}', "holds no document"),
        ('{"key": "profile:products:summer", "value": {}}', "holds another key"),
        ("[1, 2]", "holds no document"),
    ]:
        path.write_text(content)
        with pytest.raises(StoredStateError, match=f"metadata {key!r} cannot be trusted.*{words}"):
            edge.read_meta(key)
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(BackendError, match="nested too deeply"):
        edge.read_meta(key)
    # a listing skips the unreadable file and keeps the others
    assert set(edge.list_meta("profile:products:")) == {"profile:products:other"}


def test_everything_persists_across_reopen(tmp_path):
    data = Data(50)
    q = np.random.default_rng(2).standard_normal(22).astype(np.float32)
    first = new_backend(tmp_path / "edge")
    first.create_collection("products--1", spec())
    first.upsert("products", data.records()[:0])  # alias missing yet: nothing to write
    first.switch_alias("products", "products--1")
    first.upsert("products", data.records())
    first.write_meta("profile:products:default", {"weights": {"clip": 1.0}})
    before = first.query("products", plan(q, limit=5))
    # a second owner of an open shard is refused (Edge locks its write-ahead log)
    second = new_backend(tmp_path / "edge")
    assert second.resolve("products") == "products--1"
    with pytest.raises(BackendError, match="already open"):
        second.count("products")
    second.close()
    first.close()
    with pytest.raises(BackendError, match="closed"):
        first.count("products")
    first.close()  # idempotent

    again = new_backend(tmp_path / "edge")
    try:
        assert again.resolve("products") == "products--1"
        assert again.count("products") == 50
        assert again.read_meta("profile:products:default") == {"weights": {"clip": 1.0}}
        assert [(h.id, h.score) for h in again.query("products", plan(q, limit=5))] == [
            (h.id, h.score) for h in before
        ]
        assert again.shard_info("products")["payload_indexes"]["category"] == "Keyword"
    finally:
        again.close()


def test_missing_package_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "qdrant_edge", None)  # makes `import qdrant_edge` fail
    with pytest.raises(BackendUnavailableError) as err:
        EdgeBackend(tmp_path / "edge")
    msg = str(err.value)
    assert 'pip install "qdrant-edge-py>=0.9,<0.10"' in msg
    assert "QDRANT_MM_BACKEND=local" in msg
