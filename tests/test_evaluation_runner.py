"""Evaluate and tune against a stored collection: correct rankings, no writes."""

from __future__ import annotations

import json

import pytest

from qdrant_mm.evaluation.qrels import read_qrels
from qdrant_mm.evaluation.runner import (
    embed_queries,
    evaluate_weightings,
    fetch_candidates,
    rankings,
    resolve_qrels,
)
from qdrant_mm.evaluation.tuning import tune
from qdrant_mm.search import Searcher
from qdrant_mm.sync import Syncer
from qdrant_mm.weights import Weights
from tests.backends import backend, collection_name  # noqa: F401
from tests.fakes import fake_bundle
from tests.helpers import product_rows, write_catalog

WRITES = ("upsert", "delete", "create_collection", "delete_collection", "write_meta", "delete_meta")


@pytest.fixture
def synced(tmp_path, backend, collection_name):  # noqa: F811
    bundle = fake_bundle()
    cat = write_catalog(tmp_path, product_rows(24))
    Syncer(backend, bundle, collection_name).sync(cat)
    qrels = tmp_path / "qrels.jsonl"
    qrels.write_text(
        "\n".join(
            [
                json.dumps({"query": "product 3", "relevant": ["p3", "p7"]}),
                json.dumps({"query": "product 5", "relevant": {"p5": 2, "p9": 1}}),
                json.dumps({"category": "bags"}),
                json.dumps({"image": "images/p4.png", "relevant": ["p4"]}),
            ]
        )
    )
    return Searcher(backend, bundle, collection_name), read_qrels(qrels)


def count_writes(backend):  # noqa: F811
    calls = {"n": 0}
    for name in WRITES:
        real = getattr(backend, name)

        def spy(*a, _real=real, **k):
            calls["n"] += 1
            return _real(*a, **k)

        setattr(backend, name, spy)
    return calls


def test_evaluate_and_tune_write_nothing(synced, backend):  # noqa: F811
    searcher, qrels = synced
    before = backend.count(searcher.collection)
    writes = count_writes(backend)
    qrels = resolve_qrels(searcher, qrels)
    vectors = embed_queries(searcher, qrels)
    rows = evaluate_weightings(
        searcher, qrels, vectors, [("a", Weights.parse("1,1,1")), ("b", Weights.parse("0,1,0"))]
    )
    assert sum(r.best for r in rows) == 1
    cands = fetch_candidates(searcher, qrels, vectors, depth=10)
    report = tune(cands, holdout=0.25, steps=50)
    assert abs(sum(report.weights.as_dict().values()) - 1) < 1e-9
    assert writes["n"] == 0 and backend.count(searcher.collection) == before


def test_category_queries_expand_to_products_of_that_category(synced):
    searcher, qrels = synced
    resolved = resolve_qrels(searcher, qrels)
    bags = next(q for q in resolved.queries if q.kind == "category")
    assert sorted(bags.relevant_ids) == sorted(
        r["id"] for r in product_rows(24) if r["category"] == "bags"
    )


def test_image_query_finds_its_own_product_first(synced):
    searcher, qrels = synced
    vectors = embed_queries(searcher, qrels)
    image_q = next(q for q in qrels.queries if q.kind == "image")
    got = rankings(searcher, {image_q.id: vectors[image_q.id]}, Weights.parse("1,1,0"), 3)
    assert got[image_q.id][0] == "p4"


def test_evaluation_rows_match_metrics_of_the_search_rankings(synced):
    searcher, qrels = synced
    qrels = resolve_qrels(searcher, qrels)
    vectors = embed_queries(searcher, qrels)
    w = Weights.parse("0.2,0.3,0.5")
    (row,) = evaluate_weightings(searcher, qrels, vectors, [("w", w)], ks=(1, 5))
    # P@1 and R@5 by hand from this weighting's own search results
    p1, r5 = [], []
    for q in qrels.queries:
        relevant = {pid for pid, grade in q.relevance.items() if grade > 0}
        if not relevant:
            continue
        top = [h.id for h in searcher.search_vectors(vectors[q.id], w, limit=5)]
        p1.append(float(top[0] in relevant))
        r5.append(len(relevant & set(top)) / len(relevant))
    assert row.evaluation.n_queries == len(p1) > 0
    assert row.evaluation.metrics["p@1"] == pytest.approx(sum(p1) / len(p1))
    assert row.evaluation.metrics["r@5"] == pytest.approx(sum(r5) / len(r5))


def test_candidates_carry_exact_channel_scores(synced):
    searcher, qrels = synced
    vectors = embed_queries(searcher, qrels)
    cands = fetch_candidates(searcher, qrels, vectors, depth=5)
    c = cands[0]
    w = Weights.parse("0.5,0.25,0.25")
    hits = searcher.search_vectors(vectors[c.query_id], w, limit=3)
    fused = dict(zip(c.ids, c.fused(w), strict=True))
    # with these 24 products the channels' top 5s hold the weighted top 3: every hit is checked
    assert {h.id for h in hits} <= set(fused)
    for h in hits:
        assert fused[h.id] == pytest.approx(h.score, abs=1e-5)
