"""Collection layouts: new collections store ``fused`` alone (one graph), one row per photo;
collections of the earlier layouts (four named vectors, created before the layout was recorded;
``fused`` as one plain vector, created before photo lists) keep being synced and searched with
what they have, and ``sync --rebuild`` moves them to the current layout."""

from __future__ import annotations

import numpy as np
import pytest

from qdrant_mm.catalog import point_id
from qdrant_mm.collection import create_physical, new_physical_name, read_collection_meta
from qdrant_mm.schema import (
    FUSED,
    LAYOUT,
    LAYOUT_CHANNELS,
    LAYOUT_FUSED,
    LAYOUT_PHOTOS,
    VECTORS_FROM,
    collection_spec,
    layout_for,
    vector_names,
)
from qdrant_mm.search import Searcher
from qdrant_mm.sync import Syncer
from qdrant_mm.weights import CHANNELS, Weights
from tests.backends import backend, collection_name  # noqa: F401 (fixtures)
from tests.fakes import fake_bundle
from tests.helpers import collection_written_without, product_rows, write_catalog


def test_the_current_layout_is_one_fused_graph_without_payload_links():
    dims = {"blip": 4, "clip": 6, "interrogator": 6}
    spec = collection_spec(dims, "int8")
    assert LAYOUT == LAYOUT_FUSED
    assert [v.name for v in spec.vectors] == [FUSED]
    (fused,) = spec.vectors
    assert fused.dim == 16 and fused.distance == "dot" and fused.quantization == "int8"
    assert not fused.multivector
    photos = collection_spec(dims, "int8", layout=LAYOUT_PHOTOS)
    (rows,) = photos.vectors
    assert rows.multivector and photos.payload_indexes[VECTORS_FROM] == "keyword"
    # a new collection has one row per photo only when a product has several
    assert layout_for([1, 0, 1]) == LAYOUT_FUSED and layout_for([1, 3, 0]) == LAYOUT_PHOTOS
    assert fused.hnsw is not None and fused.hnsw.payload_m == 0
    assert spec.payload_graph == frozenset() and "category" in spec.payload_indexes
    old = collection_spec(dims, "int8", layout=LAYOUT_CHANNELS)
    assert [v.name for v in old.vectors] == [*CHANNELS, FUSED]
    assert old.payload_graph is None and all(v.hnsw is None for v in old.vectors)


def test_metadata_written_before_layouts_existed_reads_as_the_first_layout(backend):  # noqa: F811
    physical = collection_written_without(backend, "layout", LAYOUT_CHANNELS)
    assert read_collection_meta(backend, physical).layout == LAYOUT_CHANNELS


def _exact(store, name, bundle, q, w: Weights):
    """Brute-force ranking of every stored product by the weighted score, from the stored
    fused vectors."""
    dims = bundle.dims()
    ids = [pid for pid, _ in store.scroll_payload(name, ("product_id",))]
    stored = store.retrieve(name, ids, (FUSED,))
    fused = np.stack([np.atleast_2d(sp.vectors[FUSED])[0] for sp in stored])  # one photo each
    per, start = {}, 0
    for ch in CHANNELS:
        per[ch] = fused[:, start : start + dims[ch]] @ q[ch]
        start += dims[ch]
    score = sum(getattr(w, ch) * per[ch] for ch in CHANNELS)
    order = np.argsort(-score, kind="stable")
    return [stored[i].payload["product_id"] for i in order], per, stored


def _query(bundle, seed):
    rng = np.random.default_rng(seed)
    out = {}
    for ch, d in bundle.dims().items():
        v = rng.standard_normal(d).astype(np.float32)
        out[ch] = v / np.linalg.norm(v)
    return out


@pytest.mark.parametrize("layout", [LAYOUT_PHOTOS, LAYOUT_FUSED, LAYOUT_CHANNELS])
def test_sync_and_search_use_what_the_collection_has(tmp_path, backend, collection_name, layout):  # noqa: F811
    bundle = fake_bundle()
    if layout != LAYOUT:  # a collection made before the current layout
        physical = new_physical_name(collection_name)
        create_physical(backend, physical, bundle.model_ids(), bundle.dims(), layout=layout)
        backend.switch_alias(collection_name, physical)
    Syncer(backend, bundle, collection_name).sync(write_catalog(tmp_path, product_rows(12)))
    physical = backend.resolve(collection_name)
    assert read_collection_meta(backend, physical).layout == layout
    names = vector_names(layout)
    assert names == ((FUSED,) if layout != LAYOUT_CHANNELS else (*CHANNELS, FUSED))
    (point,) = backend.retrieve(physical, [point_id("p3")], names)
    assert set(point.vectors) == set(names)

    searcher = Searcher(backend, bundle, collection_name, exact=False, exact_below=0)
    for seed, raw in enumerate(["1,1,1", "0,1,0", "0.7,0.2,0.1", "1,0,0"]):
        w = Weights.parse(raw)
        q = _query(bundle, seed)
        want, per, stored = _exact(backend, physical, bundle, q, w)
        hits = searcher.search_vectors(q, w, limit=5)
        assert [h.id for h in hits] == want[:5]
        by_id = {sp.payload["product_id"]: i for i, sp in enumerate(stored)}
        for h in hits:
            for ch in CHANNELS:
                assert h.scores[ch] == pytest.approx(float(per[ch][by_id[h.id]]), abs=1e-5)
        # a payload-only change keeps the vectors the layout has
    rows = product_rows(12)
    rows[3]["price"] = 99.0
    Syncer(backend, bundle, collection_name).sync(write_catalog(tmp_path, rows))
    (again,) = backend.retrieve(physical, [point_id("p3")], names)
    assert again.payload["price"] == 99.0 and set(again.vectors) == set(point.vectors)
    assert np.allclose(again.vectors[FUSED], point.vectors[FUSED])


def test_rebuild_moves_a_first_layout_collection_to_the_current_one(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
):
    bundle = fake_bundle()
    physical = new_physical_name(collection_name)
    create_physical(backend, physical, bundle.model_ids(), bundle.dims(), layout=LAYOUT_CHANNELS)
    backend.switch_alias(collection_name, physical)
    catalog = write_catalog(tmp_path, product_rows(6))
    Syncer(backend, bundle, collection_name).sync(catalog)
    Syncer(backend, bundle, collection_name).sync(catalog, rebuild=True)
    rebuilt = backend.resolve(collection_name)
    assert rebuilt != physical
    assert read_collection_meta(backend, rebuilt).layout == LAYOUT_FUSED  # one photo each
    hits = Searcher(backend, bundle, collection_name).search("product 2", limit=6).hits
    assert len(hits) == 6


def test_server_backend_sends_the_graph_settings_and_acorn():
    """On a Qdrant server the current layout is the same collection as on Edge: the fused
    graph's m / ef_construct / payload_m / full-scan threshold per vector, payload indexes
    without HNSW links, and ACORN asked for on filtered searches."""
    import warnings

    from qdrant_client import QdrantClient, models

    from qdrant_mm.backends.base import QueryPlan
    from qdrant_mm.backends.qdrant_client_backend import QdrantClientBackend
    from qdrant_mm.schema import FUSED_HNSW

    client = QdrantClient(":memory:")
    server = QdrantClientBackend(client, "server")  # in-memory engine, server code path
    calls: dict[str, list] = {"create": [], "index": [], "query": []}
    real = (client.create_collection, client.create_payload_index, client.query_points)

    def create(name, **k):
        if name == "c":
            calls["create"].append(k)
        return real[0](name, **k)

    def index(name, field, **k):
        if name == "c":
            calls["index"].append((field, k["field_schema"]))
        return real[1](name, field, **k)

    def query(*a, **k):
        calls["query"].append(k)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # local engine: "search_params has no effect"
            return real[2](*a, **k)

    client.create_collection, client.create_payload_index, client.query_points = (
        create,
        index,
        query,
    )
    bundle = fake_bundle()
    create_physical(
        server, "c", bundle.model_ids(), bundle.dims(), quantization="int8", layout=LAYOUT_PHOTOS
    )
    (vectors,) = [c["vectors_config"] for c in calls["create"]]
    assert list(vectors) == [FUSED]
    assert vectors[FUSED].hnsw_config == models.HnswConfigDiff(
        m=FUSED_HNSW.m,
        ef_construct=FUSED_HNSW.ef_construct,
        payload_m=0,
        full_scan_threshold=FUSED_HNSW.full_scan_threshold_kb,
    )
    schemas = dict(calls["index"])
    assert set(schemas) == {"category", "brand", "price", "product_id", VECTORS_FROM}
    assert vectors[FUSED].multivector_config == models.MultiVectorConfig(
        comparator=models.MultiVectorComparator.MAX_SIM
    )
    assert all(s.enable_hnsw is False for s in schemas.values())
    assert schemas["price"].type == models.FloatIndexType.FLOAT
    vec = np.ones((1, sum(bundle.dims().values())), dtype=np.float32)
    shoes = models.Filter(
        must=[models.FieldCondition(key="category", match=models.MatchValue(value="shoes"))]
    )
    server.query("c", QueryPlan(FUSED, vec, limit=3, filter=shoes, acorn=True))
    assert calls["query"][-1]["search_params"].acorn == models.AcornSearchParams(enable=True)
    server.query("c", QueryPlan(FUSED, vec, limit=3, acorn=True))  # no filter: nothing to do
    assert calls["query"][-1]["search_params"].acorn is None
