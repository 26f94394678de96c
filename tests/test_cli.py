"""The command line end to end: tiny models loaded from settings, the embedded Edge backend."""

from __future__ import annotations

import json

import pytest


def shop_size(shop) -> int:
    """Products in the example shop's catalog."""
    return len((shop / "catalog.jsonl").read_text().splitlines())


def test_sync_search_resync_via_cli(cli, shop):
    first = cli("sync", str(shop / "catalog.jsonl"), "--json", "--batch-size", "8")
    assert first.exit_code == 0, first.output
    report = json.loads(first.output)
    n = shop_size(shop)
    assert (report["added"], report["failed"]) == (n, [])
    assert report["stored_from_text"] == 1  # the shop's product without a photo

    again = json.loads(cli("sync", str(shop / "catalog.jsonl"), "--json").output)
    assert (again["added"], again["unchanged"]) == (0, n)

    res = cli("search", "ankle boot", "--limit", "4", "--weights", "0.5,0.3,0.2", "--json")
    assert res.exit_code == 0, res.output
    hits = json.loads(res.output)
    assert len(hits) == 4
    for h in hits:
        assert set(h) == {"id", "score", "scores", "payload", "matched_image", "text_only"}
        fused = (
            0.5 * h["scores"]["blip"]
            + 0.3 * h["scores"]["clip"]
            + 0.2 * h["scores"]["interrogator"]
        )
        assert h["score"] == pytest.approx(fused, abs=1e-5)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)

    photo = cli(
        "search", "--image", str(shop / "images" / "fm-00000.png"), "--weights", "1,1,0", "--json"
    )
    assert json.loads(photo.output)[0]["id"] == "fm-00000"

    filtered = json.loads(cli("search", "bag", "--filter", "category=Bag", "--json").output)
    assert filtered and all(h["payload"]["category"] == "Bag" for h in filtered)

    table = cli("search", "ankle boot", "--limit", "2")
    assert table.exit_code == 0 and "score" in table.output


def test_sync_reports_failed_products_with_exit_1(cli, shop):
    n = shop_size(shop)
    with (shop / "catalog.jsonl").open("a") as fh:
        fh.write(json.dumps({"id": "broken", "image": "images/missing.png"}) + "\n")
    res = cli("sync", str(shop / "catalog.jsonl"), "--json")
    assert res.exit_code == 1
    report = json.loads(res.output)
    assert report["added"] == n
    assert report["failed"] == [
        {"id": "broken", "reason": f"image file not found: {shop / 'images' / 'missing.png'}"}
    ]


def test_usage_and_configuration_errors_exit_2(cli, shop, monkeypatch):
    assert cli("sync", str(shop / "nope.jsonl")).exit_code == 2
    res = cli("search", "x", "--weights", "-1,1,1")
    assert res.exit_code == 2 and ">= 0" in res.output
    res = cli("search", "x", "--weights", "1,1,1", "--profile", "summer")
    assert res.exit_code == 2 and "give weights or profile, not both" in res.output
    monkeypatch.setenv("QDRANT_MM_DEVICE", "gpu")
    res = cli("search", "x")
    assert res.exit_code == 2 and "QDRANT_MM_DEVICE" in res.output


def test_weight_profiles_via_cli(cli, shop):
    # before anything is synced (or with a typo in --collection) nothing is stored
    res = cli("weights", "set", "default", "0,0,1")
    assert res.exit_code == 2 and "does not exist" in res.output
    cli("sync", str(shop / "catalog.jsonl"), "--json")
    assert "default" not in cli("weights", "list").output
    assert cli("weights", "set", "default", "0,0,1").exit_code == 0
    shown = json.loads(cli("weights", "show", "default").output)
    assert shown["interrogator"] == 1.0
    hits = json.loads(cli("search", "coat", "--json").output)
    assert hits and all(h["scores"]["blip"] is None for h in hits)
    assert "default" in cli("weights", "list").output
    assert cli("weights", "delete", "default").exit_code == 0
    assert cli("weights", "show", "default").exit_code == 2


def test_evaluate_and_tune_via_cli(cli, shop):
    cli("sync", str(shop / "catalog.jsonl"), "--json")
    res = cli("evaluate", str(shop / "qrels.jsonl"), "--weights", "1,1,1", "--k", "1,5", "--json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [r["label"] for r in rows] == ["1,1,1", "blip only", "clip only", "interrogator only"]
    assert sum(r["best"] for r in rows) == 1
    assert {"p@1", "p@5", "map@5", "ndcg@5", "mrr", "r-precision"} <= set(
        rows[0]["evaluation"]["metrics"]
    )
    res = cli(
        "tune",
        str(shop / "qrels.jsonl"),
        "--holdout",
        "0.3",
        "--save",
        "tuned",
        "--force",
        "--json",
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)  # a warning about worse weights goes to stderr
    assert [r["label"] for r in report["results"]] == [
        "start",
        "blip",
        "clip",
        "interrogator",
        "tuned",
    ]
    saved = json.loads(cli("weights", "show", "tuned").output)
    assert saved["blip"] == pytest.approx(report["weights"]["blip"])
    assert report["saved_as"] == "tuned"


def test_tune_refuses_to_save_weights_worse_than_its_start_point(cli, shop, monkeypatch):
    """Learned weights that score below the start point or one model alone on the held-out
    queries are not saved without --force, and the numbers are said."""
    from tests.helpers import learn_the_worst_single_model

    learn_the_worst_single_model(monkeypatch)
    cli("sync", str(shop / "catalog.jsonl"), "--json")
    qrels = str(shop / "qrels.jsonl")
    res = cli("tune", qrels, "--holdout", "0.5", "--metric", "mrr", "--save", "worse")
    assert res.exit_code == 1, res.output
    assert "not saved as profile 'worse'" in res.output and "--force" in res.output
    assert "warning: the tuned weights score mrr" in res.output
    assert cli("weights", "show", "worse").exit_code == 2  # nothing stored
    forced = cli("tune", qrels, "--holdout", "0.5", "--metric", "mrr", "--save", "worse", "--force")
    assert forced.exit_code == 0 and "saved as profile" in forced.output
    assert cli("weights", "show", "worse").exit_code == 0


# --- input that must not change what is stored -------------------------------------------------
def _stored(cli) -> dict:
    res = cli("info")
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


@pytest.fixture
def small_shop(tmp_path, cli):
    from tests.helpers import product_rows, write_catalog

    root = tmp_path / "small"
    cat = write_catalog(root, product_rows(6))
    res = cli("sync", str(cat), "--json")
    assert res.exit_code == 0, res.output
    return root


@pytest.mark.parametrize(
    "name, text", [("c.jsonl", ""), ("c.json", "[]"), ("c.csv", "id,title,image\n")]
)
def test_empty_catalog_exits_2_and_deletes_nothing(cli, small_shop, name, text):
    before = _stored(cli)
    (small_shop / name).write_text(text)
    res = cli("sync", str(small_shop / name), "--max-delete-fraction", "1")
    said = " ".join(res.output.split())
    assert res.exit_code == 2 and "holds no products" in said and "nothing deleted" in said
    assert _stored(cli) == before and before["points"] == 6


def test_sync_deleting_too_much_exits_1_and_deletes_nothing(cli, small_shop, monkeypatch):
    from tests.helpers import product_rows, write_catalog

    cat = write_catalog(small_shop, product_rows(2))
    res = cli("sync", str(cat))
    said = " ".join(res.output.split())
    assert res.exit_code == 1
    assert "deletes skipped" in said and "4 of the 6 stored products" in said
    assert _stored(cli)["points"] == 6
    res = cli("sync", str(cat), "--json", "--max-delete-fraction", "0.3")
    assert res.exit_code == 1 and json.loads(res.output)["deletes_held_back"] == 4
    assert cli("sync", str(cat), "--max-delete-fraction", "2").exit_code == 2
    monkeypatch.setenv("QDRANT_MM_MAX_DELETE_FRACTION", "1.5")
    res = cli("sync", str(cat))
    assert res.exit_code == 2 and "QDRANT_MM_MAX_DELETE_FRACTION" in res.output
    monkeypatch.setenv("QDRANT_MM_MAX_DELETE_FRACTION", "1")
    res = cli("sync", str(cat), "--json")
    assert res.exit_code == 0 and json.loads(res.output)["deleted"] == 4
    assert _stored(cli)["points"] == 2


def test_catalog_whose_products_all_fail_exits_1_and_deletes_nothing(cli, small_shop):
    before = _stored(cli)
    cat = small_shop / "bad.jsonl"
    cat.write_text(json.dumps({"id": "new", "image": "images/none.png"}) + "\n")
    res = cli("sync", str(cat), "--max-delete-fraction", "1")
    said = " ".join(res.output.split())
    assert res.exit_code == 1 and "no product of the catalog could be stored" in said
    assert _stored(cli) == before


def test_rebuild_dropping_too_much_is_not_switched_to(cli, small_shop):
    from tests.helpers import product_rows, write_catalog

    before = _stored(cli)
    res = cli("sync", str(write_catalog(small_shop, product_rows(2))), "--rebuild")
    said = " ".join(res.output.split())
    assert res.exit_code == 1 and "rebuild not switched" in said and "still serves" in said
    after = _stored(cli)
    assert after["physical"] == before["physical"] and after["points"] == 6
    assert "without_alias" not in after  # the refused build left no orphan


def test_bad_query_input_exits_2(cli, small_shop):
    for flt in ("price>=nan", "price<inf"):
        res = cli("search", "product", "--filter", flt)
        assert res.exit_code == 2 and "finite" in res.output, res.output
    res = cli("search", "product", "--weights", "1e308,1e308,1e308", "--json")
    assert res.exit_code == 0 and len(json.loads(res.output)) == 6


def test_stored_documents_with_wrong_fields_exit_2_naming_them(cli, small_shop, tmp_path):
    from qdrant_mm.backends.edge import EdgeBackend
    from qdrant_mm.schema import meta_key

    with EdgeBackend(tmp_path / "data" / "edge") as store:
        store.write_meta("profile:products:default", {"name": "default", "weights": "heavy"})
    res = cli("search", "product")
    said = " ".join(res.output.split())
    assert res.exit_code == 2
    assert "weight profile 'default'" in said and "weights delete default" in said
    assert cli("weights", "delete", "default").exit_code == 0
    assert cli("search", "product").exit_code == 0
    with EdgeBackend(tmp_path / "data" / "edge") as store:
        physical = store.resolve("products")
        store.write_meta(meta_key(physical), {"model_ids": ["blip"]})
    for args in (("sync", str(small_shop / "catalog.jsonl")), ("info",), ("search", "x")):
        res = cli(*args)
        said = " ".join(res.output.split())
        assert res.exit_code == 2, args
        assert "collection 'products'" in said and "--rebuild" in said


def test_lost_alias_is_repaired_via_cli(cli, small_shop, tmp_path):
    from qdrant_mm.backends.edge import EdgeBackend

    physical = _stored(cli)["physical"]
    with EdgeBackend(tmp_path / "data" / "edge") as store:
        store._store.update_aliases(lambda aliases: aliases.pop("products"))
    info = _stored(cli)
    assert info["physical"] is None and info["without_alias"] == [physical]
    res = cli("sync", str(small_shop / "catalog.jsonl"), "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert (report["added"], report["unchanged"]) == (0, 6) and report["notes"]
    assert _stored(cli)["physical"] == physical


# --- the first hour: plain words where a command had none -----------------------------------------
def test_empty_results_say_why(cli, shop):
    assert cli("sync", str(shop / "catalog.jsonl"), "--json").exit_code == 0
    said = lambda res: " ".join(res.output.split())  # noqa: E731
    unknown = cli("search", "bag", "--filter", "colour=red")
    assert unknown.exit_code == 0 and "no product has a field 'colour'" in said(unknown)
    nothing = cli("search", "bag", "--filter", "category=Spaceship")
    assert "no product matches 'category=Spaceship'" in said(nothing)
    both = cli("search", "bag", "--filter", "category=Bag", "--filter", "price<=0.5")
    assert "no product matches 'price<=0.5'" in said(both)
    page = cli("search", "bag", "--offset", "900")
    assert "offset 900 is past the last result" in said(page)
    # a search that finds something says none of this
    found = cli("search", "bag", "--limit", "3")
    assert found.exit_code == 0 and "no results" not in found.output


def test_info_on_a_missing_collection_exits_non_zero(cli):
    res = cli("info", "--collection", "nothing_here")
    assert res.exit_code == 2
    assert "collection 'nothing_here' does not exist" in " ".join(res.output.split())


def test_ctrl_c_says_how_to_resume(cli, shop, monkeypatch):
    from qdrant_mm import sync as sync_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sync_module.Syncer, "sync", interrupted)
    res = cli("sync", str(shop / "catalog.jsonl"))
    assert res.exit_code == 130
    assert "interrupted; run it again to resume" in res.output
    assert "Traceback" not in res.output


def test_piped_sync_prints_progress_lines(cli, shop):
    res = cli("sync", str(shop / "catalog.jsonl"))  # CliRunner's stderr is not a terminal
    assert res.exit_code == 0, res.output
    lines = [line for line in res.stderr.splitlines() if line.startswith("embedding:")]
    assert lines[0].startswith("embedding: 0/") and "(100%)" in lines[-1]


def test_bad_arguments_are_reported_before_any_model_loads(cli, shop, monkeypatch):
    """A wrong --weights, a missing image or qrels file, a bad filter: said at once (no model
    load of tens of seconds first)."""
    from qdrant_mm.app import QdrantMM

    def no_models(self):
        raise AssertionError("models were loaded before the arguments were checked")

    monkeypatch.setattr(QdrantMM, "models", property(no_models))
    cases = [
        (("search", "bag", "--weights", "1,2"), "weights"),
        (("search", "--image", str(shop / "missing.png")), "no such file"),
        (("search", "bag", "--filter", "price>=nan"), "nan"),
        (("search",), "give a text query or --image"),
        (("evaluate", str(shop / "missing.jsonl")), "cannot read qrels file"),
        (("evaluate", str(shop / "qrels.jsonl"), "--weights", "a,b"), "weights"),
        (("evaluate", str(shop / "qrels.jsonl"), "--grid", "0.3"), "--grid"),
        (("evaluate", str(shop / "qrels.jsonl"), "--grid", "1e-9"), "at least 0.01"),
        (("tune", str(shop / "missing.jsonl")), "cannot read qrels file"),
        (("search", "--image", str(shop / "images")), "is a folder"),
        (("search", "bag", "--image", str(shop / "images" / "fm-00000.png")), "not both"),
        (("search", "bag", "--filter", "category==Bag"), "'==' is not an operator"),
        # nothing synced yet: said at once, with where settings come from
        (("search", "bag"), "does not exist"),
        (("evaluate", str(shop / "qrels.jsonl")), "nothing has been synced"),
        (("tune", str(shop / "qrels.jsonl")), "nothing has been synced"),
        (("serve", "--log-level", "verbose"), "--log-level 'verbose': use one of"),
    ]
    for args, words in cases:
        res = cli(*args)
        assert res.exit_code == 2, (args, res.output)
        assert words in res.output, (args, res.output)
        assert "Traceback" not in res.output


def test_sync_records_the_catalog_folder_for_the_service(cli, shop, tmp_path):
    from qdrant_mm.backends.edge import EdgeBackend
    from qdrant_mm.image_sources import recorded_folders

    assert cli("sync", str(shop / "catalog.jsonl"), "--json").exit_code == 0
    with EdgeBackend(tmp_path / "data" / "edge") as store:
        assert recorded_folders(store, "products") == [shop.resolve()]


def test_evaluate_plot_draws_the_simplex(cli, shop, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from PIL import Image

    cli("sync", str(shop / "catalog.jsonl"), "--json")
    out = tmp_path / "simplex.png"
    qrels = str(shop / "qrels.jsonl")
    res = cli("evaluate", qrels, "--weights", "0.5,0.3,0.2", "--plot", str(out), "--k", "5")
    assert res.exit_code == 0, res.output
    assert "wrote plot ndcg@5" in res.output
    with Image.open(out) as img:
        assert img.format == "PNG" and img.width > 400
    bad = cli("evaluate", qrels, "--plot", str(out), "--plot-step", "0.1")
    assert bad.exit_code == 2 and "--plot-step must be in (0, 0.05]" in bad.output
    # without matplotlib: a clear message, before any search
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    missing = cli("evaluate", qrels, "--plot", str(tmp_path / "x.png"))
    assert missing.exit_code == 2
    assert "pip install 'qdrant-mm[plot]'" in missing.output


def test_catalog_text_that_looks_like_markup_is_printed_as_is(cli, shop, tmp_path):
    """A title '[/x]' or '[bold]' is data: printed as written, never a traceback."""
    photo = str(shop / "images" / "fm-00000.png")
    rows = [
        {"id": "m[/x]1", "title": "closing [/x] tag", "category": "[bold]Bags", "image": photo},
        {"id": "m2", "title": "plain", "category": "Bags", "image": "missing[/x].png"},
    ]
    catalog = tmp_path / "markup.jsonl"
    catalog.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    synced = cli("sync", str(catalog))
    assert synced.exit_code == 1, synced.output  # m2's image is missing: reported, not a crash
    assert "missing[/x].png" in synced.output and "Traceback" not in synced.output
    found = cli("search", "closing tag", "--weights", "0,0,1", "--limit", "1")
    assert found.exit_code == 0, found.output
    assert "[/x]" in found.output and "[bold]" in found.output  # as written, not styling
    none = cli("search", "x", "--filter", "category=[/x]")
    assert none.exit_code == 0 and "no product matches 'category=[/x]'" in none.output


def test_photo_lists_and_text_only_products_via_cli(cli, shop, tmp_path, monkeypatch):
    """Several photos, none, and what sync and search print about them."""
    images = shop / "images"
    rows = [
        {
            "id": "multi",
            "title": "boot",
            "images": [str(images / f"fm-0000{i}.png") for i in (1, 2)],
        },
        {"id": "card", "title": "gift card", "description": "a digital gift card"},
    ]
    catalog = tmp_path / "photos.jsonl"
    catalog.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    synced = cli("sync", str(catalog))
    assert synced.exit_code == 0, synced.output
    assert "photos embedded" in synced.output and "stored from text" in synced.output
    found = json.loads(cli("search", "--image", str(images / "fm-00002.png"), "--json").output)
    assert found[0]["id"] == "multi" and found[0]["matched_image"].endswith("fm-00002.png")
    table = cli("search", "gift card", "--limit", "2")
    assert table.exit_code == 0
    card_row = next(line for line in table.output.splitlines() if "card" in line)
    assert card_row.rstrip(" │").endswith("text")  # the photo column of a text-only hit
    by_photo = cli("search", "--image", str(images / "fm-00002.png"), "--limit", "1")
    row = next(line for line in by_photo.output.splitlines() if "multi" in line)
    assert row.rstrip(" │").endswith("2/2")  # its second photo scored
    monkeypatch.setenv("QDRANT_MM_MISSING_IMAGE", "skip")
    skipped = cli("sync", str(catalog), "--json")
    assert skipped.exit_code == 0, skipped.output
    assert [s["id"] for s in json.loads(skipped.output)["skipped"]] == ["card"]


@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_serve_says_a_busy_port_before_loading_models(cli, monkeypatch):
    import socket

    from qdrant_mm.app import QdrantMM

    def no_models(self):
        raise AssertionError("models were loaded before the port was checked")

    monkeypatch.setattr(QdrantMM, "models", property(no_models))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = cli("serve", "--port", str(port))
    assert res.exit_code == 2, res.output
    assert f"port {port} on 127.0.0.1 is in use" in res.output
    assert "Traceback" not in res.output
