"""What no input may do to a stored collection: wipe it, corrupt it or orphan it.

Empty catalogs, catalogs whose products all fail and syncs that would delete too much delete
nothing; a rebuild that would drop too much is not switched to; stored documents with wrong
fields are named, never guessed around; a lost alias is repaired, not re-embedded beside; and
a killed sync, re-run, leaves the calibration statistics of what is stored.
"""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest
from qdrant_client import models

from qdrant_mm.calibration import compute_statistics
from qdrant_mm.collection import (
    create_physical,
    new_physical_name,
    physical_collections,
    read_collection_meta,
)
from qdrant_mm.errors import CatalogError, ConfigError, StoredStateError
from qdrant_mm.profiles import ProfileStore
from qdrant_mm.schema import meta_key
from qdrant_mm.search import Searcher
from qdrant_mm.sync import Syncer
from qdrant_mm.weights import CHANNELS
from tests.backends import backend, collection_name  # noqa: F401
from tests.fakes import fake_bundle, total_model_calls
from tests.helpers import product_rows, write_catalog


def snapshot(backend, name):  # noqa: F811
    """What is stored under ``name``: the physical collection and each product's hashes."""
    physical = backend.resolve(name)
    points = dict(
        (pl["product_id"], (pid, pl["content_hash"], pl["payload_hash"]))
        for pid, pl in backend.scroll_payload(name, ["product_id", "content_hash", "payload_hash"])
    )
    return physical, points, physical_collections(backend, name)


def drop_alias(backend, name):  # noqa: F811
    """Lose the alias (as a damaged store or an interrupted first sync would)."""
    if backend.name == "edge":
        backend._store.update_aliases(lambda aliases: aliases.pop(name, None))
    else:
        backend.client.update_collection_aliases(
            change_aliases_operations=[
                models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=name))
            ]
        )
    assert backend.resolve(name) is None


@pytest.fixture
def stored(tmp_path, backend, collection_name):  # noqa: F811
    """A collection holding 10 products, and the fake models that built it."""
    bundle = fake_bundle()
    Syncer(backend, bundle, collection_name).sync(write_catalog(tmp_path, product_rows(10)))
    return bundle


# --- catalogs that yield no usable product ---------------------------------------------------
@pytest.mark.parametrize(
    "name, text",
    [
        ("empty.jsonl", ""),
        ("blank.jsonl", "\n\n"),
        ("empty.json", "[]"),
        ("head.csv", "id,title\n"),
    ],
)
def test_empty_catalog_is_refused_and_deletes_nothing(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
    stored,
    name,
    text,
):
    before = snapshot(backend, collection_name)
    (tmp_path / name).write_text(text)
    with pytest.raises(CatalogError, match="holds no products.*nothing deleted"):
        Syncer(backend, stored, collection_name, max_delete_fraction=1).sync(tmp_path / name)
    assert snapshot(backend, collection_name) == before


def test_empty_catalog_on_an_empty_store_creates_nothing(tmp_path, backend, collection_name):  # noqa: F811
    (tmp_path / "c.json").write_text("[]")
    with pytest.raises(CatalogError):
        Syncer(backend, fake_bundle(), collection_name).sync(tmp_path / "c.json")
    assert backend.resolve(collection_name) is None
    assert physical_collections(backend, collection_name) == []


def test_catalog_whose_products_all_fail_deletes_nothing(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
    stored,
):
    before = snapshot(backend, collection_name)
    rows = [{"id": f"new{i}", "title": "x", "image": f"images/missing{i}.png"} for i in range(5)]
    rows.append({"title": "no id at all"})
    cat = tmp_path / "broken.jsonl"
    cat.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = Syncer(backend, stored, collection_name, max_delete_fraction=1).sync(cat)
    assert not report.ok and len(report.failed) == 6 and report.deleted == 0
    assert "no product of the catalog could be stored" in report.deletes_skipped
    assert snapshot(backend, collection_name) == before


# --- the share one sync may delete -------------------------------------------------------------
def test_sync_deleting_more_than_the_share_holds_every_delete_back(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
    stored,
):
    cat = write_catalog(tmp_path, product_rows(10)[:4])  # 6 of 10 left the catalog
    before = snapshot(backend, collection_name)
    report = Syncer(backend, stored, collection_name).sync(cat)
    assert (report.deleted, report.deletes_held_back, report.unchanged) == (0, 6, 4)
    assert "6 of the 10 stored products" in report.deletes_skipped
    assert "--max-delete-fraction 1" in report.deletes_skipped
    assert not report.ok and report.failed == []
    assert snapshot(backend, collection_name) == before
    # A larger share allows it; every one of them goes.
    report = Syncer(backend, stored, collection_name, max_delete_fraction=0.6).sync(cat)
    assert (report.deleted, report.deletes_held_back) == (6, 0) and report.ok
    assert set(snapshot(backend, collection_name)[1]) == {"p0", "p1", "p2", "p3"}


def test_a_large_delete_within_the_share_is_said(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
    stored,
):
    """An export cut short at a line boundary deletes quietly up to the share; above a tenth
    of the stored products the report says how many and how to restore them."""
    rows = product_rows(10)
    one_gone = Syncer(backend, stored, collection_name).sync(write_catalog(tmp_path, rows[:9]))
    assert one_gone.deleted == 1 and one_gone.ok
    assert not [n for n in one_gone.notes if "deleted" in n]  # 1 of 10: not more than a tenth
    cut = Syncer(backend, stored, collection_name).sync(write_catalog(tmp_path, rows[:6]))
    assert cut.deleted == 3 and cut.ok
    (note,) = [n for n in cut.notes if "deleted" in n]
    assert "deleted 3 of the 9 stored products (33%)" in note and "sync the whole" in note


def test_max_delete_fraction_one_allows_any_and_zero_none(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
    stored,
):
    cat = write_catalog(tmp_path, product_rows(10)[:9])
    report = Syncer(backend, stored, collection_name, max_delete_fraction=0).sync(cat)
    assert report.deletes_held_back == 1 and backend.count(collection_name) == 10
    write_catalog(tmp_path, product_rows(1))
    report = Syncer(backend, stored, collection_name, max_delete_fraction=1).sync(cat)
    assert report.deleted == 9 and report.ok and backend.count(collection_name) == 1


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), float("inf"), "half"])
def test_max_delete_fraction_is_validated(backend, bad):  # noqa: F811
    with pytest.raises(ConfigError, match="max_delete_fraction.*from 0 to 1"):
        Syncer(backend, fake_bundle(), "c", max_delete_fraction=bad)


# --- rebuild follows the same rule before it switches the alias -----------------------------
def test_rebuild_that_would_drop_too_much_is_not_switched_to(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
    stored,
):
    before = snapshot(backend, collection_name)
    cat = write_catalog(tmp_path, product_rows(10)[:3])
    report = Syncer(backend, fake_bundle((32, 24, 24)), collection_name).sync(cat, rebuild=True)
    assert not report.ok and not report.rebuilt
    assert "lacks 7 of the 10 products" in report.rebuild_refused
    assert "still serves" in report.rebuild_refused
    # The old collection still serves, unchanged; no orphan and no build record are left.
    assert snapshot(backend, collection_name) == before
    assert backend.read_meta(f"build:{collection_name}") is None
    # Allowed: switched, the old collection is gone.
    report = Syncer(
        backend, fake_bundle((32, 24, 24)), collection_name, max_delete_fraction=1
    ).sync(cat, rebuild=True)
    assert report.ok and report.rebuilt
    assert backend.resolve(collection_name) != before[0] and backend.count(collection_name) == 3
    assert physical_collections(backend, collection_name) == [backend.resolve(collection_name)]


def test_rebuild_with_every_product_failing_is_not_switched_to(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
    stored,
):
    before = snapshot(backend, collection_name)
    cat = tmp_path / "broken.jsonl"
    cat.write_text(json.dumps({"id": "p0", "image": "images/gone.png"}) + "\n")
    report = Syncer(backend, stored, collection_name, max_delete_fraction=1).sync(cat, rebuild=True)
    assert "no product of the catalog could be stored" in report.rebuild_refused
    assert snapshot(backend, collection_name) == before


@pytest.mark.parametrize("field", ["collection", "previous"])
def test_a_damaged_rebuild_record_deletes_nothing(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
    stored,
    field,
):
    """A build record that names a collection not made for this alias (here: another
    collection's physical one) is refused before anything is deleted."""
    other = f"{collection_name}_other"
    Syncer(backend, stored, other).sync(write_catalog(tmp_path / "o", product_rows(3)))
    victim = backend.resolve(other)
    mine = backend.resolve(collection_name)
    record = {"collection": mine, "previous": None, field: victim}
    backend.write_meta(f"build:{collection_name}", record)
    before = snapshot(backend, collection_name)
    cat = write_catalog(tmp_path, product_rows(10))
    with pytest.raises(StoredStateError, match="cannot be trusted.*nothing was deleted"):
        Syncer(backend, stored, collection_name).sync(cat, rebuild=True)
    assert backend.resolve(other) == victim and backend.count(other) == 3
    assert snapshot(backend, collection_name) == before
    backend.delete_meta(f"build:{collection_name}")
    if backend.name == "server":
        backend.delete_collection(victim)


def test_rebuild_does_not_delete_a_collection_it_did_not_make(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
):
    """A plain collection (no product ids) holding the alias's name is not replaced unless the
    user allows any loss."""
    from qdrant_mm.backends.base import CollectionSpec, PointRecord, VectorSpec

    backend.create_collection(collection_name, CollectionSpec((VectorSpec("v", 4, "cosine"),)))
    backend.upsert(
        collection_name,
        [PointRecord(str(uuid.uuid4()), {"v": np.ones(4, dtype=np.float32)}, {"x": 1})],
    )
    cat = write_catalog(tmp_path, product_rows(3))
    report = Syncer(backend, fake_bundle(), collection_name).sync(cat, rebuild=True)
    assert not report.rebuilt and "was not made by qdrant-mm and holds 1 points" in (
        report.rebuild_refused or ""
    )
    assert backend.resolve(collection_name) == collection_name  # still the plain collection
    assert backend.count(collection_name) == 1
    forced = Syncer(backend, fake_bundle(), collection_name, max_delete_fraction=1).sync(
        cat, rebuild=True
    )
    assert forced.rebuilt and backend.count(collection_name) == 3


# --- stored documents with wrong fields ---------------------------------------------------------
@pytest.mark.parametrize(
    "doc",
    [{"model_ids": "blip"}, {"hello": 1}, {"model_ids": {}, "dims": {"blip": "wide"}}],
)
def test_collection_metadata_with_wrong_fields_is_named(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
    stored,
    doc,
):
    physical = backend.resolve(collection_name)
    backend.write_meta(meta_key(physical), doc)
    calls = total_model_calls(stored)
    cat = write_catalog(tmp_path, product_rows(10))
    with pytest.raises(StoredStateError, match=rf"collection '{collection_name}'.*--rebuild"):
        Syncer(backend, stored, collection_name).sync(cat)
    assert total_model_calls(stored) == calls and backend.count(collection_name) == 10
    with pytest.raises(StoredStateError, match=physical):
        Searcher(backend, stored, collection_name).search("product 1")
    # The advice works: a rebuild replaces it.
    report = Syncer(backend, stored, collection_name).sync(cat, rebuild=True)
    assert report.ok and report.rebuilt
    assert Searcher(backend, stored, collection_name).search("product 1", limit=3).hits


@pytest.mark.parametrize(
    "doc",
    [
        {"name": "default"},
        {"name": "default", "weights": {"blip": "heavy", "clip": 0, "interrogator": 0}},
        {"name": "default", "weights": {"blip": -1, "clip": 2, "interrogator": 0}},
        {"name": "default", "weights": {"blip": 0, "clip": 0, "interrogator": 0}},
        {"name": "other", "weights": {"blip": 1, "clip": 0, "interrogator": 0}},
    ],
)
def test_weight_profile_with_wrong_fields_is_named(
    backend,  # noqa: F811
    collection_name,  # noqa: F811
    stored,
    doc,
):
    backend.write_meta(f"profile:{collection_name}:default", doc)
    searcher = Searcher(backend, stored, collection_name)
    with pytest.raises(StoredStateError, match="weight profile 'default'.*weights set default"):
        searcher.search("product 1")
    with pytest.raises(StoredStateError, match="'default'"):
        ProfileStore(backend, collection_name).list()
    # Explicit weights do not read it; deleting it repairs it.
    assert searcher.search("product 1", weights="1,1,1").hits
    assert ProfileStore(backend, collection_name).delete("default")
    assert searcher.search("product 1").profile is None


# --- a lost alias ------------------------------------------------------------------------------
def test_lost_alias_is_repaired_by_adopting_the_collection(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
    stored,
):
    physical = backend.resolve(collection_name)
    drop_alias(backend, collection_name)
    calls = total_model_calls(stored)
    report = Syncer(backend, stored, collection_name).sync(
        write_catalog(tmp_path, product_rows(10))
    )
    assert total_model_calls(stored) == calls  # nothing embedded again
    assert report.unchanged == 10 and report.ok
    assert any(physical in n and "alias" in n for n in report.notes)
    assert backend.resolve(collection_name) == physical
    assert physical_collections(backend, collection_name) == [physical]


def test_ambiguous_collections_without_alias_are_refused_and_rebuild_repairs(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
    stored,
):
    first = backend.resolve(collection_name)
    drop_alias(backend, collection_name)
    second = new_physical_name(collection_name)
    create_physical(backend, second, stored.model_ids(), stored.dims())
    cat = write_catalog(tmp_path, product_rows(10))
    calls = total_model_calls(stored)
    with pytest.raises(StoredStateError, match=r"no alias.*ambiguous.*Nothing was changed"):
        Syncer(backend, stored, collection_name).sync(cat)
    assert total_model_calls(stored) == calls
    assert backend.resolve(collection_name) is None
    assert physical_collections(backend, collection_name) == sorted([first, second])
    report = Syncer(backend, stored, collection_name).sync(cat, rebuild=True)
    assert report.ok and report.rebuilt
    live = backend.resolve(collection_name)
    assert physical_collections(backend, collection_name) == [live]
    assert backend.count(collection_name) == 10


def test_only_a_collection_of_other_models_without_alias_is_refused(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
    stored,
):
    drop_alias(backend, collection_name)
    other = fake_bundle((32, 24, 24))
    with pytest.raises(StoredStateError, match="blip dimension 16.*--rebuild"):
        Syncer(backend, other, collection_name).sync(write_catalog(tmp_path, product_rows(10)))
    assert total_model_calls(other) == 0
    assert len(physical_collections(backend, collection_name)) == 1


def test_two_first_syncs_racing_end_in_one_collection(tmp_path, backend, collection_name):  # noqa: F811
    """The second sync runs to its end while the first is creating its collection: the first
    then finds the alias pointing at the second's and syncs into it (no re-embedding)."""
    cat = write_catalog(tmp_path, product_rows(6))
    bundle = fake_bundle()
    real_create = backend.create_collection
    state = {"raced": False}

    def create_with_a_rival(name, spec):
        if not state["raced"]:
            state["raced"] = True
            backend.create_collection = real_create
            rival = Syncer(backend, bundle, collection_name).sync(cat)
            assert rival.added == 6
        return real_create(name, spec)

    backend.create_collection = create_with_a_rival
    before = total_model_calls(bundle)
    report = Syncer(backend, bundle, collection_name).sync(cat)
    assert state["raced"]
    live = backend.resolve(collection_name)
    assert physical_collections(backend, collection_name) == [live]
    assert report.unchanged == 6 and report.embedded == 0 and report.notes
    assert backend.count(collection_name) == 6
    assert total_model_calls(bundle) > before  # the rival embedded, the first did not


def test_first_sync_whose_alias_was_taken_meanwhile_leaves_no_orphan(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
):
    cat = write_catalog(tmp_path, product_rows(6))
    bundle = fake_bundle()
    syncer = Syncer(backend, bundle, collection_name, batch_size=2)
    real_upsert = backend.upsert
    rival = new_physical_name(collection_name) + "9"  # not our pattern: a plain rival name
    state = {"n": 0}

    def upsert_then_lose_the_alias(collection, points):
        state["n"] += 1
        if state["n"] == 2:
            create_physical(backend, rival, bundle.model_ids(), bundle.dims())
            backend.switch_alias(collection_name, rival)
        return real_upsert(collection, points)

    syncer._upsert = upsert_then_lose_the_alias
    with pytest.raises(StoredStateError, match="another sync.*Run the sync again"):
        syncer.sync(cat)
    assert backend.resolve(collection_name) == rival
    assert physical_collections(backend, collection_name) == []  # ours was removed


# --- calibration after a killed sync --------------------------------------------------------------
def assert_calibration_is_of_what_is_stored(backend, name, bundle):  # noqa: F811
    physical = backend.resolve(name)
    meta = read_collection_meta(backend, physical)
    fresh = compute_statistics(backend, physical, bundle, meta.dims).calibration
    assert not meta.calibration_stale
    for ch in CHANNELS:
        assert meta.calibration[ch].mean == pytest.approx(fresh[ch].mean, abs=1e-6)
        assert meta.calibration[ch].std == pytest.approx(fresh[ch].std, abs=1e-6)


def changed_catalog(tmp_path):
    rows = product_rows(10)[2:]  # 2 removed
    for r in rows[:4]:
        r["title"] += " v2"  # 4 re-embedded
    return write_catalog(tmp_path, rows + product_rows(13)[10:])  # 3 added


@pytest.mark.parametrize("where", ["encoder", "upsert", "delete", "optimize"])
def test_killed_resync_leaves_the_calibration_of_what_is_stored(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
    stored,
    where,
):
    cat = changed_catalog(tmp_path)
    killer = Syncer(backend, stored, collection_name, batch_size=2)
    state = {"n": 0}

    def kill_at_second_call(real):
        def wrapped(*args, **kwargs):
            state["n"] += 1
            if state["n"] == 2 or where in ("delete", "optimize"):
                raise KeyboardInterrupt(f"killed in {where}")
            return real(*args, **kwargs)

        return wrapped

    if where == "encoder":
        real_encode = stored.blip.encode_images
        stored.blip.encode_images = kill_at_second_call(real_encode)
    elif where == "upsert":
        killer._upsert = kill_at_second_call(killer._upsert)
    elif where == "delete":
        killer._delete = kill_at_second_call(killer._delete)
    else:
        backend.optimize = kill_at_second_call(backend.optimize)
    with pytest.raises(KeyboardInterrupt):
        killer.sync(cat)
    if where == "encoder":
        stored.blip.encode_images = real_encode
    elif where == "optimize":
        del backend.optimize
    report = Syncer(backend, stored, collection_name).sync(cat)
    assert report.ok and report.calibrated
    assert backend.count(collection_name) == 11
    assert_calibration_is_of_what_is_stored(backend, collection_name, stored)
