from __future__ import annotations

import json

import numpy as np
import pytest

from qdrant_mm.catalog import point_id
from qdrant_mm.errors import SchemaMismatchError
from qdrant_mm.fusion import split
from qdrant_mm.schema import FUSED
from qdrant_mm.settings import CHANNELS
from qdrant_mm.sync import Syncer
from tests.backends import backend, collection_name  # noqa: F401
from tests.fakes import fake_bundle, total_model_calls
from tests.helpers import product_rows, write_catalog, write_image


def stored_products(backend, collection):  # noqa: F811
    return {
        pl["product_id"]: pl
        for _, pl in backend.scroll_payload(
            collection, ["product_id", "title", "price", "content_hash"]
        )
    }


def test_sync_stores_every_product_with_its_fused_vector_and_payload(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
):
    rows = product_rows(12)
    cat = write_catalog(tmp_path, rows)
    bundle = fake_bundle()
    report = Syncer(backend, bundle, collection_name, batch_size=5).sync(cat)
    assert (report.added, report.updated, report.unchanged, report.deleted) == (12, 0, 0, 0)
    assert report.failed == []
    got = backend.retrieve(collection_name, [point_id(r["id"]) for r in rows], (FUSED,))
    assert len(got) == 12
    dims = bundle.dims()
    for sp in got:
        row = next(r for r in rows if r["id"] == sp.payload["product_id"])
        for k in ("title", "category", "brand", "price", "colour"):
            assert sp.payload[k] == row[k]
        # fused = concat of the channels' unit vectors (a catalog of one photo per product
        # stores nothing else)
        assert sp.vectors[FUSED].shape == (sum(dims.values()),)
        for ch, block in split(sp.vectors[FUSED], dims).items():
            assert np.linalg.norm(block) == pytest.approx(1.0, abs=1e-5), ch
        assert row["title"] in sp.payload["interrogator_text"][0]
        assert sp.payload["image_refs"] == [row["image"]] and sp.payload["vectors_from"] == "photos"


def test_resync_same_catalog_makes_zero_model_calls(tmp_path, backend, collection_name):  # noqa: F811
    cat = write_catalog(tmp_path, product_rows(9))
    bundle = fake_bundle()
    Syncer(backend, bundle, collection_name, batch_size=4).sync(cat)
    before = total_model_calls(bundle)
    assert before > 0
    report = Syncer(backend, bundle, collection_name, batch_size=4).sync(cat)
    assert total_model_calls(bundle) == before
    assert (report.added, report.updated, report.unchanged, report.deleted) == (0, 0, 9, 0)


def test_changed_title_reembeds_exactly_one_product(tmp_path, backend, collection_name):  # noqa: F811
    rows = product_rows(8)
    cat = write_catalog(tmp_path, rows)
    bundle = fake_bundle()
    Syncer(backend, bundle, collection_name).sync(cat)
    before = backend.retrieve(collection_name, [point_id("p3")], (FUSED,))[0].vectors[FUSED]
    rows[3]["title"] = "a brand new title"
    write_catalog(tmp_path, rows)
    seen, described = bundle.blip.images_seen, bundle.describer.calls
    report = Syncer(backend, bundle, collection_name).sync(cat)
    # The photo is unchanged: no photo model runs; its interrogator text (which holds the
    # title) is embedded again.
    assert bundle.blip.images_seen - seen == 0 and bundle.describer.calls == described
    assert (report.added, report.updated, report.unchanged, report.embedded) == (0, 1, 7, 1)
    assert report.photos_embedded == 0
    stored = backend.retrieve(collection_name, [point_id("p3")], (FUSED,))[0]
    assert stored.payload["title"] == "a brand new title"
    assert "a brand new title" in stored.payload["interrogator_text"][0]
    old, new = split(before, bundle.dims()), split(stored.vectors[FUSED], bundle.dims())
    np.testing.assert_allclose(new["blip"], old["blip"])
    np.testing.assert_allclose(new["clip"], old["clip"])
    assert not np.allclose(new["interrogator"], old["interrogator"])


def test_payload_only_change_rewrites_payload_without_models(tmp_path, backend, collection_name):  # noqa: F811
    rows = product_rows(5)
    cat = write_catalog(tmp_path, rows)
    bundle = fake_bundle()
    Syncer(backend, bundle, collection_name).sync(cat)
    before_vec = backend.retrieve(collection_name, [point_id("p2")], (FUSED,))[0].vectors[FUSED]
    rows[2]["price"] = 99.5
    write_catalog(tmp_path, rows)
    calls = total_model_calls(bundle)
    report = Syncer(backend, bundle, collection_name).sync(cat)
    assert total_model_calls(bundle) == calls
    assert report.updated == 1 and report.embedded == 0
    after = backend.retrieve(collection_name, [point_id("p2")], (FUSED,))[0]
    assert after.payload["price"] == 99.5
    np.testing.assert_allclose(after.vectors[FUSED], before_vec)


def test_changed_image_bytes_reembed(tmp_path, backend, collection_name):  # noqa: F811
    cat = write_catalog(tmp_path, product_rows(4))
    bundle = fake_bundle()
    Syncer(backend, bundle, collection_name).sync(cat)
    old = backend.retrieve(collection_name, [point_id("p1")], (FUSED,))[0].vectors[FUSED]
    write_image(tmp_path / "images" / "p1.png", seed=12345)
    report = Syncer(backend, bundle, collection_name).sync(cat)
    assert report.updated == 1
    new = backend.retrieve(collection_name, [point_id("p1")], (FUSED,))[0].vectors[FUSED]
    assert not np.allclose(old, new)


def test_removed_product_is_deleted_unless_no_delete(tmp_path, backend, collection_name):  # noqa: F811
    rows = product_rows(6)
    cat = write_catalog(tmp_path, rows)
    bundle = fake_bundle()
    Syncer(backend, bundle, collection_name).sync(cat)
    write_catalog(tmp_path, rows[:4])
    report = Syncer(backend, bundle, collection_name).sync(cat, delete=False)
    assert report.deleted == 0 and backend.count(collection_name) == 6
    report = Syncer(backend, bundle, collection_name).sync(cat)
    assert report.deleted == 2
    assert set(stored_products(backend, collection_name)) == {"p0", "p1", "p2", "p3"}


def test_bad_rows_and_images_are_reported_and_the_rest_stored(tmp_path, backend, collection_name):  # noqa: F811
    rows = product_rows(4)
    img = tmp_path / "images"
    write_catalog(tmp_path, rows)  # writes the good images
    (img / "empty.png").write_bytes(b"")
    (img / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    good = (img / "p0.png").read_bytes()
    (img / "truncated.png").write_bytes(good[: len(good) // 2])
    (img / "notes.txt").write_text("not an image at all")
    from PIL import Image

    Image.new("RGB", (8, 8)).save(img / "image.ico", format="ICO")
    Image.new("L", (3000, 3000)).save(img / "bomb.png")  # 9 MP, over the limit set below
    bad = [
        {"title": "no id", "image": "images/p0.png"},
        {"id": "p1", "title": "duplicate of p1", "image": "images/p1.png"},
        {"id": "missing", "image": "images/nope.png"},
        {"id": "empty", "image": "images/empty.png"},
        {"id": "corrupt", "image": "images/corrupt.png"},
        {"id": "truncated", "image": "images/truncated.png"},
        {"id": "text", "image": "images/notes.txt"},
        {"id": "ico", "image": "images/image.ico"},
        {"id": "bomb", "image": "images/bomb.png"},
        {"id": "badprice", "price": "cheap", "image": "images/p0.png"},
    ]
    cat = tmp_path / "catalog.jsonl"
    cat.write_text("".join(json.dumps(r) + "\n" for r in rows + bad) + "{not json\n")
    from qdrant_mm.images import ImageLimits

    report = Syncer(
        backend, fake_bundle(), collection_name, image_limits=ImageLimits(max_pixels=1_000_000)
    ).sync(cat)
    assert report.added == 4
    assert set(stored_products(backend, collection_name)) == {"p0", "p1", "p2", "p3"}
    reasons = {f.id: f.reason for f in report.failed if f.id is not None}
    without_id = sorted(f.reason for f in report.failed if f.id is None)
    # line 5: the row without an id; line 15 (after 4 good and 10 bad rows): not JSON
    assert len(without_id) == 2
    assert without_id[0].startswith("line 15: invalid JSON")
    assert without_id[1].startswith("line 5: id")
    assert "duplicate" in reasons["p1"]
    assert "not found" in reasons["missing"]
    assert "empty" in reasons["empty"]
    assert "corrupt" in reasons["corrupt"] or "not an image" in reasons["corrupt"]
    assert "truncated" in reasons["truncated"] or "corrupt" in reasons["truncated"]
    assert "not an image" in reasons["text"]
    assert "unsupported image format" in reasons["ico"]
    assert "pixel limit" in reasons["bomb"]
    assert "price" in reasons["badprice"]
    assert any("invalid JSON" in f.reason for f in report.failed)
    assert not report.ok


@pytest.mark.parametrize("downloads", [1, 8])
def test_hostile_image_references_fail_their_product_only(tmp_path, downloads):
    """References that made the path or URL machinery itself raise (not a read error): each
    fails its product, naming the problem; the products after them are stored."""
    import httpx
    from PIL import Image

    from qdrant_mm.backends.edge import EdgeBackend

    rows = product_rows(3)
    write_catalog(tmp_path, rows)
    Image.new("RGB", (2000, 20)).save(tmp_path / "images" / "strip.png")  # 100:1
    hostile = {
        "nul": "images/p0.png\x00",
        "bad-port": "http://[::1/x.png",
        "control": "http://\x00/x.png",
        "long-label": "http://" + "a" * 64 + ".com/x.png",
        "no-such-user": "~no_such_user_qmm/x.png",
        "strip": "images/strip.png",
    }
    bad = [{"id": pid, "title": pid, "image": ref} for pid, ref in hostile.items()]
    cat = tmp_path / "catalog.jsonl"
    # the good products come after the bad ones
    cat.write_text("".join(json.dumps(r) + "\n" for r in bad + rows))

    def refuse(request: httpx.Request) -> httpx.Response:
        # as the network transport does before it connects: a host label over 63 characters
        # makes the IDNA codec raise UnicodeError
        request.url.host.encode("idna")
        raise AssertionError(f"no request was expected, got {request.url}")

    with EdgeBackend(tmp_path / "edge") as store:
        report = Syncer(
            store,
            fake_bundle(),
            "products",
            image_downloads=downloads,
            http_client=httpx.Client(transport=httpx.MockTransport(refuse)),
        ).sync(cat)
        assert set(stored_products(store, "products")) == {"p0", "p1", "p2"}
    reasons = {f.id: f.reason for f in report.failed}
    assert set(reasons) == set(hostile)
    assert "NUL character" in reasons["nul"]
    for pid in ("bad-port", "control", "long-label"):
        assert "invalid image URL" in reasons[pid], reasons[pid]
    assert "not found" in reasons["no-such-user"]
    assert "one side over 50 times the other" in reasons["strip"]


def test_interrupted_sync_rerun_gives_exactly_the_catalog(tmp_path, backend, collection_name):  # noqa: F811
    rows = product_rows(20)
    cat = write_catalog(tmp_path, rows)
    bundle = fake_bundle()
    Syncer(backend, bundle, collection_name, batch_size=4).sync(cat)
    # New catalog: 5 removed, 3 changed, 6 added.
    new_rows = rows[5:]
    for r in new_rows[:3]:
        r["title"] += " v2"
    new_rows += product_rows(26)[20:]
    write_catalog(tmp_path, new_rows)

    syncer = Syncer(backend, bundle, collection_name, batch_size=2)
    real_upsert = backend.upsert
    calls = {"n": 0}

    def crashing_upsert(collection, points):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        return real_upsert(collection, points)

    syncer._upsert = crashing_upsert
    with pytest.raises(KeyboardInterrupt):
        syncer.sync(cat)
    report = Syncer(backend, bundle, collection_name, batch_size=2).sync(cat)
    assert report.ok
    stored = stored_products(backend, collection_name)
    assert set(stored) == {r["id"] for r in new_rows}
    assert backend.count(collection_name) == len(new_rows)
    for r in new_rows:
        assert stored[r["id"]]["title"] == r["title"]
    again = Syncer(backend, bundle, collection_name).sync(cat)
    assert again.unchanged == len(new_rows) and again.embedded == 0


def test_transient_backend_errors_are_retried(tmp_path, backend, collection_name):  # noqa: F811
    cat = write_catalog(tmp_path, product_rows(6))
    real_upsert = backend.upsert
    failures = {"left": 2}

    def flaky(collection, points):
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("connection reset")
        return real_upsert(collection, points)

    backend.upsert = flaky
    report = Syncer(backend, fake_bundle(), collection_name, retry_initial_wait=0.001).sync(cat)
    assert report.ok and report.added == 6 and failures["left"] == 0


def test_non_transient_error_is_not_retried(tmp_path, backend, collection_name):  # noqa: F811
    cat = write_catalog(tmp_path, product_rows(2))
    attempts = {"n": 0}

    def broken(collection, points):
        attempts["n"] += 1
        raise ValueError("bad request")

    backend.upsert = broken
    with pytest.raises(ValueError):
        Syncer(backend, fake_bundle(), collection_name, retry_initial_wait=0.001).sync(cat)
    assert attempts["n"] == 1


def test_model_or_dimension_mismatch_is_refused_before_any_write(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
):
    cat = write_catalog(tmp_path, product_rows(3))
    Syncer(backend, fake_bundle((16, 24, 24)), collection_name).sync(cat)
    rows = product_rows(4)
    write_catalog(tmp_path, rows)
    with pytest.raises(
        SchemaMismatchError, match=r"blip dimension 16 \(models now give 32\).*--rebuild"
    ):
        Syncer(backend, fake_bundle((32, 24, 24)), collection_name).sync(cat)
    assert backend.count(collection_name) == 3


def test_rebuild_switches_alias_only_when_complete(tmp_path, backend, collection_name):  # noqa: F811
    cat = write_catalog(tmp_path, product_rows(5))
    Syncer(backend, fake_bundle(), collection_name).sync(cat)
    old_physical = backend.resolve(collection_name)
    bundle = fake_bundle((32, 24, 24))
    syncer = Syncer(backend, bundle, collection_name, batch_size=2)
    real_upsert = backend.upsert
    seen_during_build = []

    def watching_upsert(collection, points):
        seen_during_build.append(backend.resolve(collection_name))
        return real_upsert(collection, points)

    syncer._upsert = watching_upsert
    report = syncer.sync(cat, rebuild=True)
    assert report.added == 5
    assert set(seen_during_build) == {old_physical}  # searches saw the old index meanwhile
    new_physical = backend.resolve(collection_name)
    assert new_physical != old_physical
    assert not backend.collection_exists(old_physical)
    assert backend.count(collection_name) == 5
    # The new collection works with the new models.
    assert Syncer(backend, bundle, collection_name).sync(cat).unchanged == 5


def test_no_deletes_when_catalog_incomplete(tmp_path, backend, collection_name):  # noqa: F811
    rows = product_rows(4)
    cat = write_catalog(tmp_path, rows)
    bundle = fake_bundle()
    Syncer(backend, bundle, collection_name).sync(cat)
    from qdrant_mm.catalog import read_catalog

    partial = read_catalog(cat)
    partial.products = partial.products[:1]
    partial.complete = False
    report = Syncer(backend, bundle, collection_name).sync(partial)
    assert report.deleted == 0 and report.deletes_skipped
    assert backend.count(collection_name) == 4


def test_sync_stores_calibration_statistics(tmp_path, backend, collection_name):  # noqa: F811
    from qdrant_mm.collection import read_collection_meta

    cat = write_catalog(tmp_path, product_rows(10))
    report = Syncer(backend, fake_bundle(), collection_name).sync(cat)
    assert report.calibrated
    meta = read_collection_meta(backend, backend.resolve(collection_name))
    assert set(meta.calibration) == set(CHANNELS)
    # Expected: each title, embedded as a text query, against every other product's stored
    # document vector of the same channel (the interrogator shares CLIP's text tower here).
    bundle = fake_bundle()
    rows = product_rows(10)
    titles = [r["title"] for r in rows]
    stored = backend.retrieve(collection_name, [point_id(r["id"]) for r in rows], (FUSED,))
    by_id = {sp.payload["product_id"]: sp for sp in stored}
    docs = split(np.stack([by_id[r["id"]].vectors[FUSED] for r in rows]), bundle.dims())
    queries = {"blip": bundle.blip.encode_texts(titles), "clip": bundle.clip.encode_texts(titles)}
    queries["interrogator"] = queries["clip"]
    others = ~np.eye(len(rows), dtype=bool)
    for ch in CHANNELS:
        scores = (queries[ch] @ docs[ch].T)[others]
        assert meta.calibration[ch].mean == pytest.approx(float(scores.mean()), abs=1e-5)
        assert meta.calibration[ch].std == pytest.approx(float(scores.std()), abs=1e-5)


def test_unidentifiable_bad_row_blocks_deletes(tmp_path, backend, collection_name):  # noqa: F811
    rows = product_rows(5)
    cat = write_catalog(tmp_path, rows)
    bundle = fake_bundle()
    Syncer(backend, bundle, collection_name).sync(cat)
    lines = cat.read_text().splitlines()
    lines[2] = lines[2][:-1]  # p2's line is no longer valid JSON: its id cannot be read
    cat.write_text("\n".join(lines[:4]) + "\n")  # and p4 left the catalog
    report = Syncer(backend, bundle, collection_name).sync(cat)
    assert report.deleted == 0 and "no readable id" in report.deletes_skipped
    assert backend.count(collection_name) == 5
    assert any("invalid JSON" in f.reason for f in report.failed)


def test_json_array_and_tsv_catalogs(tmp_path, backend, collection_name):  # noqa: F811
    rows = product_rows(3)
    write_catalog(tmp_path, rows)  # images
    as_json = tmp_path / "catalog.json"
    as_json.write_text(json.dumps(rows))
    report = Syncer(backend, fake_bundle(), collection_name).sync(as_json)
    assert report.added == 3 and report.ok
    tsv = tmp_path / "catalog.tsv"
    tsv.write_text(
        "id\ttitle\timage\n" + "".join(f"{r['id']}\t{r['title']}\t{r['image']}\n" for r in rows)
    )
    from qdrant_mm.catalog import read_catalog

    assert [p.id for p in read_catalog(tsv).products] == ["p0", "p1", "p2"]


def test_rebuild_killed_after_the_alias_switch_is_finished_by_the_next(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
    monkeypatch,
):
    cat = write_catalog(tmp_path, product_rows(4))
    Syncer(backend, fake_bundle(), collection_name).sync(cat)
    first = backend.resolve(collection_name)
    syncer = Syncer(backend, fake_bundle((32, 24, 24)), collection_name)

    def killed(self, old, live):
        raise KeyboardInterrupt("killed after the switch")

    from qdrant_mm.rebuild import Rebuild

    with monkeypatch.context() as m:
        m.setattr(Rebuild, "_drop_old", killed)
        with pytest.raises(KeyboardInterrupt):
            syncer.sync(cat, rebuild=True)
    live = backend.resolve(collection_name)
    assert live != first and backend.count(collection_name) == 4
    # Next rebuild (other models again): the live collection is never deleted mid-build, and
    # the leftovers of the killed one are cleaned up.
    seen = []
    again = Syncer(backend, fake_bundle((8, 24, 24)), collection_name)
    real_upsert = backend.upsert

    def watching(collection, points):
        seen.append(backend.resolve(collection_name))
        return real_upsert(collection, points)

    again._upsert = watching
    assert again.sync(cat, rebuild=True).added == 4
    assert set(seen) == {live}
    assert backend.resolve(first) is None and backend.resolve(live) is None
    assert backend.count(collection_name) == 4
