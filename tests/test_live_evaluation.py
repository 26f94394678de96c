"""Live evaluation re-ranks fetched candidates, and its numbers equal ``evaluate``'s (engine
searches) for every weighting, under both definitions, whichever way each query was ranked."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qdrant_mm.evaluation.live import LiveEvaluator, LiveQuery
from qdrant_mm.evaluation.qrels import read_qrels
from qdrant_mm.evaluation.runner import embed_queries, evaluate_weightings, resolve_qrels
from qdrant_mm.evaluation.tuning import QueryCandidates, simplex_grid
from qdrant_mm.search import Searcher
from qdrant_mm.sync import Syncer
from qdrant_mm.weights import Weights
from tests.backends import backend, collection_name  # noqa: F401
from tests.fakes import fake_bundle
from tests.helpers import product_rows, write_catalog, write_image

N = 40


def write_qrels(path, n_products: int) -> None:
    rng = np.random.default_rng(3)
    lines = [
        json.dumps({"category": "bags"}),
        json.dumps({"image": "images/p4.png", "relevant": ["p4"]}),
    ]
    for i in range(10):
        picked = rng.choice(n_products, size=4, replace=False)
        rel = {f"p{j}": int(g) for j, g in zip(picked, (3, 2, 1, 0), strict=True)}
        lines.append(json.dumps({"id": f"t{i}", "query": f"product {i}", "relevant": rel}))
    path.write_text("\n".join(lines))


def photo_shop_rows(tmp_path, n: int) -> list[dict]:
    """``product_rows(n)`` with every third product holding three photos and two without one."""
    rows = product_rows(n)
    for i, row in enumerate(rows):
        if i % 3 == 1:
            row["images"] = [f"images/p{i}_{j}.png" for j in (1, 2)]
            for j in (1, 2):
                write_image(tmp_path / row["images"][j - 1], seed=1000 * i + j)
        elif i in (5, 9):
            del row["image"]
    return rows


@pytest.fixture(params=["one photo", "photo lists"])
def loaded(request, tmp_path, backend, collection_name):  # noqa: F811
    bundle = fake_bundle()
    rows = product_rows(N) if request.param == "one photo" else photo_shop_rows(tmp_path, N)
    report = Syncer(backend, bundle, collection_name).sync(write_catalog(tmp_path, rows))
    assert report.failed == []
    write_qrels(tmp_path / "qrels.jsonl", N)
    searcher = Searcher(backend, bundle, collection_name)
    qrels = resolve_qrels(searcher, read_qrels(tmp_path / "qrels.jsonl"))
    return searcher, qrels, embed_queries(searcher, qrels)


@pytest.mark.parametrize("definitions", ["qdrant-mm", "trec"])
@pytest.mark.parametrize("depth", [3, 25, 200])
def test_live_metrics_equal_evaluate_on_the_grid(loaded, definitions, depth):
    searcher, qrels, vectors = loaded
    live = LiveEvaluator.build(searcher, qrels, vectors, depth=depth)
    grid = simplex_grid(0.25)
    rows = evaluate_weightings(
        searcher, qrels, vectors, [(str(w), w) for w in grid], (1, 5, 10), definitions=definitions
    )
    seen = set()
    for w, row in zip(grid, rows, strict=True):
        got = live.evaluate(w, (1, 5, 10), definitions=definitions)
        assert got.evaluation == row.evaluation  # every mean and per-query value, bit for bit
        seen |= set(got.ranked_by.values())
    if depth == 3:  # 3 candidates per channel cannot certify a top 10: deeper ones are fetched
        assert "deepened" in seen
    elif depth == 25:  # fewer candidates than products: the bound on the rest is what certifies
        assert all(np.isfinite(q.floor).all() for q in live.queries.values())
        assert "candidates" in seen
    else:  # every product is a candidate: no search at all
        assert seen == {"candidates"}


def test_check_engine_searches_every_query(loaded):
    searcher, qrels, vectors = loaded
    live = LiveEvaluator.build(searcher, qrels, vectors)
    w = Weights.parse("0.2,0.5,0.3")
    engine = live.evaluate(w, (5,), check="engine")
    assert set(engine.ranked_by.values()) == {"engine"}
    assert engine.evaluation == live.evaluate(w, (5,)).evaluation


def test_a_float16_collection_is_evaluated_by_engine_searches(tmp_path, backend, collection_name):  # noqa: F811
    """On float16 vectors the engine rounds the weighted query too: re-ranked candidates may
    order products ~1e-5 apart otherwise, so every query is asked of the engine."""
    bundle = fake_bundle()
    Syncer(backend, bundle, collection_name, vector_datatype="float16").sync(
        write_catalog(tmp_path, product_rows(N))
    )
    write_qrels(tmp_path / "qrels.jsonl", N)
    searcher = Searcher(backend, bundle, collection_name)
    assert searcher.meta.datatype == "float16"
    qrels = resolve_qrels(searcher, read_qrels(tmp_path / "qrels.jsonl"))
    vectors = embed_queries(searcher, qrels)
    live = LiveEvaluator.build(searcher, qrels, vectors)
    assert live.engine_exact is False
    w = Weights.parse("0.2,0.5,0.3")
    got = live.evaluate(w, (1, 5, 10))
    assert set(got.ranked_by.values()) == {"engine"}
    (row,) = evaluate_weightings(searcher, qrels, vectors, [("w", w)], (1, 5, 10))
    assert got.evaluation == row.evaluation


def _query(scores, grades, floor) -> LiveQuery:
    ids = [f"d{i}" for i in range(len(scores))]
    rel = {pid: int(g) for pid, g in zip(ids, grades, strict=True)}
    cands = QueryCandidates("q", ids, np.array(scores, dtype=float), rel)
    return LiveQuery("q", {}, cands, np.array(grades), np.array(floor, dtype=float), 3)


def test_certificate_refuses_what_it_cannot_prove():
    live = LiveEvaluator.__new__(LiveEvaluator)
    w = np.array([0.5, 0.5, 0.0])
    base = [[0.9, 0.9, 0], [0.8, 0.8, 0], [0.5, 0.5, 0]]
    ok, why = live._certified(_query(base, [1, 0, 0], [0.1, 0.1, 0.1]), w, (2,), 2)
    assert (ok, why) == (["d0", "d1"], "ok")
    # an outsider could score up to 0.5*0.85 + 0.5*0.85 = 0.85 > the second candidate's 0.8
    assert live._certified(_query(base, [1, 0, 0], [0.85, 0.85, 0]), w, (2,), 2) == (None, "bound")
    # the second and third tie within EPS with different grades: the engine may swap them
    tied = [[0.9, 0.9, 0], [0.8, 0.8, 0], [0.8, 0.8 + 4e-6, 0]]
    assert live._certified(_query(tied, [1, 0, 1], [0.1] * 3), w, (2,), 2) == (None, "tie")
    # the same near-tie between products of one grade changes no metric: certified
    assert live._certified(_query(tied, [1, 0, 0], [0.1] * 3), w, (2,), 2)[1] == "ok"
