"""Products with several photos, and products without one, on every backend.

A product's score is the maximum over its photos of the weighted score (checked against brute
force over the stored rows), hits name the photo that scored, photos are embedded once each
(adding one embeds one; reordering embeds none), and products without a photo are stored from
their text, flagged, and ranked on the photo products' scale.
"""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest

from qdrant_mm.catalog import MAX_IMAGES, point_id, read_catalog
from qdrant_mm.collection import read_collection_meta
from qdrant_mm.fusion import split
from qdrant_mm.schema import FUSED, LAYOUT_FUSED, LAYOUT_PHOTOS, ChannelStats, SourceStats, meta_key
from qdrant_mm.search import PHOTOS_EF_FACTOR, Searcher
from qdrant_mm.sync import Syncer
from qdrant_mm.weights import CHANNELS, Weights
from tests.backends import backend, collection_name  # noqa: F401
from tests.fakes import fake_bundle
from tests.helpers import write_image

WEIGHTINGS = ["1,1,1", "1,0,0", "0,1,0", "0,0,1", "0.6,0.3,0.1", "0.1,0.2,0.7", "0.5,0.5,0"]


def shop(root, n_photo_products: int = 6):
    """A catalog mixing one-photo, three-photo and no-photo products (photos written)."""
    rows = []
    for i in range(n_photo_products):
        count = 3 if i % 2 else 1
        refs = [f"img/p{i}_{j}.png" for j in range(count)]
        row = {"id": f"p{i}", "title": f"product {i}", "category": "shoes" if i % 3 else "bags"}
        if count == 1:
            row["image"] = refs[0]
        else:
            row["images"] = refs
        rows.append(row)
    rows.append({"id": "t0", "title": "gift card", "description": "a digital gift card"})
    rows.append({"id": "t1", "title": "ebook on knitting", "category": "shoes"})
    return write_shop(root, rows)


def write_shop(root, rows, name="catalog.jsonl"):
    root.mkdir(parents=True, exist_ok=True)
    for row in rows:
        for ref in ([row["image"]] if row.get("image") else []) + list(row.get("images") or []):
            if not (root / ref).exists():
                write_image(root / ref, seed=zlib.crc32(ref.encode()))
    path = root / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path, rows


def stored(backend, name):  # noqa: F811
    physical = backend.resolve(name)
    ids = [pid for pid, _ in backend.scroll_payload(physical, ["product_id"])]
    return {sp.payload["product_id"]: sp for sp in backend.retrieve(physical, ids, (FUSED,))}


def brute_force(points, dims, q, w, meta, query_kind="text"):
    """product id -> (score, best row) over the stored rows, text-only products put on the
    photo scale (capped at 1) as the search does."""
    out = {}
    for pid, sp in points.items():
        rows = np.atleast_2d(sp.vectors[FUSED])
        blocks = split(rows, dims)
        per = {ch: blocks[ch] @ q[ch] for ch in CHANNELS}
        if sp.payload.get("vectors_from") == "text" and meta.source_stats is not None:
            for ch in CHANNELS:
                a, b = meta.source_stats.text_to_image_scale(query_kind, ch)
                per[ch] = np.minimum(a * per[ch] + b, 1.0)  # never above an identical photo
        fused = sum(getattr(w, ch) * per[ch] for ch in CHANNELS)
        best = int(np.argmax(fused))
        out[pid] = (float(fused[best]), best)
    return out


def test_mixed_catalog_stores_every_product(tmp_path, backend, collection_name):  # noqa: F811
    cat, rows = shop(tmp_path)
    report = Syncer(backend, fake_bundle(), collection_name).sync(cat)
    assert report.failed == [] and report.added == len(rows)
    assert report.stored_from_text == 2 and report.photos_embedded == 3 * 3 + 3 * 1
    points = stored(backend, collection_name)
    assert set(points) == {r["id"] for r in rows}
    assert points["p1"].vectors[FUSED].shape[0] == 3 and points["p0"].vectors[FUSED].shape[0] == 1
    assert points["p1"].payload["image_refs"] == [f"img/p1_{j}.png" for j in range(3)]
    assert points["t0"].payload["vectors_from"] == "text"
    assert points["p0"].payload["vectors_from"] == "photos"
    meta = read_collection_meta(backend, backend.resolve(collection_name))
    assert meta.text_only == 2 and meta.points == len(rows) and meta.max_photos == 3
    assert meta.source_stats is not None
    # HNSW searches on products with several photos widen the ef
    plans = []
    real = backend.query
    backend.query = lambda name, plan: plans.append(plan) or real(name, plan)
    searcher = Searcher(backend, fake_bundle(), collection_name, exact_below=0, hnsw_ef=100)
    searcher.search("shoe", weights="1,1,1", limit=5)
    assert plans and all(p.hnsw_ef == 100 * PHOTOS_EF_FACTOR for p in plans)


def test_photo_of_a_three_photo_product_finds_it_naming_that_photo(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
):
    cat, _ = shop(tmp_path)
    bundle = fake_bundle()
    Syncer(backend, bundle, collection_name).sync(cat)
    searcher = Searcher(backend, bundle, collection_name)
    for weights in ("1,1,1", "0,1,0"):
        hits = searcher.search(image=tmp_path / "img/p3_1.png", weights=weights, limit=5).hits
        assert hits[0].id == "p3" and hits[0].matched_image == "img/p3_1.png"
        assert not hits[0].text_only
        assert len({h.id for h in hits}) == len(hits)  # a product never twice


@pytest.mark.parametrize("overfetch", [100, 0])  # photo products: deeper search, or filtered
@pytest.mark.parametrize("exact", [True, False])
def test_score_is_the_best_photos_weighted_score_exactly(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
    exact,
    overfetch,
    monkeypatch,
):
    monkeypatch.setattr("qdrant_mm.search.TEXT_ONLY_OVERFETCH", overfetch)
    cat, rows = shop(tmp_path, n_photo_products=10)
    bundle = fake_bundle()
    Syncer(backend, bundle, collection_name).sync(cat)
    meta = read_collection_meta(backend, backend.resolve(collection_name))
    points = stored(backend, collection_name)
    searcher = Searcher(backend, bundle, collection_name, exact=exact, exact_below=0)
    dims = bundle.dims()
    for seed, raw in enumerate(WEIGHTINGS):
        w = Weights.parse(raw)
        for text in (f"query {seed}", "product 3"):
            q = bundle.encode_query_text(text, CHANNELS)
            want = brute_force(points, dims, q, w, meta)
            hits = searcher.search(text, weights=w, limit=len(rows)).hits
            assert [h.id for h in hits] == sorted(want, key=lambda p: -want[p][0])
            for h in hits:
                score, row = want[h.id]
                assert h.score == pytest.approx(score, abs=1e-4)
                # the hit's channel scores are those of the photo that scored
                assert sum(getattr(w, ch) * (h.scores[ch] or 0) for ch in CHANNELS) == (
                    pytest.approx(score, abs=1e-4)
                )
                refs = points[h.id].payload["image_refs"]
                assert h.matched_image == (refs[row] if refs else None)
                assert h.text_only == (h.id.startswith("t"))
        # pages: the second page is the continuation of the first
        first = searcher.search("product 3", weights=w, limit=4).hits
        second = searcher.search("product 3", weights=w, limit=4, offset=4).hits
        both = searcher.search("product 3", weights=w, limit=8).hits
        assert [h.id for h in first + second] == [h.id for h in both]


def test_filters_apply_to_both_kinds(tmp_path, backend, collection_name):  # noqa: F811
    cat, rows = shop(tmp_path)
    bundle = fake_bundle()
    Syncer(backend, bundle, collection_name).sync(cat)
    hits = (
        Searcher(backend, bundle, collection_name)
        .search("knitting", filter="category=shoes", limit=20)
        .hits
    )
    want = {r["id"] for r in rows if r.get("category") == "shoes"}
    assert {h.id for h in hits} == want and "t1" in want


def test_photo_changes_embed_only_the_new_photo(tmp_path, backend, collection_name):  # noqa: F811
    cat, rows = shop(tmp_path)
    bundle = fake_bundle()
    Syncer(backend, bundle, collection_name).sync(cat)
    before = stored(backend, collection_name)["p1"].vectors[FUSED]
    # one photo added to a three-photo product
    rows[1]["images"].append("img/p1_new.png")
    write_shop(tmp_path, rows)
    seen, described = bundle.blip.images_seen, bundle.describer.calls
    report = Syncer(backend, bundle, collection_name).sync(cat)
    assert report.photos_embedded == 1 and bundle.blip.images_seen - seen == 1
    assert bundle.describer.calls - described == 1
    assert (report.updated, report.unchanged) == (1, len(rows) - 1)
    after = stored(backend, collection_name)["p1"].vectors[FUSED]
    assert after.shape[0] == 4
    np.testing.assert_allclose(after[:3], before, atol=1e-6)  # the old rows, reused as they were
    # reordering and removing photos runs no photo model
    rows[1]["images"] = [rows[1]["images"][2], rows[1]["images"][0]]
    write_shop(tmp_path, rows)
    seen = bundle.blip.images_seen
    report = Syncer(backend, bundle, collection_name).sync(cat)
    assert report.photos_embedded == 0 and bundle.blip.images_seen == seen
    point = stored(backend, collection_name)["p1"]
    assert point.payload["image_refs"] == ["img/p1_2.png", "img/p1_0.png"]
    np.testing.assert_allclose(point.vectors[FUSED], before[[2, 0]], atol=1e-6)
    # an unchanged catalog runs no model at all
    seen = bundle.blip.images_seen
    report = Syncer(backend, bundle, collection_name).sync(cat)
    assert report.unchanged == len(rows) and bundle.blip.images_seen == seen


def test_missing_image_skip_leaves_products_without_a_photo_out(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
):
    cat, rows = shop(tmp_path)
    report = Syncer(backend, fake_bundle(), collection_name, missing_image="skip").sync(cat)
    assert report.ok and {s.id for s in report.skipped} == {"t0", "t1"}
    assert set(stored(backend, collection_name)) == {r["id"] for r in rows} - {"t0", "t1"}


def test_a_broken_only_photo_keeps_the_stored_version_or_falls_back_to_text(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
):
    cat, rows = shop(tmp_path)
    bundle = fake_bundle()
    Syncer(backend, bundle, collection_name).sync(cat)
    before = stored(backend, collection_name)["p0"]
    (tmp_path / "img/p0_0.png").write_bytes(b"not an image")
    (tmp_path / "img/p1_1.png").unlink()
    report = Syncer(backend, bundle, collection_name).sync(cat)  # broken_image="keep"
    assert {f.id for f in report.failed} == {"p0", "p1"}
    assert "p1_1.png" in next(f.reason for f in report.failed if f.id == "p1")
    kept = stored(backend, collection_name)["p0"]
    assert kept.payload["content_hash"] == before.payload["content_hash"]
    np.testing.assert_allclose(kept.vectors[FUSED], before.vectors[FUSED])

    report = Syncer(backend, bundle, collection_name, broken_image="text").sync(cat)
    assert report.failed == [] and {f.id for f in report.fallbacks} == {"p0", "p1"}
    reasons = {f.id: f.reason for f in report.fallbacks}
    assert "stored from its text" in reasons["p0"] and "2 of its 3 photos" in reasons["p1"]
    points = stored(backend, collection_name)
    assert points["p0"].payload["vectors_from"] == "text"
    assert points["p1"].payload["image_refs"] == ["img/p1_0.png", "img/p1_2.png"]
    hits = Searcher(backend, bundle, collection_name).search("product 0", limit=20).hits
    assert next(h for h in hits if h.id == "p0").text_only
    # the same broken file is not tried again: nothing to re-embed
    again = Syncer(backend, bundle, collection_name, broken_image="text").sync(cat)
    assert again.updated == 0 and again.photos_embedded == 0


def test_source_scale_maps_text_statistics_onto_photo_statistics():
    def stats(mean, std):
        return {ch: ChannelStats(mean=mean, std=std) for ch in CHANNELS}

    source = SourceStats(
        stats={
            "text": {"image": stats(0.2, 0.05), "text": stats(0.8, 0.1)},
            "image": {"image": stats(0.5, 0.2), "text": stats(0.1, 0.05)},
        }
    )
    a, b = source.text_to_image_scale("text", "clip")
    assert (a, b) == pytest.approx((0.5, 0.2 - 0.5 * 0.8))
    assert a * 0.8 + b == pytest.approx(0.2)  # the text mean lands on the photo mean
    a, b = source.text_to_image_scale("image", "blip")
    assert a * 0.15 + b == pytest.approx(0.5 + 0.2)  # one text std above -> one photo std


@pytest.mark.parametrize("text_mean", [-5.0, 5.0])
def test_text_only_products_are_ranked_by_the_stored_statistics(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
    text_mean,
):
    """Text against text scores higher than text against photos; the search puts text-only
    products' channel scores on the photo products' scale with the statistics sync stored.
    Statistics saying text-only scores run very high (low) make them sink (rise)."""
    cat, rows = shop(tmp_path, n_photo_products=12)
    bundle = fake_bundle()
    Syncer(backend, bundle, collection_name).sync(cat)
    physical = backend.resolve(collection_name)
    meta = read_collection_meta(backend, physical)
    meta.source_stats.stats["text"]["text"] = {
        ch: ChannelStats(mean=text_mean, std=0.05) for ch in CHANNELS
    }
    backend.write_meta(meta_key(physical), meta.model_dump())
    searcher = Searcher(backend, bundle, collection_name, meta_ttl=0)
    hits = searcher.search("product 3", weights="1,1,1", limit=len(rows)).hits
    kinds = [h.text_only for h in hits]
    # put on the photo scale, a channel score is never above what an identical photo scores
    assert all(v <= 1.0 for h in hits if h.text_only for v in h.scores.values())
    assert kinds == ([False] * 12 + [True] * 2 if text_mean > 0 else [True] * 2 + [False] * 12)
    q = bundle.encode_query_text("product 3", CHANNELS)
    want = brute_force(
        stored(backend, collection_name), bundle.dims(), q, Weights.parse("1,1,1"), meta
    )
    for h in hits:
        assert h.score == pytest.approx(want[h.id][0], rel=1e-4, abs=1e-4)
    # calibrated (z-scores), the text-only products keep their place relative to the others
    calibrated = searcher.search("product 3", weights="1,1,1", limit=len(rows), calibrate=True)
    calibrated = calibrated.hits
    assert [h.text_only for h in calibrated] == kinds


def test_a_collection_of_one_photo_per_product_stores_the_first_of_several(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
):
    """A collection created for one photo per product (a plain ``fused`` vector) stores the
    first photo of a product that now lists several, and says how to store them all;
    ``sync --rebuild`` then creates a collection with one row per photo."""
    bundle = fake_bundle()
    one_photo = [r for r in shop(tmp_path / "a")[1] if not r.get("images")]
    first, _ = write_shop(tmp_path / "a", one_photo)
    Syncer(backend, bundle, collection_name).sync(first)
    meta = read_collection_meta(backend, backend.resolve(collection_name))
    assert meta.layout == LAYOUT_FUSED  # no product had several photos
    cat, rows = shop(tmp_path / "a")
    report = Syncer(backend, bundle, collection_name).sync(cat)
    multi = {r["id"] for r in rows if len(r.get("images") or []) > 1}
    assert report.failed == [] and {f.id for f in report.fallbacks} == multi
    assert all("--rebuild" in f.reason for f in report.fallbacks)
    points = stored(backend, collection_name)
    assert set(points) == {r["id"] for r in rows}
    assert points["p1"].payload["image_refs"] == ["img/p1_0.png"]
    assert points["t0"].payload["vectors_from"] == "text"
    hits = Searcher(backend, bundle, collection_name).search("gift card", limit=20).hits
    assert {h.id for h in hits if h.text_only} == {"t0", "t1"}
    for h in hits:  # one stored photo each: it is the one that scored
        refs = points[h.id].payload["image_refs"]
        assert h.matched_image == (refs[0] if refs else None)
    assert next(h for h in hits if h.id == "p1").matched_image == "img/p1_0.png"
    Syncer(backend, bundle, collection_name).sync(cat, rebuild=True)
    meta = read_collection_meta(backend, backend.resolve(collection_name))
    assert meta.layout == LAYOUT_PHOTOS
    assert stored(backend, collection_name)["p1"].vectors[FUSED].shape[0] == 3


def test_photo_lists_in_every_catalog_format(tmp_path):
    (tmp_path / "c.csv").write_text(
        'id,title,images\np1,a,"a.png|b.png"\np2,b,"[""c.png"", ""d.png""]"\np3,c,\n'
    )
    (tmp_path / "c.json").write_text(json.dumps([{"id": "p1", "images": ["a.png", "b.png"]}]))
    (tmp_path / "c.tsv").write_text("id\timage\timages\np1\ta.png\ta.png|b.png\n")
    csv = read_catalog(tmp_path / "c.csv")
    assert [p.image_refs() for p in csv.products] == [["a.png", "b.png"], ["c.png", "d.png"], []]
    assert read_catalog(tmp_path / "c.json").products[0].image_refs() == ["a.png", "b.png"]
    assert read_catalog(tmp_path / "c.tsv").products[0].image_refs() == ["a.png", "b.png"]
    too_many = [{"id": "x", "images": [f"{i}.png" for i in range(MAX_IMAGES + 1)]}]
    bad = [{"id": "y", "images": [1, 2]}, {"id": "z", "images": {"a": 1}}]
    (tmp_path / "bad.jsonl").write_text("".join(json.dumps(r) + "\n" for r in too_many + bad))
    cat = read_catalog(tmp_path / "bad.jsonl")
    assert cat.products == [] and [r.product_id for r in cat.invalid] == ["x", "y", "z"]
    assert f"at most {MAX_IMAGES}" in cat.invalid[0].error
    assert "images" in cat.invalid[1].error and "entry 1" in cat.invalid[1].error


def test_a_product_without_photo_or_text_fails_alone(tmp_path, backend, collection_name):  # noqa: F811
    cat, rows = write_shop(tmp_path, [{"id": "a", "title": "hat"}, {"id": "b", "brand": "x"}])
    report = Syncer(backend, fake_bundle(), collection_name).sync(cat)
    assert [f.id for f in report.failed] == ["b"] and "no title or description" in (
        report.failed[0].reason
    )
    assert set(stored(backend, collection_name)) == {"a"}
    assert point_id("a") in {sp.id for sp in stored(backend, collection_name).values()}


def test_skip_removes_a_stored_product_that_lost_its_photo(tmp_path, backend, collection_name):  # noqa: F811
    cat, rows = shop(tmp_path)
    bundle = fake_bundle()
    Syncer(backend, bundle, collection_name).sync(cat)
    del rows[0]["image"]  # p0 loses its photo
    write_shop(tmp_path, rows)
    report = Syncer(backend, bundle, collection_name, missing_image="skip").sync(cat)
    assert {f.id for f in report.skipped} == {"p0", "t0", "t1"} and report.deleted == 3
    assert set(stored(backend, collection_name)) == {r["id"] for r in rows} - {"p0", "t0", "t1"}


def test_statistics_need_no_title_on_text_only_products(tmp_path, backend, collection_name):  # noqa: F811
    """A text-only product with a description but no title is still put on the photo scale."""
    cat, rows = shop(tmp_path)
    for r in rows:
        if r["id"].startswith("t"):
            r.pop("title")
            r["description"] = r.get("description") or "a knitting pattern booklet"
    write_shop(tmp_path, rows)
    Syncer(backend, fake_bundle(), collection_name).sync(cat)
    meta = read_collection_meta(backend, backend.resolve(collection_name))
    assert meta.text_only == 2 and meta.source_stats is not None


def test_text_only_products_of_an_unfinished_sync_wait_for_their_statistics(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
):
    """A sync that adds the first products without a photo and is killed before it computes
    their statistics leaves them stored but unscaled: on raw scores they would take the top
    of a text query. Until a sync finishes, search counts the products itself and leaves
    those text-only products out; the next sync puts them on the photo scale."""
    bundle = fake_bundle()
    cat, rows = shop(tmp_path / "a")
    photo_rows = [r for r in rows if r.get("image") or r.get("images")]
    first, _ = write_shop(tmp_path / "a", photo_rows, name="photos.jsonl")
    Syncer(backend, bundle, collection_name).sync(first)
    meta = read_collection_meta(backend, backend.resolve(collection_name))
    assert (meta.text_only, meta.source_stats, meta.writing) == (0, None, False)

    killer = Syncer(backend, bundle, collection_name)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed before the sync recorded its counts")

    killer._update_meta = killed
    with pytest.raises(KeyboardInterrupt):
        killer.sync(cat)
    physical = backend.resolve(collection_name)
    meta = read_collection_meta(backend, physical)
    assert meta.writing and meta.text_only == 0 and meta.source_stats is None
    assert backend.count(collection_name) == len(rows)  # t0 and t1 are stored

    searcher = Searcher(backend, bundle, collection_name)
    hits = searcher.search("gift card", limit=20).hits
    assert searcher.meta.text_only == 2 and searcher.meta.points == len(rows)  # counted live
    assert {h.id for h in hits} == {r["id"] for r in photo_rows}  # every photo product
    photos = {"must": [{"key": "vectors_from", "match": {"value": "photos"}}]}
    photo_only = searcher.search("gift card", limit=20, filter=photos).hits
    assert [(h.id, h.score) for h in hits] == [(h.id, h.score) for h in photo_only]
    # with a filter of the caller's: both apply (t1 is a text-only product in "shoes")
    shoes = {"must": [{"key": "category", "match": {"value": "shoes"}}]}
    got = searcher.search("gift card", limit=20, filter=shoes).hits
    assert {h.id for h in got} == {r["id"] for r in photo_rows if r["category"] == "shoes"}
    # a photo query is left as it was (raw scores sink text-only products there)
    image = tmp_path / "a" / photo_rows[0]["image"]
    by_photo = searcher.search(image=image, limit=20).hits
    assert {h.id for h in by_photo if h.text_only} == {"t0", "t1"}
    # the guard is what leaves them out: the meta of a finished sync ranks them on raw scores
    backend.write_meta(meta_key(physical), meta.model_copy(update={"writing": False}).model_dump())
    raw = Searcher(backend, bundle, collection_name).search("gift card", limit=20).hits
    assert {h.id for h in raw if h.text_only} == {"t0", "t1"}
    backend.write_meta(meta_key(physical), meta.model_dump())

    report = Syncer(backend, bundle, collection_name).sync(cat)
    assert report.ok
    meta = read_collection_meta(backend, backend.resolve(collection_name))
    assert not meta.writing and meta.text_only == 2 and meta.source_stats is not None
    hits = Searcher(backend, bundle, collection_name).search("gift card", limit=20).hits
    assert {h.id for h in hits if h.text_only} == {"t0", "t1"}


def test_duplicate_products_of_both_kinds_page_once_each(tmp_path, backend, collection_name):  # noqa: F811
    """Duplicate listings (the same photo and title, or the same text without a photo) score
    exactly alike: paging through a search that merges photo and text-only products shows each
    product once, tied ones in id order, on a collection of photo rows."""
    rows = [
        {"id": f"p{i}", "title": f"product {i}", "images": [f"img/p{i}_{j}.png" for j in range(2)]}
        for i in range(4)
    ]
    rows += [{"id": f"d{i}", "title": "the same shoe", "image": "img/same.png"} for i in range(7)]
    rows += [{"id": f"t{i}", "title": "gift card", "description": "a card"} for i in range(7)]
    cat, rows = write_shop(tmp_path, rows)
    bundle = fake_bundle()
    Syncer(backend, bundle, collection_name).sync(read_catalog(cat))
    meta = read_collection_meta(backend, backend.resolve(collection_name))
    assert meta.layout == LAYOUT_PHOTOS and meta.text_only == 7 and meta.source_stats
    searcher = Searcher(backend, bundle, collection_name, exact_below=0)
    for text in ("the same shoe", "gift card"):
        whole = searcher.search(text, weights="1,1,1", limit=len(rows)).hits
        assert len({h.score for h in whole if h.id.startswith("d")}) == 1  # they do tie
        assert len({h.score for h in whole if h.id.startswith("t")}) == 1
        ties = [(-h.score, h.id) for h in whole]
        assert ties == sorted(ties)  # ties in id order
        paged = []
        for page in range(len(rows) // 3 + 1):
            paged += searcher.search(text, weights="1,1,1", limit=3, offset=3 * page).hits
        assert [h.id for h in paged] == [h.id for h in whole]


def test_a_capped_text_only_score_never_passes_one():
    """The engine's float32 sum, less what the cap takes off, left 1.0000000113: a text above
    the score of a photo identical to the query."""
    from qdrant_mm.search import SearchHit, _capped

    w = Weights.parse("0,1,0")
    hit = SearchHit(
        id="t", score=1.2500000113, scores={"blip": 0.4, "clip": 1.25, "interrogator": 0.3},
        payload={}, text_only=True,
    )  # fmt: skip
    capped = _capped(hit, w, None)
    assert capped.scores["clip"] == 1.0 and capped.score == 1.0
    mixed = Weights.parse("0.5,0.5,0")
    hit = hit.model_copy(update={"score": 0.5 * 0.4 + 0.5 * 1.25})
    assert _capped(hit, mixed, None).score == pytest.approx(0.5 * 0.4 + 0.5 * 1.0, abs=1e-12)
