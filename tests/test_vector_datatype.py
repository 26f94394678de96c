"""How a collection stores the originals of ``fused`` (``QDRANT_MM_VECTOR_DATATYPE``): float32
by default, float16 when asked, or ``auto`` (float16 for a large new collection of one vector
per product); chosen when the collection is created, recorded in its metadata, kept by later
syncs, applied by ``sync --rebuild``."""

from __future__ import annotations

import numpy as np
import pytest

from qdrant_mm.catalog import point_id
from qdrant_mm.collection import read_collection_meta
from qdrant_mm.errors import ConfigError
from qdrant_mm.schema import (
    FUSED,
    FUSED_HNSW,
    LAYOUT_CHANNELS,
    LAYOUT_FUSED,
    LAYOUT_PHOTOS,
    collection_spec,
    resolve_datatype,
)
from qdrant_mm.search import Searcher
from qdrant_mm.sync import Syncer
from qdrant_mm.weights import CHANNELS, Weights
from tests.backends import backend, collection_name  # noqa: F401 (fixtures)
from tests.fakes import fake_bundle
from tests.helpers import collection_written_without, product_rows, write_catalog


def test_auto_gives_float16_to_large_collections_of_one_vector_per_product():
    assert resolve_datatype("auto", LAYOUT_FUSED, 20_001, 20_000) == "float16"
    # searched exactly (metrics exact to the last bit): float32
    assert resolve_datatype("auto", LAYOUT_FUSED, 20_000, 20_000) == "float32"
    # one row per photo was measured with float32; the first layout is never created anew
    assert resolve_datatype("auto", LAYOUT_PHOTOS, 10**6, 20_000) == "float32"
    assert resolve_datatype("auto", LAYOUT_CHANNELS, 10**6, 20_000) == "float32"
    assert resolve_datatype("float16", LAYOUT_PHOTOS, 1, 20_000) == "float16"
    assert resolve_datatype("float32", LAYOUT_FUSED, 10**6, 0) == "float32"
    with pytest.raises(ConfigError, match="'half'.*auto, float32, float16"):
        resolve_datatype("half", LAYOUT_FUSED, 1, 0)


def test_the_spec_stores_fused_as_asked_and_keeps_the_exact_scan_at_20000_products():
    dims = {"blip": 256, "clip": 512, "interrogator": 512}
    (f32,) = collection_spec(dims, "turbo2").vectors
    (f16,) = collection_spec(dims, "turbo2", datatype="float16").vectors
    assert (f32.datatype, f16.datatype) == ("float32", "float16")
    # the threshold counts KB of stored vectors: 20,000 products of 1280 dims either way
    assert f32.hnsw.full_scan_threshold_kb == 20_000 * 1280 * 4 // 1024
    assert f16.hnsw.full_scan_threshold_kb * 2 == FUSED_HNSW.full_scan_threshold_kb
    with pytest.raises(ConfigError, match="datatype"):
        collection_spec(dims, datatype="int4")


def _stored_fused(store, physical, ids):
    return {
        sp.payload["product_id"]: np.asarray(sp.vectors[FUSED], dtype=np.float32)
        for sp in store.retrieve(physical, [point_id(i) for i in ids], (FUSED,))
    }


def test_a_large_catalog_is_float16_searched_within_1e4(tmp_path, backend, collection_name):  # noqa: F811
    bundle = fake_bundle((256, 512, 512))  # the real models' widths: the rounding is theirs
    rows = product_rows(30)
    catalog = write_catalog(tmp_path, rows)
    # a catalog above exact_below: auto picks float16
    report = Syncer(backend, bundle, collection_name, vector_datatype="auto", exact_below=20).sync(
        catalog
    )
    assert report.added == 30 and not report.failed
    physical = backend.resolve(collection_name)
    assert read_collection_meta(backend, physical).datatype == "float16"

    stored = _stored_fused(backend, physical, [r["id"] for r in rows])
    # the float32 vectors: the same catalog synced into a float32 collection
    exact = f"{collection_name}_f32"
    Syncer(backend, bundle, exact, vector_datatype="float32", exact_below=20).sync(catalog)
    assert read_collection_meta(backend, backend.resolve(exact)).datatype == "float32"
    vectors = _stored_fused(backend, backend.resolve(exact), [r["id"] for r in rows])
    for pid, v in vectors.items():
        if backend.name == "edge":  # the engine keeps the float16 rounding of what was written
            assert np.array_equal(stored[pid], v.astype(np.float16).astype(np.float32))
        else:  # local mode records the setting but stores float32
            assert np.array_equal(stored[pid], v)

    searcher = Searcher(backend, bundle, collection_name, exact=False, exact_below=0)
    rng = np.random.default_rng(3)
    dims = bundle.dims()
    for raw in ("1,1,1", "0,1,0", "0.7,0.2,0.1", "0.001,0.5,0.499"):
        w = Weights.parse(raw)
        q = {ch: unit(rng.standard_normal(dims[ch])) for ch in CHANNELS}
        truth = {pid: channel_scores(v, q, dims) for pid, v in vectors.items()}
        hits = searcher.search_vectors(q, w, limit=8)
        assert len(hits) == 8
        for h in hits:
            want = truth[h.id]
            for ch in CHANNELS:  # each channel's cosine within 1e-4 of float32's
                assert h.scores[ch] == pytest.approx(want[ch], abs=1e-4)
            weighted = sum(getattr(w, ch) * h.scores[ch] for ch in CHANNELS)
            assert h.score == pytest.approx(weighted, abs=1e-4)
        # the ranking is float32's wherever neighbours are more than the rounding apart
        fused = {pid: sum(getattr(w, ch) * s[ch] for ch in CHANNELS) for pid, s in truth.items()}
        order = sorted(fused, key=lambda pid: -fused[pid])
        got = [h.id for h in hits]
        for a, b in zip(got, got[1:], strict=False):
            assert fused[a] >= fused[b] - 2e-4
        assert set(got) >= {pid for pid in order[:8] if fused[pid] > fused[order[8]] + 2e-4}


@pytest.mark.parametrize("setting", ["default", "auto"])
def test_float32_by_default_and_for_small_catalogs(tmp_path, backend, collection_name, setting):  # noqa: F811
    """The default is float32 at any size (exact_below=5 here: auto would pick float16);
    auto keeps float32 at or below exact_below."""
    bundle = fake_bundle()
    rows = product_rows(12)
    kwargs = {"exact_below": 5} if setting == "default" else {"vector_datatype": "auto"}
    Syncer(backend, bundle, collection_name, **kwargs).sync(write_catalog(tmp_path, rows))
    physical = backend.resolve(collection_name)
    assert read_collection_meta(backend, physical).datatype == "float32"
    stored = _stored_fused(backend, physical, [r["id"] for r in rows])
    for pid, v in stored.items():  # float32 values, not float16 ones
        assert v.dtype == np.float32 and len(v) == sum(bundle.dims().values())
        assert not np.array_equal(v, v.astype(np.float16).astype(np.float32)), pid


def test_the_setting_applies_when_a_collection_is_created(tmp_path, backend, collection_name):  # noqa: F811
    bundle = fake_bundle()
    catalog = write_catalog(tmp_path, product_rows(12))
    Syncer(backend, bundle, collection_name).sync(catalog)
    first = backend.resolve(collection_name)
    # a later sync keeps the collection as it is, and says how to apply the setting
    rows = product_rows(12)
    rows[0]["title"] = "renamed"
    report = Syncer(backend, bundle, collection_name, vector_datatype="float16").sync(
        write_catalog(tmp_path, rows)
    )
    assert backend.resolve(collection_name) == first
    assert read_collection_meta(backend, first).datatype == "float32"
    (note,) = [n for n in report.notes if "QDRANT_MM_VECTOR_DATATYPE" in n]
    assert "float32" in note and "sync --rebuild" in note
    # the rebuild creates a float16 collection holding every product
    rebuilt = Syncer(backend, bundle, collection_name, vector_datatype="float16").sync(
        write_catalog(tmp_path, rows), rebuild=True
    )
    assert rebuilt.added == 12 and not rebuilt.failed
    second = backend.resolve(collection_name)
    assert second != first
    assert read_collection_meta(backend, second).datatype == "float16"
    assert backend.count(collection_name) == 12
    assert not [n for n in rebuilt.notes if "QDRANT_MM_VECTOR_DATATYPE" in n]


def test_a_bad_setting_is_refused_before_any_work(tmp_path, backend, collection_name):  # noqa: F811
    with pytest.raises(ConfigError, match="vector datatype 'bf16'"):
        Syncer(backend, fake_bundle(), collection_name, vector_datatype="bf16")
    assert backend.resolve(collection_name) is None


def test_metadata_written_before_the_field_reads_as_float32(backend):  # noqa: F811
    physical = collection_written_without(backend, "datatype", LAYOUT_FUSED)
    assert read_collection_meta(backend, physical).datatype == "float32"


def test_the_setting_reaches_the_syncer_from_the_environment(
    tmp_path,
    monkeypatch,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
):
    """QDRANT_MM_VECTOR_DATATYPE, through the settings and QdrantMM.syncer(), makes the
    collection the first sync creates."""
    from qdrant_mm.app import QdrantMM
    from qdrant_mm.settings import Settings

    monkeypatch.setenv("QDRANT_MM_VECTOR_DATATYPE", "float16")
    settings = Settings(_env_file=None, collection=collection_name)
    assert settings.vector_datatype == "float16"
    mm = QdrantMM(settings, backend=backend, models=fake_bundle())
    mm.syncer().sync(write_catalog(tmp_path, product_rows(4)))
    assert read_collection_meta(backend, backend.resolve(collection_name)).datatype == "float16"
    monkeypatch.setenv("QDRANT_MM_VECTOR_DATATYPE", "float8")
    with pytest.raises(ValueError, match="vector_datatype"):
        Settings(_env_file=None)


# --- helpers -------------------------------------------------------------------------------


def unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


def channel_scores(fused: np.ndarray, q: dict[str, np.ndarray], dims: dict[str, int]):
    out, start = {}, 0
    for ch in CHANNELS:
        out[ch] = float(fused[start : start + dims[ch]].astype(np.float64) @ q[ch])
        start += dims[ch]
    return out
