from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qdrant_client import models

from qdrant_mm.backends.base import PointRecord
from qdrant_mm.catalog import point_id
from qdrant_mm.collection import create_physical
from qdrant_mm.errors import QueryError, WeightsError
from qdrant_mm.fusion import fuse_document
from qdrant_mm.schema import FUSED, LAYOUT_CHANNELS, LAYOUT_FUSED
from qdrant_mm.search import Searcher
from qdrant_mm.weights import CHANNELS, Weights
from tests.backends import backend, collection_name  # noqa: F401 (fixtures)
from tests.fakes import fake_bundle

N = 2000
CATS = ("shoes", "shirts", "bags", "hats")


def unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def correlated_vectors(rng, n, dims):
    """A latent product vector seen through a different projection and noise per channel."""
    latent = rng.standard_normal((n, 12))
    out = {}
    for ch in CHANNELS:
        proj = rng.standard_normal((12, dims[ch]))
        out[ch] = unit(latent @ proj + 0.8 * rng.standard_normal((n, dims[ch])))
    return out


class Corpus:
    """``n`` products written straight through the backend into a collection of ``layout``
    (the current one, or the first one: an existing collection created before it)."""

    def __init__(self, store, name, n=N, seed=0, layout=LAYOUT_FUSED):
        self.layout = layout
        self.bundle = fake_bundle()
        self.dims = self.bundle.dims()
        rng = np.random.default_rng(seed)
        self.vectors = correlated_vectors(rng, n, self.dims)
        self.ids = [f"sku-{i}" for i in range(n)]
        self.category = np.array([CATS[i % 4] for i in range(n)])
        self.price = rng.uniform(1, 100, n).round(2)
        create_physical(store, name, self.bundle.model_ids(), self.dims, layout=layout)
        fused = fuse_document(self.vectors)
        channels = CHANNELS if layout == LAYOUT_CHANNELS else ()
        for start in range(0, n, 500):
            store.upsert(
                name,
                [
                    PointRecord(
                        point_id(self.ids[i]),
                        {**{ch: self.vectors[ch][i] for ch in channels}, FUSED: fused[i]},
                        {
                            "product_id": self.ids[i],
                            "category": str(self.category[i]),
                            "price": float(self.price[i]),
                        },
                    )
                    for i in range(start, min(n, start + 500))
                ],
            )
        store.optimize(name)
        self.searcher = Searcher(store, self.bundle, name)

    def query(self, rng):
        return {ch: unit(rng.standard_normal(self.dims[ch])) for ch in CHANNELS}

    def exact(self, q, w: Weights, mask=None):
        per = {ch: self.vectors[ch] @ q[ch] for ch in CHANNELS}
        score = sum(getattr(w, ch) * per[ch] for ch in CHANNELS)
        idx = np.arange(len(self.ids)) if mask is None else np.flatnonzero(mask)
        order = idx[np.argsort(-score[idx], kind="stable")]
        return order, score, per


@pytest.fixture(params=[LAYOUT_FUSED, LAYOUT_CHANNELS], ids=["fused-layout", "channels-layout"])
def corpus(request, backend, collection_name):  # noqa: F811
    return Corpus(backend, collection_name, layout=request.param)


CORNERS = [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1), (0.5, 0.5, 0), (0.7, 0.2, 0.1)]


@pytest.mark.parametrize("w", CORNERS)
def test_top10_and_scores_match_exact_numpy_ranking(corpus, w):
    rng = np.random.default_rng(hash(w) % 1000)
    weights = Weights.parse(list(w))
    for _ in range(3):
        q = corpus.query(rng)
        hits = corpus.searcher.search_vectors(q, weights, limit=10)
        order, score, per = corpus.exact(q, weights)
        assert [h.id for h in hits] == [corpus.ids[i] for i in order[:10]]
        for h, i in zip(hits, order[:10], strict=True):
            assert h.score == pytest.approx(score[i], abs=1e-5)
            for ch in CHANNELS:
                assert h.scores[ch] == pytest.approx(per[ch][i], abs=1e-5)
            recombined = sum(getattr(weights, ch) * h.scores[ch] for ch in CHANNELS)
            assert h.score == pytest.approx(recombined, abs=1e-5)


def test_backend_scores_the_hits_per_named_vector(backend, collection_name):  # noqa: F811
    """``QueryPlan.score_vectors``: every hit gets the cosine of each named vector with its
    query vector (not-unit query vectors included), without its vectors being returned; with a
    filter, a page offset, and with no hit at all."""
    from qdrant_mm.backends.base import QueryPlan

    corpus = Corpus(backend, collection_name, layout=LAYOUT_CHANNELS)
    rng = np.random.default_rng(5)
    q = corpus.query(rng)
    raw = {ch: 3.0 * q[ch] for ch in ("blip", "interrogator")}  # scores are cosines
    only_bags = models.Filter(
        must=[models.FieldCondition(key="category", match=models.MatchValue(value="bags"))]
    )
    plan = QueryPlan(
        using="clip",
        vector=q["clip"],
        limit=7,
        offset=3,
        exact=True,
        score_vectors=raw,
        filter=only_bags,
    )
    hits = backend.query(collection_name, plan)
    mask = corpus.category == "bags"
    order = np.flatnonzero(mask)[
        np.argsort(-(corpus.vectors["clip"] @ q["clip"])[mask], kind="stable")
    ]
    assert [h.payload["product_id"] for h in hits] == [corpus.ids[i] for i in order[3:10]]
    for h, i in zip(hits, order[3:10], strict=True):
        assert set(h.vector_scores) == {"blip", "interrogator"} and not h.vectors
        for ch in raw:
            assert h.vector_scores[ch] == pytest.approx(
                float(corpus.vectors[ch][i] @ q[ch]), abs=1e-5
            )
    nothing = models.Filter(
        must=[models.FieldCondition(key="category", match=models.MatchValue(value="cars"))]
    )
    assert (
        backend.query(
            collection_name,
            QueryPlan(using="clip", vector=q["clip"], limit=5, score_vectors=raw, filter=nothing),
        )
        == []
    )


def test_backend_scores_the_hits_on_fused_blocks(backend, collection_name):  # noqa: F811
    """``QueryPlan.score_dots``: every hit gets the dot product of its stored fused vector with
    a channel's unit query in that channel's block (zeros elsewhere), i.e. the channel's cosine,
    on a collection that stores ``fused`` alone; with a filter and a page offset."""
    from qdrant_mm.backends.base import QueryPlan
    from qdrant_mm.fusion import channel_block_query

    corpus = Corpus(backend, collection_name, n=300, layout=LAYOUT_FUSED)
    q = corpus.query(np.random.default_rng(6))
    dots = {
        ch: (FUSED, channel_block_query(3.0 * q[ch], ch, corpus.dims))  # any length: made unit
        for ch in ("blip", "interrogator")
    }
    only_bags = models.Filter(
        must=[models.FieldCondition(key="category", match=models.MatchValue(value="bags"))]
    )
    plan = QueryPlan(
        using=FUSED,
        vector=channel_block_query(q["clip"], "clip", corpus.dims),
        limit=7,
        offset=3,
        exact=True,
        score_dots=dots,
        filter=only_bags,
    )
    hits = backend.query(collection_name, plan)
    mask = corpus.category == "bags"
    clip = corpus.vectors["clip"] @ q["clip"]
    order = np.flatnonzero(mask)[np.argsort(-clip[mask], kind="stable")]
    assert [h.payload["product_id"] for h in hits] == [corpus.ids[i] for i in order[3:10]]
    for h, i in zip(hits, order[3:10], strict=True):
        assert h.score == pytest.approx(float(clip[i]), abs=1e-5)
        assert set(h.vector_scores) == {"blip", "interrogator"} and not h.vectors
        for ch in dots:
            assert h.vector_scores[ch] == pytest.approx(
                float(corpus.vectors[ch][i] @ q[ch]), abs=1e-5
            )


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    raw=st.tuples(*[st.floats(0, 1, allow_nan=False)] * 3).filter(lambda t: sum(t) > 1e-3),
    seed=st.integers(0, 10_000),
)
def test_random_weights_exact_top10(corpus, raw, seed):
    weights = Weights.parse(list(raw))
    q = corpus.query(np.random.default_rng(seed))
    hits = corpus.searcher.search_vectors(q, weights, limit=10)
    order, score, _ = corpus.exact(q, weights)
    got = [h.id for h in hits]
    want = [corpus.ids[i] for i in order[:10]]
    # Equal unless two scores tie to float32 precision.
    assert got == want or np.allclose(
        sorted(score[order[:10]]), sorted(h.score for h in hits), atol=1e-5
    )


def test_two_weightings_reorder_without_any_write(corpus, backend):  # noqa: F811
    count = backend.count(corpus.searcher.collection)
    calls = {"write": 0}
    for name in ("upsert", "delete", "create_collection", "write_meta"):
        real = getattr(backend, name)

        def spy(*a, _real=real, **k):
            calls["write"] += 1
            return _real(*a, **k)

        setattr(backend, name, spy)
    q = corpus.query(np.random.default_rng(7))
    a = corpus.searcher.search_vectors(q, Weights.parse("1,0,0"), limit=10)
    b = corpus.searcher.search_vectors(q, Weights.parse("0,0,1"), limit=10)
    assert [h.id for h in a] != [h.id for h in b]
    assert calls["write"] == 0 and backend.count(corpus.searcher.collection) == count


def test_filter_and_pagination_agree_with_exact_ranking_restricted(corpus):
    rng = np.random.default_rng(3)
    weights = Weights.parse("0.2,0.5,0.3")
    q = corpus.query(rng)
    flt = models.Filter(
        must=[
            models.FieldCondition(key="category", match=models.MatchValue(value="bags")),
            models.FieldCondition(key="price", range=models.Range(gte=20, lt=80)),
        ]
    )
    mask = (corpus.category == "bags") & (corpus.price >= 20) & (corpus.price < 80)
    order, _, _ = corpus.exact(q, weights, mask)
    pages = []
    for page in range(3):
        hits = corpus.searcher.search_vectors(q, weights, limit=7, offset=7 * page, filter=flt)
        assert all(h.payload["category"] == "bags" and 20 <= h.payload["price"] < 80 for h in hits)
        pages += [h.id for h in hits]
    assert pages == [corpus.ids[i] for i in order[:21]]


def test_union_plan_gives_the_same_exact_results(corpus):
    corpus.searcher.plan = "union"
    q = corpus.query(np.random.default_rng(11))
    w = Weights.parse("0.6,0.1,0.3")
    order, score, _ = corpus.exact(q, w)
    hits = corpus.searcher.search_vectors(q, w, limit=10, offset=5)
    assert [h.id for h in hits] == [corpus.ids[i] for i in order[5:15]]


def test_text_search_skips_encoders_of_zero_weight_channels(corpus):
    bundle = corpus.bundle
    before = (bundle.blip.text_calls, bundle.clip.text_calls)
    res = corpus.searcher.search("beige knit cardigan", weights={"clip": 1.0}, limit=5)
    assert len(res.hits) == 5
    assert bundle.blip.text_calls == before[0]
    assert bundle.clip.text_calls == before[1] + 1
    assert all(h.scores["blip"] is None and h.scores["clip"] is not None for h in res.hits)


@pytest.mark.parametrize(
    "bad, match",
    [
        ("-1,1,1", ">= 0"),
        ("nan,1,1", "finite"),
        ("0,0,0", "all weights are zero"),
        ({"blip": 1, "colour": 1}, "unknown channel"),
        ("1,2", "expected 3"),
    ],
)
def test_bad_weights_are_refused_clearly(corpus, bad, match):
    with pytest.raises(WeightsError, match=match):
        corpus.searcher.search("shoes", weights=bad)


def test_empty_query_and_bad_paging_are_refused(corpus):
    with pytest.raises(QueryError, match="empty query"):
        corpus.searcher.search("   ")
    with pytest.raises(QueryError, match="limit"):
        corpus.searcher.search("shoes", limit=0)
    with pytest.raises(QueryError, match="offset"):
        corpus.searcher.search("shoes", offset=-1)


def test_weights_and_profile_together_are_refused_before_any_model_runs(corpus):
    corpus.searcher.profiles.set("summer", Weights.parse("1,0,0"))
    calls = corpus.bundle.blip.text_calls + corpus.bundle.clip.text_calls
    for weights in ("0,1,0", Weights.parse("0,1,0"), {"clip": 1}):
        with pytest.raises(QueryError, match="give weights or profile, not both"):
            corpus.searcher.search("shoes", weights=weights, profile="summer")
    assert corpus.bundle.blip.text_calls + corpus.bundle.clip.text_calls == calls
    assert corpus.searcher.search("shoes", profile="summer", limit=1).profile == "summer"


def test_weights_are_normalised():
    w = Weights.parse("2,1,1")
    assert (w.blip, w.clip, w.interrogator) == (0.5, 0.25, 0.25)


def test_calibrated_search_is_the_exact_zscore_weighted_ranking(corpus, backend):  # noqa: F811
    from qdrant_mm.collection import read_collection_meta
    from qdrant_mm.schema import ChannelStats, meta_key

    name = corpus.searcher.collection
    physical = backend.resolve(name)
    meta = read_collection_meta(backend, physical)
    stats = {"blip": (0.1, 0.05), "clip": (-0.02, 0.2), "interrogator": (0.3, 0.1)}
    meta.calibration = {ch: ChannelStats(mean=m, std=s) for ch, (m, s) in stats.items()}
    backend.write_meta(meta_key(physical), meta.model_dump())
    corpus.searcher._meta = None
    q = corpus.query(np.random.default_rng(5))
    w = Weights.parse("0.5,0.3,0.2")
    _, _, per = corpus.exact(q, w)
    z = sum(getattr(w, ch) * (per[ch] - stats[ch][0]) / stats[ch][1] for ch in CHANNELS)
    order = np.argsort(-z, kind="stable")
    hits = corpus.searcher.search_vectors(q, w, limit=10, calibrate=True)
    assert [h.id for h in hits] == [corpus.ids[i] for i in order[:10]]
    for h, i in zip(hits, order[:10], strict=True):
        assert h.score == pytest.approx(z[i], abs=1e-4)
    plain = corpus.searcher.search_vectors(q, w, limit=10)
    assert [h.id for h in plain] != [h.id for h in hits]


def test_calibration_without_statistics_is_refused(corpus):
    with pytest.raises(QueryError, match="no score statistics"):
        corpus.searcher.search_vectors(
            corpus.query(np.random.default_rng(1)), Weights.parse("1,1,1"), calibrate=True
        )


def test_plan_choice_exact_when_small_hnsw_when_large_single_channel_routed(corpus, backend):  # noqa: F811
    from qdrant_mm.collection import read_collection_meta
    from qdrant_mm.schema import meta_key

    name = corpus.searcher.collection
    physical = backend.resolve(name)
    meta = read_collection_meta(backend, physical)
    meta.points = N
    backend.write_meta(meta_key(physical), meta.model_dump())
    corpus.searcher._meta = None
    plans = []
    real_query = backend.query

    def spy(collection, plan):
        plans.append(plan)
        return real_query(collection, plan)

    backend.query = spy
    q = corpus.query(np.random.default_rng(2))
    corpus.searcher.search_vectors(q, Weights.parse("1,1,1"), limit=10)
    assert plans[-1].using == FUSED and plans[-1].exact
    corpus.searcher.exact_below = N - 1
    corpus.searcher.search_vectors(q, Weights.parse("1,1,1"), limit=10)
    assert plans[-1].using == FUSED and not plans[-1].exact and plans[-1].hnsw_ef == 256
    hits = corpus.searcher.search_vectors(q, Weights.parse("0,1,0"), limit=10)
    # A one-channel weighting: that channel's own graph where it has one (twice the ef), else
    # fused with the other blocks zero (twice the ef for the narrowest block, blip, less for a
    # wider one: 2 x sqrt(narrowest / width)).
    if corpus.layout == LAYOUT_CHANNELS:
        assert plans[-1].using == "clip" and plans[-1].hnsw_ef == 512
    else:
        widths = corpus.dims
        assert widths["blip"] < widths["clip"]
        assert plans[-1].using == FUSED
        assert plans[-1].hnsw_ef == round(256 * 2 * (widths["blip"] / widths["clip"]) ** 0.5)
        assert 256 < plans[-1].hnsw_ef < 512
        assert not plans[-1].vector[: corpus.dims["blip"]].any()
        corpus.searcher.search_vectors(q, Weights.parse("1,0,0"), limit=10)
        assert plans[-1].using == FUSED and plans[-1].hnsw_ef == 512
    order, score, per = corpus.exact(q, Weights.parse("0,1,0"))
    assert [h.id for h in hits] == [corpus.ids[i] for i in order[:10]]
    for h, i in zip(hits, order[:10], strict=True):
        assert h.score == pytest.approx(per["clip"][i], abs=1e-5)
        assert h.scores["blip"] == pytest.approx(per["blip"][i], abs=1e-5)
    # a collection recorded as a million products: the ef grows with it (256 x 10 ** 0.6)
    meta.points = 1_000_000
    backend.write_meta(meta_key(physical), meta.model_dump())
    corpus.searcher._meta = None
    corpus.searcher.search_vectors(q, Weights.parse("1,1,1"), limit=10)
    assert plans[-1].hnsw_ef == 1020  # rounded up
    corpus.searcher.hnsw_ef_growth = 0.0  # QDRANT_MM_HNSW_EF_GROWTH=0: the ef given, at any size
    corpus.searcher.search_vectors(q, Weights.parse("1,1,1"), limit=10)
    assert plans[-1].hnsw_ef == 256


def test_sync_records_point_count_for_the_plan(tmp_path, backend, collection_name):  # noqa: F811
    from qdrant_mm.collection import read_collection_meta
    from qdrant_mm.sync import Syncer
    from tests.helpers import product_rows, write_catalog

    Syncer(backend, fake_bundle(), collection_name).sync(write_catalog(tmp_path, product_rows(7)))
    assert read_collection_meta(backend, backend.resolve(collection_name)).points == 7


def test_searcher_follows_a_rebuild_made_elsewhere(tmp_path, backend, collection_name):  # noqa: F811
    from qdrant_mm.sync import Syncer
    from tests.helpers import product_rows, write_catalog

    bundle = fake_bundle()
    Syncer(backend, bundle, collection_name).sync(write_catalog(tmp_path, product_rows(4)))
    searcher = Searcher(backend, bundle, collection_name, meta_ttl=0)
    assert len(searcher.search("product", limit=10).hits) == 4
    assert searcher.meta.points == 4
    Syncer(backend, bundle, collection_name).sync(
        write_catalog(tmp_path, product_rows(9)), rebuild=True
    )
    assert len(searcher.search("product", limit=10).hits) == 9
    assert searcher.meta.points == 9


def test_a_calibrated_result_carries_what_reconciles_its_scores(corpus, backend):  # noqa: F811
    """A calibrated score is sum(w_c * (s_c - mean_c) / std_c), not sum(w_c * s_c): the result
    carries the means and stds that make each hit's score checkable from its channel scores."""
    from qdrant_mm.collection import read_collection_meta
    from qdrant_mm.schema import ChannelStats, meta_key

    physical = backend.resolve(corpus.searcher.collection)
    meta = read_collection_meta(backend, physical)
    stats = {"blip": (0.1, 0.05), "clip": (-0.02, 0.2), "interrogator": (0.3, 0.1)}
    meta.calibration = {ch: ChannelStats(mean=m, std=s) for ch, (m, s) in stats.items()}
    backend.write_meta(meta_key(physical), meta.model_dump())
    corpus.searcher._meta = None
    w = Weights.parse("0.5,0.3,0.2")
    result = corpus.searcher.search("product 3", weights=w, calibrate=True, limit=8)
    assert result.calibrated and set(result.calibration) == set(CHANNELS)
    assert result.hits
    for h in result.hits:
        z = sum(
            getattr(w, ch)
            * (h.scores[ch] - result.calibration[ch].mean)
            / result.calibration[ch].std
            for ch in CHANNELS
        )
        assert h.score == pytest.approx(z, abs=1e-4)
    plain = corpus.searcher.search("product 3", weights=w, calibrate=False, limit=8)
    assert plain.calibration is None


def test_image_queries_are_not_calibrated(corpus):
    from PIL import Image

    img = Image.new("RGB", (16, 16), (200, 10, 10))
    with pytest.raises(QueryError, match="text queries"):
        corpus.searcher.search(image=img, calibrate=True)
    assert corpus.searcher.search(image=img).calibrated is False


def test_one_channel_ef_factor_shrinks_with_the_blocks_width():
    """On the fused layout: twice the ef for the narrowest block, 2·sqrt(narrowest / width)
    for wider ones, never below 1x; a channel's own graph and photo rows keep 2x."""
    from qdrant_mm.schema import LAYOUT_FUSED, LAYOUT_PHOTOS, CollectionMeta
    from qdrant_mm.search import ONE_CHANNEL_EF_FACTOR, one_channel_ef_factor

    ids = {"blip": "b", "clip": "c", "interrogator": "i"}
    dims = {"blip": 256, "clip": 512, "interrogator": 1536}
    fused = CollectionMeta(model_ids=ids, dims=dims, layout=LAYOUT_FUSED)
    assert one_channel_ef_factor(fused, "blip") == ONE_CHANNEL_EF_FACTOR == 2
    assert one_channel_ef_factor(fused, "clip") == pytest.approx(2**0.5)
    assert one_channel_ef_factor(fused, "interrogator") == 1.0  # 2/sqrt(6) < 1: clamped
    same = CollectionMeta(model_ids=ids, dims=dict.fromkeys(dims, 512), layout=LAYOUT_FUSED)
    assert [one_channel_ef_factor(same, ch) for ch in dims] == [2.0, 2.0, 2.0]
    for layout in (LAYOUT_CHANNELS, LAYOUT_PHOTOS):
        other = CollectionMeta(model_ids=ids, dims=dims, layout=layout)
        assert [one_channel_ef_factor(other, ch) for ch in dims] == [2.0, 2.0, 2.0]


@pytest.mark.parametrize("plan", ["fused", "union"])
@pytest.mark.parametrize("w", ["1,1,1", "0.7,0.2,0.1", "0,1,0"])
def test_pages_list_duplicate_products_once_each(backend, collection_name, plan, w):  # noqa: F811
    """Products with identical photos and text (duplicate listings) score exactly alike: paging
    through the results shows each of them once, tied ones in id order."""
    bundle = fake_bundle()
    dims = bundle.dims()
    rng = np.random.default_rng(8)
    groups, size = 12, 10
    base = {ch: unit(rng.standard_normal((groups, dims[ch]))) for ch in CHANNELS}
    vectors = {ch: np.repeat(base[ch], size, axis=0) for ch in CHANNELS}
    fused = fuse_document(vectors)
    ids = [f"sku-{i:03d}" for i in range(groups * size)]
    create_physical(backend, collection_name, bundle.model_ids(), dims)
    backend.upsert(
        collection_name,
        [
            PointRecord(point_id(ids[i]), {FUSED: fused[i]}, {"product_id": ids[i]})
            for i in rng.permutation(len(ids))
        ],
    )
    backend.optimize(collection_name)
    searcher = Searcher(backend, bundle, collection_name, plan=plan)
    q = {ch: unit(base[ch][0] + rng.standard_normal(dims[ch])) for ch in CHANNELS}
    weights = Weights.parse(w)
    seen = []
    for page in range(groups * size // 7 + 1):
        seen += searcher.search_vectors(q, weights, limit=7, offset=7 * page)
    score = sum(getattr(weights, ch) * (base[ch] @ q[ch]) for ch in CHANNELS)
    expected = [ids[g * size + k] for g in np.argsort(-score, kind="stable") for k in range(size)]
    assert [h.id for h in seen] == expected
