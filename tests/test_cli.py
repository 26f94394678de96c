"""The command line end to end: tiny models loaded from settings, the embedded Edge backend."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qdrant_mm.cli import app

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "shop"


@pytest.fixture
def shop(tmp_path) -> Path:
    dst = tmp_path / "shop"
    shutil.copytree(EXAMPLE, dst)
    return dst


@pytest.fixture
def cli(tmp_path, tiny_model_settings, monkeypatch):
    for key, value in tiny_model_settings.items():
        monkeypatch.setenv(f"QDRANT_MM_{key.upper()}", str(value))
    monkeypatch.setenv("QDRANT_MM_BACKEND", "edge")
    monkeypatch.setenv("QDRANT_MM_QDRANT_PATH", str(tmp_path / "data"))
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=False)

    return run


def test_sync_search_resync_via_cli(cli, shop):
    first = cli("sync", str(shop / "catalog.jsonl"), "--json", "--batch-size", "8")
    assert first.exit_code == 0, first.output
    report = json.loads(first.output)
    assert (report["added"], report["failed"]) == (30, [])

    again = json.loads(cli("sync", str(shop / "catalog.jsonl"), "--json").output)
    assert (again["added"], again["unchanged"]) == (0, 30)

    res = cli("search", "ankle boot", "--limit", "4", "--weights", "0.5,0.3,0.2", "--json")
    assert res.exit_code == 0, res.output
    hits = json.loads(res.output)
    assert len(hits) == 4
    for h in hits:
        assert set(h) == {"id", "score", "scores", "payload"}
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
    with (shop / "catalog.jsonl").open("a") as fh:
        fh.write(json.dumps({"id": "broken", "image": "images/missing.png"}) + "\n")
    res = cli("sync", str(shop / "catalog.jsonl"), "--json")
    assert res.exit_code == 1
    report = json.loads(res.output)
    assert report["added"] == 30
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
    cli("sync", str(shop / "catalog.jsonl"), "--json")
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
    from qdrant_mm.evaluation import tuning

    real_tune = tuning.tune

    def tune_to_the_worst_single_model(candidates, **kwargs):
        first = real_tune(candidates, **kwargs)
        singles = [r for r in first.results if r.label in ("blip", "clip", "interrogator")]
        worst = min(singles, key=lambda r: r.held_out[first.metric])
        kwargs["method"] = lambda train: worst.weights
        return real_tune(candidates, **kwargs)

    monkeypatch.setattr(tuning, "tune", tune_to_the_worst_single_model)
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
