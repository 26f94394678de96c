"""Quantization of ``fused`` (``QDRANT_MM_QUANTIZATION``: int8, turbo4, turbo2), end to end.

Quantization is a property of a collection, chosen when it is created and recorded in its
metadata; searches on a quantized collection ask the engine to rescore with the float32 vectors
(after oversampling), so the scores returned stay the exact weighted scores.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from qdrant_client import QdrantClient, models
from typer.testing import CliRunner

from qdrant_mm.app import QdrantMM
from qdrant_mm.backends.base import QUANTIZATIONS, PointRecord, QuantizationSearch, QueryPlan
from qdrant_mm.backends.edge import EdgeBackend
from qdrant_mm.backends.qdrant_client_backend import QdrantClientBackend
from qdrant_mm.catalog import point_id
from qdrant_mm.collection import create_physical, read_collection_meta
from qdrant_mm.defaults import (
    ONE_CHANNEL_OVERSAMPLING_BY_QUANTIZATION,
    OVERSAMPLING_BY_QUANTIZATION,
)
from qdrant_mm.errors import ConfigError, QueryError
from qdrant_mm.fusion import fuse_document, split
from qdrant_mm.schema import FUSED, LAYOUT_CHANNELS, LAYOUT_FUSED, collection_spec, meta_key
from qdrant_mm.search import Searcher
from qdrant_mm.settings import CHANNELS, load_settings
from qdrant_mm.sync import Syncer
from qdrant_mm.weights import Weights
from tests.backends import backend, collection_name  # noqa: F401 (fixtures)
from tests.fakes import fake_bundle
from tests.helpers import product_rows, write_catalog

WEIGHTINGS = ["1,1,1", "0.5,0.5,0", "0.7,0.2,0.1", "0.2,0.3,0.5"]
#: What each kind is configured as, on Edge and on a server / local mode.
ENGINE_CONFIG = {
    "int8": (
        {"scalar": {"type": "int8", "quantile": 0.99, "memory": "pinned"}},
        {"scalar": {"type": "int8", "quantile": 0.99, "always_ram": True}},
    ),
    "turbo4": (
        {"turbo": {"bits": "bits4", "memory": "pinned"}},
        {"turbo": {"bits": "bits4", "always_ram": True}},
    ),
    "turbo2": (
        {"turbo": {"bits": "bits2", "memory": "pinned"}},
        {"turbo": {"bits": "bits2", "always_ram": True}},
    ),
}


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


# --- settings and layout ---------------------------------------------------------------------
def test_settings_default_auto_and_validated(monkeypatch):
    for var in ("QDRANT_MM_QUANTIZATION", "QDRANT_MM_OVERSAMPLING"):
        monkeypatch.delenv(var, raising=False)
    s = load_settings(_env_file=None)
    assert (s.quantization, s.oversampling) == ("auto", None)
    for kind in QUANTIZATIONS:
        monkeypatch.setenv("QDRANT_MM_QUANTIZATION", kind)
        assert load_settings(_env_file=None).quantization == kind
    monkeypatch.setenv("QDRANT_MM_QUANTIZATION", "none")
    monkeypatch.setenv("QDRANT_MM_OVERSAMPLING", "3")
    s = load_settings(_env_file=None)
    assert (s.quantization, s.oversampling) == ("none", 3.0)
    monkeypatch.setenv("QDRANT_MM_QUANTIZATION", "int4")
    with pytest.raises(ConfigError, match="QDRANT_MM_QUANTIZATION"):
        load_settings(_env_file=None)
    monkeypatch.setenv("QDRANT_MM_QUANTIZATION", "none")
    monkeypatch.setenv("QDRANT_MM_OVERSAMPLING", "0.5")
    with pytest.raises(ConfigError, match="QDRANT_MM_OVERSAMPLING"):
        load_settings(_env_file=None)


def test_collection_spec_quantizes_fused_only():
    dims = {"blip": 4, "clip": 6, "interrogator": 6}
    for layout in (LAYOUT_FUSED, LAYOUT_CHANNELS):
        for off in (None, "none"):
            spec = collection_spec(dims, off, layout=layout)
            assert all(v.quantization is None for v in spec.vectors)
    spec = collection_spec(dims, quantization="int8")
    assert {v.name: v.quantization for v in spec.vectors} == {FUSED: "int8"}
    spec = collection_spec(dims, quantization="int8", layout=LAYOUT_CHANNELS)
    assert {v.name: v.quantization for v in spec.vectors} == {
        "blip": None,
        "clip": None,
        "interrogator": None,
        FUSED: "int8",
    }
    with pytest.raises(ConfigError, match="unknown quantization"):
        collection_spec(dims, quantization="binary")


def test_auto_is_turbo2_where_the_engine_has_it_else_int8(tmp_path, monkeypatch):
    from qdrant_mm.schema import resolve_quantization

    assert resolve_quantization("auto", QUANTIZATIONS) == "turbo2"
    assert resolve_quantization("auto", ("int8",)) == "int8"
    assert resolve_quantization("auto", ()) is None
    assert resolve_quantization("turbo4", ("int8",)) == "turbo4"  # asked for: not replaced
    assert resolve_quantization("none", QUANTIZATIONS) is None
    with pytest.raises(ConfigError, match="auto, none, int8, turbo4, turbo2"):
        resolve_quantization("int4", QUANTIZATIONS)

    # Edge and local mode create every kind; a server from 1.18 on (TurboQuant) too.
    with EdgeBackend(tmp_path / "e") as edge:
        assert edge.quantizations() == QUANTIZATIONS
    assert QdrantClientBackend(QdrantClient(":memory:"), "local").quantizations() == QUANTIZATIONS
    for version, kinds in (
        ("1.18.0", QUANTIZATIONS),
        ("1.19.2-dev", QUANTIZATIONS),
        ("2.0", QUANTIZATIONS),
        ("1.17.4", ("int8",)),
        ("1.9.0", ("int8",)),
        ("unknown", ("int8",)),
    ):
        server = QdrantClientBackend(QdrantClient(":memory:"), "server")
        asked = []

        def info(version=version, asked=asked):
            asked.append(1)
            return models.VersionInfo(title="qdrant", version=version)

        monkeypatch.setattr(server.client, "info", info)
        assert server.quantizations() == kinds, version
        assert server.quantizations() == kinds and len(asked) == 1  # asked once
        syncer = Syncer(server, fake_bundle(), "c", quantization="auto")
        assert syncer.quantization == ("turbo2" if "turbo2" in kinds else "int8")


def test_a_server_before_turboquant_refuses_it_by_name(monkeypatch):
    from qdrant_mm.errors import BackendRequestError

    server = QdrantClientBackend(QdrantClient(":memory:"), "server", "http://qdrant:6333")
    monkeypatch.setattr(
        server.client, "info", lambda: models.VersionInfo(title="qdrant", version="1.17.1")
    )
    bundle = fake_bundle()
    with pytest.raises(BackendRequestError, match=r"'turbo2' is not available .* create: int8"):
        create_physical(server, "c", bundle.model_ids(), bundle.dims(), quantization="turbo2")
    # refused before anything is written: no collection, no metadata document
    assert not server.collection_exists("c") and server.read_meta(meta_key("c")) is None
    # the backend itself refuses too, naming the server's version
    spec = collection_spec(bundle.dims(), quantization="turbo2")
    with pytest.raises(BackendRequestError, match=r"needs Qdrant 1\.18 .* runs 1\.17\.1"):
        server.create_collection("c", spec)
    create_physical(server, "c", bundle.model_ids(), bundle.dims(), quantization="int8")
    assert server.collection_exists("c")


def test_a_client_without_turboquant_serves_int8(monkeypatch):
    from qdrant_mm.backends import qdrant_client_backend as qcb
    from qdrant_mm.errors import BackendRequestError

    monkeypatch.setattr(qcb, "_client_has_turbo", lambda: False)
    local = QdrantClientBackend(QdrantClient(":memory:"), "local")
    assert local.quantizations() == ("int8",)
    assert Syncer(local, fake_bundle(), "c", quantization="auto").quantization == "int8"
    spec = collection_spec(fake_bundle().dims(), quantization="turbo4")
    with pytest.raises(BackendRequestError, match="qdrant-client 1.18 or later"):
        local.create_collection("c", spec)


def test_oversampling_defaults_by_the_collections_quantization():
    from qdrant_mm.schema import CollectionMeta

    local = QdrantClientBackend(QdrantClient(":memory:"), "local")
    s = Searcher(local, fake_bundle(), "x")
    bundle = fake_bundle()
    for kind in (*QUANTIZATIONS, None):
        meta = CollectionMeta(model_ids=bundle.model_ids(), dims=bundle.dims(), quantization=kind)
        want = OVERSAMPLING_BY_QUANTIZATION[kind] if kind else 1.0
        assert s.oversampling_for(meta) == want
        want_one = ONE_CHANNEL_OVERSAMPLING_BY_QUANTIZATION[kind] if kind else 1.0
        assert s.oversampling_for(meta, one_channel=True) == want_one >= want
        # fewer bits, more candidates for the exact rescoring
    for by_kind in (OVERSAMPLING_BY_QUANTIZATION, ONE_CHANNEL_OVERSAMPLING_BY_QUANTIZATION):
        assert by_kind["int8"] < by_kind["turbo4"] < by_kind["turbo2"]
    given = Searcher(local, bundle, "x", oversampling=3)
    meta = CollectionMeta(model_ids=bundle.model_ids(), dims=bundle.dims(), quantization="turbo2")
    assert given.oversampling_for(meta) == 3.0
    assert given.oversampling_for(meta, depth=1000) == 3.0  # a value given is used as given
    assert given.oversampling_for(meta, one_channel=True) == 3.0  # for every weighting
    # the kind's default collects at most OVERSAMPLING_CANDIDATES for deep pages, never < 2x
    from qdrant_mm.defaults import OVERSAMPLING_CANDIDATES

    assert s.oversampling_for(meta, depth=10) == 8.0
    assert s.oversampling_for(meta, depth=10, one_channel=True) == 16.0
    assert s.oversampling_for(meta, depth=100) == 8.0  # 800 candidates: under the cap
    assert s.oversampling_for(meta, depth=100, one_channel=True) == OVERSAMPLING_CANDIDATES / 100
    assert s.oversampling_for(meta, depth=1000) == 2.0
    assert s.oversampling_for(meta, depth=1000, one_channel=True) == 2.0
    int8 = meta.model_copy(update={"quantization": "int8"})
    assert s.oversampling_for(int8, depth=1000) == 2.0


def test_searcher_refuses_bad_oversampling():
    local = QdrantClientBackend(QdrantClient(":memory:"), "local")
    with pytest.raises(QueryError, match="oversampling"):
        Searcher(local, fake_bundle(), "x", oversampling=0.5)


# --- helpers ---------------------------------------------------------------------------------
def configured_quantization(backend, physical: str):  # noqa: F811
    """What the engine says the fused vector's quantization is (None: not quantized)."""
    if isinstance(backend, EdgeBackend):
        return backend.shard_info(physical)["quantization"].get(FUSED)
    params = backend.client.get_collection(physical).config.params.vectors
    q = params[FUSED].quantization_config
    return q.model_dump(exclude_none=True, mode="json") if q is not None else None


def stored_vectors(backend, physical):  # noqa: F811
    """Product ids and each channel's stored vectors, read from the fused vectors' blocks."""
    ids = [pid for pid, _ in backend.scroll_payload(physical, ["product_id"])]
    points = backend.retrieve(physical, ids, (FUSED,))
    names = [p.payload["product_id"] for p in points]
    dims = read_collection_meta(backend, physical).dims
    rows = [np.atleast_2d(p.vectors[FUSED])[0] for p in points]  # one photo per product
    return names, split(np.stack(rows), dims)


def exact_scores(vectors, q, w: Weights) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    per = {ch: vectors[ch] @ q[ch] for ch in CHANNELS}
    return sum(getattr(w, ch) * per[ch] for ch in CHANNELS), per


def spy_plans(backend):  # noqa: F811
    plans: list[QueryPlan] = []
    real = backend.query

    def spy(collection, plan):
        plans.append(plan)
        return real(collection, plan)

    backend.query = spy
    return plans


# --- sync + search on every backend -----------------------------------------------------------
@pytest.mark.parametrize("kind", QUANTIZATIONS)
def test_quantized_collection_via_sync_searches_exactly(tmp_path, backend, collection_name, kind):  # noqa: F811
    if kind not in backend.quantizations():
        pytest.skip(f"this Qdrant server has no {kind} (TurboQuant: Qdrant 1.18+)")
    bundle = fake_bundle()
    cat = write_catalog(tmp_path, product_rows(40))
    report = Syncer(backend, bundle, collection_name, quantization=kind).sync(cat)
    assert report.ok and report.added == 40
    assert (report.quantization, report.quantization_note) == (kind, None)

    physical = backend.resolve(collection_name)
    meta = read_collection_meta(backend, physical)
    assert meta.quantization == kind and meta.points == 40
    on_edge, elsewhere = ENGINE_CONFIG[kind]
    assert configured_quantization(backend, physical) == (
        on_edge if backend.name == "edge" else elsewhere
    )
    rescored = QuantizationSearch(rescore=True, oversampling=OVERSAMPLING_BY_QUANTIZATION[kind])
    one_channel = QuantizationSearch(
        rescore=True, oversampling=ONE_CHANNEL_OVERSAMPLING_BY_QUANTIZATION[kind]
    )

    names, vectors = stored_vectors(backend, physical)
    searcher = Searcher(backend, bundle, collection_name)
    plans = spy_plans(backend)
    rng = np.random.default_rng(0)
    for wtext in WEIGHTINGS:
        w = Weights.parse(wtext)
        q = {ch: unit(rng.standard_normal(bundle.dims()[ch])) for ch in CHANNELS}
        score, per = exact_scores(vectors, q, w)
        order = np.argsort(-score, kind="stable")

        # 40 points <= exact_below: an exact search, the brute-force top-10.
        hits = searcher.search_vectors(q, w, limit=10)
        assert plans[-1].exact and plans[-1].quantization is None
        assert [h.id for h in hits] == [names[i] for i in order[:10]]
        for h, i in zip(hits, order[:10], strict=True):
            assert h.score == pytest.approx(score[i], abs=1e-5)

        # Forced HNSW: the quantized search, rescored (scores exact for the ids returned).
        searcher.exact_below = 0
        hits = searcher.search_vectors(q, w, limit=10)
        searcher.exact_below = 20_000
        assert not plans[-1].exact
        assert plans[-1].quantization == (one_channel if len(w.active()) == 1 else rescored)
        assert [h.id for h in hits] == [names[i] for i in order[:10]]  # 40 points: full scan
        for h in hits:
            i = names.index(h.id)
            assert h.score == pytest.approx(score[i], abs=1e-5)
            for ch in CHANNELS:
                assert h.scores[ch] == pytest.approx(per[ch][i], abs=1e-5)

    # The union plan and one-channel weightings work on a quantized collection too.
    searcher.plan, searcher.exact_below = "union", 0
    q = {ch: unit(rng.standard_normal(bundle.dims()[ch])) for ch in CHANNELS}
    w = Weights.parse("0.3,0.3,0.4")
    score, _ = exact_scores(vectors, q, w)
    hits = searcher.search_vectors(q, w, limit=5)
    assert plans[-1].quantization == rescored
    assert [h.id for h in hits] == [names[i] for i in np.argsort(-score, kind="stable")[:5]]
    hits = searcher.search_vectors(q, Weights.parse("0,1,0"), limit=5)
    # One channel: fused with the other blocks zero, quantized and rescored with the
    # one-channel oversampling.
    assert plans[-1].using == FUSED
    assert plans[-1].quantization == one_channel
    assert hits[0].score == pytest.approx(float(np.max(vectors["clip"] @ q["clip"])), abs=1e-5)


def test_unquantized_collection_sends_no_quantization(tmp_path, backend, collection_name):  # noqa: F811
    bundle = fake_bundle()
    report = Syncer(backend, bundle, collection_name).sync(write_catalog(tmp_path, product_rows(8)))
    assert report.quantization is None
    physical = backend.resolve(collection_name)
    assert read_collection_meta(backend, physical).quantization is None
    assert configured_quantization(backend, physical) is None
    searcher = Searcher(backend, bundle, collection_name, exact_below=0)
    plans = spy_plans(backend)
    q = {ch: unit(np.ones(bundle.dims()[ch])) for ch in CHANNELS}
    assert searcher.search_vectors(q, Weights.parse("1,1,1"), limit=3)
    assert plans[-1].quantization is None


def test_quantization_is_chosen_at_creation_and_applied_by_rebuild(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
):
    bundle = fake_bundle()
    cat = write_catalog(tmp_path, product_rows(10))
    Syncer(backend, bundle, collection_name).sync(cat)
    first = backend.resolve(collection_name)

    # A plain sync with the setting changed keeps the collection as it is, and says so.
    report = Syncer(backend, bundle, collection_name, quantization="int8").sync(cat)
    assert report.ok and report.unchanged == 10
    assert report.quantization is None and "sync --rebuild" in report.quantization_note
    assert backend.resolve(collection_name) == first
    assert read_collection_meta(backend, first).quantization is None

    # --rebuild creates a new collection with the current setting.
    report = Syncer(backend, bundle, collection_name, quantization="int8").sync(cat, rebuild=True)
    assert report.ok and report.quantization == "int8" and report.quantization_note is None
    second = backend.resolve(collection_name)
    assert second != first
    assert read_collection_meta(backend, second).quantization == "int8"
    assert configured_quantization(backend, second)["scalar"]["type"] == "int8"
    hits = Searcher(backend, bundle, collection_name).search("product", limit=3)
    assert len(hits.hits) == 3


def test_settings_flow_through_the_app(tmp_path, backend, collection_name):  # noqa: F811
    settings = load_settings(_env_file=None, quantization="int8", oversampling=3.0)
    mm = QdrantMM(settings, backend=backend, models=fake_bundle())
    mm.syncer(collection_name).sync(write_catalog(tmp_path, product_rows(6)))
    physical = backend.resolve(collection_name)
    assert read_collection_meta(backend, physical).quantization == "int8"
    searcher = mm.searcher(collection_name)
    searcher.exact_below = 0
    plans = spy_plans(backend)
    searcher.search("product", weights="1,1,1", limit=2)
    assert plans[-1].quantization == QuantizationSearch(rescore=True, oversampling=3.0)


def test_info_shows_the_collections_quantization(tmp_path, monkeypatch):
    from qdrant_mm.cli import app

    store = tmp_path / "data"
    with EdgeBackend(store / "edge") as edge:  # where QDRANT_MM_QDRANT_PATH puts Edge
        Syncer(edge, fake_bundle(), "products", quantization="int8").sync(
            write_catalog(tmp_path, product_rows(3))
        )
    monkeypatch.setenv("QDRANT_MM_BACKEND", "edge")
    monkeypatch.setenv("QDRANT_MM_QDRANT_PATH", str(store))
    monkeypatch.setenv("QDRANT_MM_QUANTIZATION", "int8")
    runner = CliRunner()
    res = runner.invoke(app, ["info"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert '"quantization": "int8"' in res.output and "quantization_setting" not in res.output
    monkeypatch.setenv("QDRANT_MM_QUANTIZATION", "none")
    res = runner.invoke(app, ["info"], catch_exceptions=False)
    assert '"quantization": "int8"' in res.output
    assert "none (applies at the next `sync --rebuild`)" in res.output
    monkeypatch.delenv("QDRANT_MM_QUANTIZATION")  # auto: a rebuild would walk 2 bits
    res = runner.invoke(app, ["info"], catch_exceptions=False)
    assert '"quantization": "int8"' in res.output
    assert "turbo2 (applies at the next `sync --rebuild`)" in res.output


# --- Edge with an HNSW index: the quantized vectors are really used ---------------------------
@pytest.mark.parametrize("kind", QUANTIZATIONS)
def test_edge_hnsw_on_quantized_fused_rescored_scores_are_exact(tmp_path, kind):
    bundle = fake_bundle()
    dims = bundle.dims()
    n = 2000
    rng = np.random.default_rng(1)
    latent = rng.standard_normal((n, 12))
    vectors = {
        ch: unit(latent @ rng.standard_normal((12, dims[ch])) + rng.standard_normal((n, dims[ch])))
        for ch in CHANNELS
    }
    fused = fuse_document(vectors)
    ids = [f"sku-{i}" for i in range(n)]
    with EdgeBackend(tmp_path / "e", indexing_threshold_kb=1, full_scan_threshold_kb=1) as edge:
        create_physical(edge, "c", bundle.model_ids(), dims, quantization=kind)
        edge.upsert(
            "c",
            [
                PointRecord(point_id(ids[i]), {FUSED: fused[i]}, {"product_id": ids[i]})
                for i in range(n)
            ],
        )
        edge.optimize("c")
        info = edge.shard_info("c")
        assert info["indexed_vectors"] >= n  # HNSW built, so the quantized vectors are used
        assert info["quantization"] == {FUSED: ENGINE_CONFIG[kind][0]}
        rescored = QuantizationSearch(rescore=True, oversampling=OVERSAMPLING_BY_QUANTIZATION[kind])

        searcher = Searcher(edge, bundle, "c", exact_below=0)
        plans = spy_plans(edge)
        recalls, raw_errors = [], []
        for j, wtext in enumerate(WEIGHTINGS * 2):
            w = Weights.parse(wtext)
            q = {ch: unit(rng.standard_normal(dims[ch])) for ch in CHANNELS}
            score, per = exact_scores(vectors, q, w)
            top = set(np.argsort(-score)[:10].tolist())
            hits = searcher.search_vectors(q, w, limit=10)
            assert plans[-1].quantization == rescored
            got = [ids.index(h.id) for h in hits]
            recalls.append(len(top & set(got)) / 10)
            for h, i in zip(hits, got, strict=True):
                assert h.score == pytest.approx(score[i], abs=1e-5)  # rescored: exact
                for ch in CHANNELS:
                    assert h.scores[ch] == pytest.approx(per[ch][i], abs=1e-5)
            assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
            # The same request without rescoring returns the quantized approximations: proof
            # that the engine searched the quantized vectors.
            plan = plans[-1]
            raw = edge.query("c", _replace(plan, QuantizationSearch(rescore=False)))
            raw_errors += [abs(h.score - score[ids.index(h.payload["product_id"])]) for h in raw]
            if j == 0:  # exact searches ignore the quantized vectors
                exact = edge.query("c", _replace(plan, None, exact=True))
                order = np.argsort(-score, kind="stable")[: plan.limit]
                assert [h.payload["product_id"] for h in exact] == [ids[i] for i in order]
                for h, i in zip(exact, order, strict=True):
                    assert h.score == pytest.approx(score[i], abs=1e-5)
        assert max(raw_errors) > 1e-3
        assert np.mean(recalls) >= 0.95


def _replace(plan: QueryPlan, quantization, **changes) -> QueryPlan:
    from dataclasses import replace

    return replace(plan, quantization=quantization, **changes)


# --- server wiring (qdrant-client against a server), checked on the requests it sends ----------
def test_server_backend_sends_the_quantization_and_search_params():
    client = QdrantClient(":memory:")
    server = QdrantClientBackend(client, "server")  # in-memory engine, server code path
    calls: dict[str, list] = {"create": [], "query": []}
    real_create, real_query = client.create_collection, client.query_points

    def create(name, **k):
        calls["create"].append((name, k))
        return real_create(name, **k)

    def query(*a, **k):
        calls["query"].append(k)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # local engine: "search_params has no effect"
            return real_query(*a, **k)

    client.create_collection, client.query_points = create, query
    bundle = fake_bundle()
    create_physical(
        server, "c", bundle.model_ids(), bundle.dims(), quantization="int8", layout=LAYOUT_CHANNELS
    )
    vp = dict(calls["create"])["c"]["vectors_config"]
    assert vp["blip"].quantization_config is None
    assert vp[FUSED].quantization_config == models.ScalarQuantization(
        scalar=models.ScalarQuantizationConfig(
            type=models.ScalarType.INT8, quantile=0.99, always_ram=True
        )
    )
    for kind, bits in (
        ("turbo4", models.TurboQuantBitSize.BITS4),
        ("turbo2", models.TurboQuantBitSize.BITS2),
    ):
        create_physical(server, kind, bundle.model_ids(), bundle.dims(), quantization=kind)
        assert dict(calls["create"])[kind]["vectors_config"][FUSED].quantization_config == (
            models.TurboQuantization(
                turbo=models.TurboQuantQuantizationConfig(bits=bits, always_ram=True)
            )
        )
    vec = np.ones(sum(bundle.dims().values()), dtype=np.float32)
    server.query(
        "c",
        QueryPlan(FUSED, vec, limit=5, hnsw_ef=64, quantization=QuantizationSearch(True, 2.0)),
    )
    assert calls["query"][-1]["search_params"] == models.SearchParams(
        hnsw_ef=64,
        exact=False,
        quantization=models.QuantizationSearchParams(rescore=True, oversampling=2.0),
    )
    server.query("c", QueryPlan(FUSED, vec, limit=5, exact=True))
    assert calls["query"][-1]["search_params"].quantization is None
    with pytest.raises(QueryError, match="oversampling"):
        server.query("c", QueryPlan(FUSED, vec, limit=5, quantization=QuantizationSearch(True, 0)))


@pytest.mark.parametrize("kind", ["turbo2", "int8"])
def test_edge_hnsw_on_quantized_photo_rows_scores_the_best_photo_exactly(tmp_path, kind):
    """One row per photo (a multivector) with a quantized copy: the graph walk uses the
    quantized rows, the rescoring the float32 ones, so a hit's score is its best photo's exact
    weighted score."""
    from qdrant_mm.schema import LAYOUT_PHOTOS

    bundle = fake_bundle()
    dims = bundle.dims()
    n, photos = 700, 3
    rng = np.random.default_rng(7)
    rows = {ch: unit(rng.standard_normal((n, photos, dims[ch]))) for ch in CHANNELS}
    fused = fuse_document(rows)  # (n, photos, Σdim)
    ids = [f"sku-{i}" for i in range(n)]
    with EdgeBackend(tmp_path / "e", indexing_threshold_kb=1, full_scan_threshold_kb=1) as edge:
        meta = create_physical(
            edge, "c", bundle.model_ids(), dims, quantization=kind, layout=LAYOUT_PHOTOS
        )
        edge.upsert(
            "c",
            [
                PointRecord(point_id(ids[i]), {FUSED: fused[i]}, {"product_id": ids[i]})
                for i in range(n)
            ],
        )
        edge.optimize("c")
        assert edge.shard_info("c")["quantization"] == {FUSED: ENGINE_CONFIG[kind][0]}
        meta = meta.model_copy(update={"points": n, "max_photos": photos})
        edge.write_meta(meta_key("c"), meta.model_dump())
        searcher = Searcher(edge, bundle, "c", exact_below=0)
        plans = spy_plans(edge)
        recalls = []
        for wtext in WEIGHTINGS:
            w = Weights.parse(wtext)
            q = {ch: unit(rng.standard_normal(dims[ch])) for ch in CHANNELS}
            per = {ch: rows[ch] @ q[ch] for ch in CHANNELS}  # (n, photos)
            best = sum(getattr(w, ch) * per[ch] for ch in CHANNELS).max(axis=1)
            hits = searcher.search_vectors(q, w, limit=10)
            assert plans[0].quantization == QuantizationSearch(
                rescore=True, oversampling=OVERSAMPLING_BY_QUANTIZATION[kind]
            )
            got = [ids.index(h.id) for h in hits]
            for h, i in zip(hits, got, strict=True):
                assert h.score == pytest.approx(best[i], abs=1e-5)
            recalls.append(len(set(got) & set(np.argsort(-best)[:10].tolist())) / 10)
            plans.clear()
        assert np.mean(recalls) >= 0.9


def test_auto_picks_by_the_layout_the_catalog_needs(tmp_path):
    """A plain fused vector walks turbo2; one row per photo keeps int8 (what its recall was
    measured with); the sync report names what the collection got."""
    from qdrant_mm.schema import LAYOUT_PHOTOS, resolve_quantization
    from tests.test_photos import shop

    assert resolve_quantization("auto", QUANTIZATIONS, LAYOUT_PHOTOS) == "int8"
    assert resolve_quantization("auto", QUANTIZATIONS, LAYOUT_CHANNELS) == "int8"
    with EdgeBackend(tmp_path / "e") as edge:
        one = Syncer(edge, fake_bundle(), "one", quantization="auto")
        report = one.sync(write_catalog(tmp_path / "a", product_rows(5)))
        assert report.ok and report.quantization == "turbo2" and report.quantization_note is None
        meta = read_collection_meta(edge, edge.resolve("one"))
        assert (meta.layout, meta.quantization) == (LAYOUT_FUSED, "turbo2")

        cat, _ = shop(tmp_path / "b")
        report = Syncer(edge, fake_bundle(), "many", quantization="auto").sync(cat)
        assert report.ok and report.quantization == "int8" and report.quantization_note is None
        meta = read_collection_meta(edge, edge.resolve("many"))
        assert (meta.layout, meta.quantization) == (LAYOUT_PHOTOS, "int8")
