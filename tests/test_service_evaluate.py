"""Live metrics over HTTP: ``/evaluate`` equals ``evaluate``'s numbers (engine searches), the
grid, one query's ranking, uploads, tuning with the save rule, and the sensitivity intervals."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest
from fastapi.testclient import TestClient

from qdrant_mm.app import QdrantMM
from qdrant_mm.evaluation.qrels import read_qrels
from qdrant_mm.evaluation.runner import embed_queries, evaluate_weightings, resolve_qrels
from qdrant_mm.evaluation.sensitivity import slider_path
from qdrant_mm.service import create_app
from qdrant_mm.settings import Settings
from qdrant_mm.sync import Syncer
from qdrant_mm.weights import CHANNELS, Weights
from tests.backends import make_backend
from tests.fakes import fake_bundle
from tests.helpers import product_rows, write_catalog, write_image

KEY = "evaluate-test-key"
N = 30


def qrels_lines(n: int) -> list[str]:
    rng = np.random.default_rng(5)
    lines = [
        json.dumps({"category": "bags"}),
        json.dumps({"id": "photo", "image": "images/p4.png", "relevant": ["p4"]}),
    ]
    for i in range(8):
        picked = rng.choice(n, size=3, replace=False)
        rel = {f"p{j}": g for j, g in zip(picked, (2, 1, 1), strict=True)}
        lines.append(json.dumps({"id": f"t{i}", "query": f"product {i * 3}", "relevant": rel}))
    return lines


@pytest.fixture(scope="module", params=["edge", "local"])
def bench(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("evaluate")
    store = make_backend(request.param, tmp)
    name = f"products_{uuid.uuid4().hex[:8]}"
    models = fake_bundle()
    root = tmp / "catalog"
    assert Syncer(store, models, name).sync(write_catalog(root, product_rows(N))).ok
    path = root / "qrels.jsonl"
    path.write_text("\n".join(qrels_lines(N)))
    settings = Settings(_env_file=None, collection=name, image_root=root, api_key=KEY)
    mm = QdrantMM(settings, backend=store, models=models)
    with TestClient(create_app(mm, qrels=read_qrels(path), qrels_depth=10)) as client:
        yield client, mm, name, path
    store.close()


def engine_rows(mm, name, path, weightings, ks, definitions="qdrant-mm"):
    searcher = mm.searcher(name)
    qrels = resolve_qrels(searcher, read_qrels(path))
    vectors = embed_queries(searcher, qrels)
    rows = [(str(w), Weights.parse(w)) for w in weightings]
    return evaluate_weightings(searcher, qrels, vectors, rows, ks, definitions=definitions)


@pytest.mark.parametrize("definitions", ["qdrant-mm", "trec"])
def test_evaluate_equals_evaluate_command(bench, definitions):
    client, mm, name, path = bench
    weightings = ["0.5,0.3,0.2", "0,1,1", "1,0,0", "0.1,0.1,0.8"]
    rows = engine_rows(mm, name, path, weightings, (1, 5), definitions)
    for w, row in zip(weightings, rows, strict=True):
        resp = client.get(
            "/evaluate", params={"weights": w, "k": "5,1", "definitions": definitions}
        )
        assert resp.status_code == 200, resp.text
        data = resp.json()
        assert data["k"] == [1, 5] and data["definitions"] == definitions
        assert data["evaluation"] == json.loads(row.evaluation.model_dump_json())
        assert sum(data["ranked_by"].values()) == len(qrels_lines(N))
    engine = client.get("/evaluate", params={"weights": "0.5,0.3,0.2", "check": "engine"}).json()
    assert engine["ranked_by"] == {"engine": len(qrels_lines(N))}


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"k": "ten"}, "k must be comma-separated integers"),
        ({"k": "0"}, "k needs integers"),
        ({"weights": "1,2"}, "weights"),
        ({"weights": "-1,1,1"}, ">= 0"),
        ({"definitions": "nist"}, "unknown metric definitions"),
        ({"weights": "1,1,1", "profile": "x"}, "not both"),
        ({"check": "maybe"}, "check"),
    ],
)
def test_bad_arguments_are_400(bench, params, words):
    resp = bench[0].get("/evaluate", params=params)
    assert resp.status_code == 400 and words in resp.json()["error"]


def test_grid_equals_evaluate_per_weighting(bench):
    client = bench[0]
    data = client.get("/evaluate/grid", params={"metric": "ndcg@5", "k": "5"}).json()
    assert len(data["points"]) == 231 and data["metric"] == "ndcg@5"
    for point in data["points"][::40]:
        w = ",".join(str(point[ch]) for ch in ("blip", "clip", "interrogator"))
        one = client.get("/evaluate", params={"weights": w, "k": "5"}).json()
        assert one["evaluation"]["metrics"]["ndcg@5"] == point["value"]
    assert client.get("/evaluate/grid", params={"step": 0.1}).status_code == 400
    assert client.get("/evaluate/grid", params={"metric": "ndcg"}).status_code == 400


def test_query_ranking_is_the_search_ranking(bench):
    client, mm, name, _ = bench
    listed = client.get("/evaluate/queries").json()
    assert listed["loaded"] and listed["source"] == "qrels.jsonl"
    by_id = {q["id"]: q for q in listed["queries"]}
    assert by_id["photo"] == {"id": "photo", "kind": "image", "text": "p4.png", "relevant": 1}
    w = "0.2,0.5,0.3"
    got = client.get("/evaluate/queries/t2", params={"weights": w, "limit": 5}).json()
    searcher = mm.searcher(name)
    want = searcher.search(by_id["t2"]["text"], weights=w, limit=5).hits
    assert [h["id"] for h in got["hits"]] == [h.id for h in want]
    for h, ref in zip(got["hits"], want, strict=True):
        assert h["score"] == pytest.approx(ref.score, abs=1e-5)
        assert h["image_url"] and h["payload"]["title"] == ref.payload["title"]
    grades = json.loads(qrels_lines(N)[4])["relevant"]
    assert all(h["grade"] == grades.get(h["id"], 0) for h in got["hits"])
    assert client.get("/evaluate/queries/nope").status_code == 404


def test_sensitivity_intervals_hold_over_http(bench):
    client, mm, name, path = bench
    w = np.array([0.3, 0.5, 0.2])
    data = client.get("/sensitivity", params={"qid": "t1", "weights": "0.3,0.5,0.2", "k": 3}).json()
    assert data["certified"] and len(data["top"]) == 3
    assert data["best_photo_fixed"] is False  # one photo per product
    # the top 3 as the engine ranks it (not the page's re-ranked candidates)
    searcher = mm.searcher(name)
    qrels = resolve_qrels(searcher, read_qrels(path))
    t1 = embed_queries(searcher, qrels)["t1"]

    def top(vec, limit=3):
        weights = Weights.from_mapping(dict(zip(CHANNELS, vec, strict=True)))
        return [h.id for h in searcher.search_vectors(t1, weights, limit=limit)]

    assert top(w) == data["top"]
    for c, iv in enumerate(data["intervals"]):
        r, d = slider_path(w, c)
        assert iv["low"] <= w[c] <= iv["high"]
        assert top(r + (iv["low"] + iv["high"]) / 2 * d) == data["top"]
        if iv["high"] < 1 and iv["high_exact"]:
            assert top(r + min(1.0, iv["high"] + 1e-6) * d) != data["top"]
    text = client.get("/sensitivity", params={"q": "product 3", "k": 3}).json()
    assert len(text["intervals"]) == 3
    assert client.get("/sensitivity", params={"k": 3}).status_code == 400


def test_tune_and_its_save_rule(bench, monkeypatch):
    client, mm, name, _ = bench
    body = {"weights": "0.4,0.4,0.2", "holdout": 0.3, "metric": "ndcg@5"}
    report = client.post("/evaluate/tune", json=body).json()
    assert [r["label"] for r in report["results"]] == [
        "start",
        "blip",
        "clip",
        "interrogator",
        "tuned",
    ]
    assert report["saved_as"] is None and report["held_out_queries"]
    assert client.post("/evaluate/tune", json={**body, "save": "learned"}).status_code == 401

    from qdrant_mm.evaluation import tuning
    from tests.helpers import learn_the_worst_single_model

    real = tuning.tune
    learn_the_worst_single_model(monkeypatch)
    keyed = {"X-API-Key": KEY}
    outcomes = []
    for rule in ("worst", "real"):
        if rule == "real":
            monkeypatch.setattr(tuning, "tune", real)
        dry = client.post("/evaluate/tune", json=body).json()
        resp = client.post("/evaluate/tune", json={**body, "save": "learned"}, headers=keyed)
        stored = mm.profiles(name).get("learned")
        if dry["better_than_tuned"]:  # worse than the start or a model alone: refused
            assert resp.status_code == 409, resp.text
            assert "not saved as profile 'learned'" in resp.json()["error"]
            assert resp.json()["report"]["better_than_tuned"] == dry["better_than_tuned"]
            assert stored is None
        else:
            assert resp.status_code == 200 and resp.json()["saved_as"] == "learned"
            assert stored.weights.blip == pytest.approx(resp.json()["weights"]["blip"])
            mm.profiles(name).delete("learned")
        outcomes.append(resp.status_code)
    assert outcomes[0] == 409  # the worst single model learned: always beaten


def test_upload_replaces_the_set_and_refuses_paths_outside_the_images(bench, tmp_path):
    client = bench[0]
    lines = qrels_lines(N)[2:5]
    resp = client.post("/evaluate/qrels?name=mine.jsonl", content="\n".join(lines))
    assert resp.status_code == 200, resp.text
    assert resp.json()["source"] == "mine.jsonl" and len(resp.json()["queries"]) == 3
    assert client.get("/evaluate", params={"k": "5"}).json()["evaluation"]["n_queries"] == 3
    outside = json.dumps({"image": "../../../etc/passwd", "relevant": ["p1"]})
    bad = client.post("/evaluate/qrels", content=outside)
    assert bad.status_code == 400 and "not a file under the image folder" in bad.json()["error"]
    assert "/etc" not in bad.json()["error"]
    url = json.dumps({"image": "http://example.com/a.png", "relevant": ["p1"]})
    assert "does not fetch" in client.post("/evaluate/qrels", content=url).json()["error"]
    broken = client.post("/evaluate/qrels", content='{"query": "x"}')
    assert broken.status_code == 400 and "line 1" in broken.json()["error"]
    # the set loaded before a refused upload is still there; restore the original for others
    assert client.get("/evaluate/queries").json()["source"] == "mine.jsonl"
    client.post("/evaluate/qrels?name=qrels.jsonl", content="\n".join(qrels_lines(N)))


def test_no_set_loaded_is_400_with_the_way_out(tmp_path):
    store = make_backend("local", tmp_path)
    models = fake_bundle()
    Syncer(store, models, "products").sync(write_catalog(tmp_path / "c", product_rows(4)))
    mm = QdrantMM(Settings(_env_file=None, collection="products"), backend=store, models=models)
    with TestClient(create_app(mm)) as client:
        for path in ("/evaluate", "/evaluate/grid", "/evaluate/queries/q1"):
            resp = client.get(path)
            assert resp.status_code == 400, path
            assert "qdrant-mm serve --qrels FILE" in resp.json()["error"]
        assert client.get("/evaluate/queries").json()["loaded"] is False


def test_cli_serve_takes_a_qrels_file(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from qdrant_mm import cli

    seen = {}
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: seen.update(app=app))
    # sockets are blocked in tests: the check that the port is free is tested on its own
    monkeypatch.setattr("qdrant_mm.cli.serve._check_port_free", lambda host, port: None)
    monkeypatch.setenv("QDRANT_MM_BACKEND", "edge")
    monkeypatch.setenv("QDRANT_MM_QDRANT_PATH", str(tmp_path / "data"))
    good = tmp_path / "qrels.jsonl"
    good.write_text("\n".join(qrels_lines(N)[2:]))
    result = CliRunner().invoke(cli.app, ["serve", "--qrels", str(good), "--qrels-depth", "50"])
    assert result.exit_code == 0, result.output
    bench = seen["app"].state.qdrant_mm.workbench
    assert len(bench.pending) == 8 and bench.depth == 50
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "x", "relevant": ["p1"]}\n{"query": "y"}\n')
    result = CliRunner().invoke(cli.app, ["serve", "--qrels", str(bad)])
    assert result.exit_code == 2 and "line 2: missing 'relevant'" in result.output


def test_answer_cache_keeps_only_the_most_recent_answers():
    from qdrant_mm.service.workbench import AnswerCache

    cache = AnswerCache(size=2)
    cache[("a",)] = 1
    cache[("b",)] = 2
    assert cache.get(("a",)) == 1  # now the most recent
    cache[("c",)] = 3
    assert cache.get(("b",)) is None and cache.get(("a",)) == 1 and cache.get(("c",)) == 3
    cache.clear()
    assert cache.get(("a",)) is None


@pytest.mark.parametrize("kind", ["edge", "local"])
def test_query_ranking_shows_the_photo_that_matched(tmp_path, kind):
    """A labelled query's ranking (re-ranked from the candidates, no engine search) names the
    photo of a several-photo product that the engine names, and marks a text-only product."""
    store = make_backend(kind, tmp_path)
    models = fake_bundle()
    root = tmp_path / "catalog"
    rows = product_rows(8)
    photos = [f"images/multi_{j}.png" for j in range(3)]
    rows.append({"id": "multi", "title": "three photo jacket", "images": photos})
    rows.append({"id": "text", "title": "knitting booklet", "description": "patterns"})
    for j, ref in enumerate(photos):
        write_image(root / ref, seed=500 + j)
    Syncer(store, models, "products").sync(write_catalog(root, rows))
    qrels = root / "qrels.jsonl"
    queries = [
        {"id": "photo", "image": photos[1], "relevant": ["multi"]},
        {"id": "knit", "query": "knitting booklet", "relevant": ["text"]},
    ]
    qrels.write_text("".join(json.dumps(q) + "\n" for q in queries))
    settings = Settings(_env_file=None, collection="products", image_root=root, api_key=KEY)
    mm = QdrantMM(settings, backend=store, models=models)
    try:
        with TestClient(create_app(mm, qrels=read_qrels(qrels))) as client:
            searcher = mm.searcher("products")
            for qid, w in (("photo", "0.4,0.4,0.2"), ("photo", "0,1,0"), ("knit", "1,1,1")):
                got = client.get(f"/evaluate/queries/{qid}", params={"weights": w, "limit": 10})
                assert got.status_code == 200, got.text
                data = got.json()
                assert data["ranked_by"] == "candidates"
                q = next(q for q in queries if q["id"] == qid)
                engine = searcher.search(
                    q.get("query"),
                    image=root / q["image"] if "image" in q else None,
                    weights=w,
                    limit=len(rows),
                ).hits
                named = {h.id: (h.matched_image, h.text_only) for h in engine}
                hits = {h["id"]: h for h in data["hits"]}
                assert set(hits) == set(named)
                for pid, h in hits.items():
                    assert (h["matched_image"], h["text_only"]) == named[pid], pid
                    want = None if h["text_only"] else "/images/" + h["matched_image"]
                    assert h["image_url"] == want
                assert hits["text"]["text_only"] and hits["text"]["image_url"] is None
                assert [h["id"] for h in data["hits"]] == [h.id for h in engine]  # same order
                if qid == "photo":
                    assert data["hits"][0]["id"] == "multi"
                    assert hits["multi"]["image_url"] == "/images/" + photos[1]
                sens = client.get("/sensitivity", params={"qid": qid, "weights": w, "k": 3})
                assert sens.status_code == 200, sens.text
                assert sens.json()["top"] == [h.id for h in engine[:3]]
                assert sens.json()["best_photo_fixed"] is True  # "multi" is a candidate
    finally:
        store.close()
