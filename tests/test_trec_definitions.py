"""The "trec" metric definitions agree with trec_eval itself (through pytrec_eval), and the
"qdrant-mm" ones differ from it exactly where the documentation says."""

from __future__ import annotations

import math

import pytest
import pytrec_eval
from hypothesis import given, settings
from hypothesis import strategies as st

from qdrant_mm.errors import ConfigError
from qdrant_mm.evaluation.metrics import (
    average_precision_at_k,
    default_metrics,
    evaluate,
    ndcg_at_k,
    parse_metric,
    ranked_ids,
)
from qdrant_mm.evaluation.trec import qrels_lines, run_lines, run_tag

KS = (1, 3, 5, 10)


def trec_eval_means(
    run: dict[str, dict[str, float]], qrels: dict[str, dict[str, int]], ks=KS
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """pytrec_eval's per-query values, keyed by qdrant-mm's metric names, and their means over
    every judged query, a query absent from the run counting 0 (``trec_eval -c``)."""
    metrics = default_metrics(ks, "trec")
    cut = ",".join(map(str, ks))
    measures = {f"P.{cut}", f"recall.{cut}", f"map_cut.{cut}", f"ndcg_cut.{cut}"}
    measures |= {"recip_rank", "Rprec"}
    got = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    per_query = {q: {str(m): got[q][m.trec_name] for m in metrics} for q in got}
    means = {
        str(m): math.fsum(per_query.get(q, {}).get(str(m), 0.0) for q in qrels) / len(qrels)
        for m in metrics
    }
    return per_query, means


def assert_agrees(run, qrels, ks=KS) -> None:
    ours = evaluate(run, qrels, ks, definitions="trec")
    per_query, means = trec_eval_means(run, qrels, ks)
    assert ours.n_queries == len(qrels)
    assert set(ours.metrics) == set(means)
    for name, value in means.items():
        assert ours.metrics[name] == pytest.approx(value, abs=1e-9), name
    for q, values in per_query.items():
        for name, value in values.items():
            assert ours.per_query[q][name] == pytest.approx(value, abs=1e-9), (q, name)


# --- the worked examples of docs/evaluation.md ---------------------------------------------


def test_map_cut_divides_by_r_and_the_default_by_min_k_r() -> None:
    relevance = {f"r{i:02d}": 1 for i in range(20)}  # R = 20
    ranking = ["r00", *(f"n{i:02d}" for i in range(15))]  # one hit, at rank 1
    assert average_precision_at_k(ranking, relevance, 1) == 1.0
    assert average_precision_at_k(ranking, relevance, 10) == pytest.approx(0.1)
    for k in (1, 10):
        assert average_precision_at_k(ranking, relevance, k, definitions="trec") == 0.05
    run = {"q": {pid: 100.0 - i for i, pid in enumerate(ranking)}}
    got = pytrec_eval.RelevanceEvaluator({"q": relevance}, {"map_cut.1,10"}).evaluate(run)
    assert got["q"] == {"map_cut_1": 0.05, "map_cut_10": 0.05}


def test_ndcg_cut_uses_linear_gains_and_the_default_exponential() -> None:
    relevance = {"d1": 3, "d2": 1}
    ranking = ["d2", "d1"]
    trec = (1 + 3 / math.log2(3)) / (3 + 1 / math.log2(3))
    burges = (1 + 7 / math.log2(3)) / (7 + 1 / math.log2(3))
    assert ndcg_at_k(ranking, relevance, 10, definitions="trec") == pytest.approx(trec)
    assert ndcg_at_k(ranking, relevance, 10) == pytest.approx(burges)
    assert round(trec, 3) == 0.797 and round(burges, 3) == 0.710
    run = {"q": {"d2": 2.0, "d1": 1.0}}
    got = pytrec_eval.RelevanceEvaluator({"q": relevance}, {"ndcg_cut.10"}).evaluate(run)
    assert got["q"]["ndcg_cut_10"] == pytest.approx(trec, abs=1e-12)


def test_queries_without_a_relevant_product_count_zero_only_in_trec() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 0}}
    run = {"q1": {"a": 1.0}, "q2": {"b": 1.0}}
    ours = evaluate(run, qrels, (1,))
    assert ours.metrics["p@1"] == 1.0 and ours.skipped == ["q2"] and ours.n_queries == 1
    trec = evaluate(run, qrels, (1,), definitions="trec")
    assert trec.metrics["p@1"] == 0.5 and trec.skipped == [] and trec.n_queries == 2
    assert trec.no_relevant == ours.no_relevant == ["q2"]
    assert trec.definitions == "trec" and ours.definitions == "qdrant-mm"
    assert_agrees(run, qrels, (1,))


# --- ties ------------------------------------------------------------------------------------


def test_ties_are_broken_by_product_id_descending_as_trec_eval_does() -> None:
    scores = {"p1": 1.0, "p10": 1.0, "p9": 1.0, "a": 2.0}
    assert ranked_ids(scores, "trec") == ["a", "p9", "p10", "p1"]
    # the default keeps tied products in the order given
    assert ranked_ids(scores) == ["a", "p1", "p10", "p9"]
    for relevant in ("p1", "p10", "p9"):
        assert_agrees({"q": scores}, {"q": {relevant: 1}})


def test_scores_are_compared_in_single_precision_as_trec_eval_does() -> None:
    # equal as C floats (what trec_eval stores), different as doubles
    scores = {"d0": 1.00000001, "d1": 1.0}
    assert ranked_ids(scores, "trec") == ["d1", "d0"]
    assert ranked_ids(scores) == ["d0", "d1"]
    assert_agrees({"q": scores}, {"q": {"d0": 1}})
    # different as C floats: the score decides
    scores = {"d0": 1.001, "d1": 1.0}
    assert ranked_ids(scores, "trec") == ["d0", "d1"]
    assert_agrees({"q": scores}, {"q": {"d0": 1}})


def test_non_ascii_ids_tie_in_byte_order() -> None:
    scores = {"é": 1.0, "z": 1.0, "e": 1.0}
    assert ranked_ids(scores, "trec") == ["é", "z", "e"]
    for relevant in scores:
        assert_agrees({"q": scores}, {"q": {relevant: 1}})


# --- synthetic runs --------------------------------------------------------------------------


def synthetic() -> tuple[dict[str, dict[str, float]], dict[str, dict[str, int]]]:
    qrels = {
        "binary": {"d1": 1, "d3": 1, "d7": 1, "d9": 0},
        "graded": {"d2": 3, "d4": 2, "d5": 1, "d8": 0, "d20": 2},
        "ties": {"d3": 1, "d6": 2},
        "none-relevant": {"d1": 0, "d2": 0},
        "r-over-k": {f"d{i}": 1 + i % 2 for i in range(0, 40, 2)},  # R = 20 > every K
        "not-run": {"d1": 1, "d2": 2},
    }
    run = {
        "binary": {f"d{i}": 1 / (i + 1) for i in range(12)},
        "graded": {"d5": 0.9, "d2": 0.8, "d0": 0.7, "d4": 0.6, "d8": 0.5},
        "ties": {f"d{i}": 0.5 for i in range(8)},  # all tied
        "none-relevant": {"d1": 0.3, "d2": 0.2},
        "r-over-k": {f"d{i}": float(30 - i // 3) for i in range(30)},
        "unjudged": {"d1": 1.0},
    }
    return run, qrels


def test_synthetic_runs_score_as_in_trec_eval() -> None:
    run, qrels = synthetic()
    assert_agrees(run, qrels)
    ours = evaluate(run, qrels, KS, definitions="trec")
    assert ours.missing == ["not-run"] and ours.no_relevant == ["none-relevant"]
    assert ours.trec_names["map@10"] == "map_cut_10" and ours.trec_names["mrr"] == "recip_rank"
    # the default definitions really differ on these runs (so the check above means something)
    default = evaluate(run, qrels, KS)
    assert default.metrics["map@10"] != pytest.approx(ours.metrics["map@10"])
    assert default.metrics["ndcg@10"] != pytest.approx(ours.metrics["ndcg@10"])


def test_ranked_lists_score_as_their_scored_runs() -> None:
    run, qrels = synthetic()
    lists = {q: ranked_ids(scores, "trec") for q, scores in run.items()}
    assert evaluate(lists, qrels, KS, definitions="trec") == evaluate(
        run, qrels, KS, definitions="trec"
    )


def test_written_files_read_back_by_pytrec_eval_give_the_same_numbers() -> None:
    run, qrels = synthetic()
    scored = {q: [(pid, r[pid]) for pid in ranked_ids(r, "trec")] for q, r in run.items()}
    lines = run_lines(scored, "fused")
    assert lines[0] == "binary Q0 d0 1 1.0 fused" and lines[1] == "binary Q0 d1 2 0.5 fused"
    parsed_run = pytrec_eval.parse_run(lines)
    parsed_qrels = pytrec_eval.parse_qrel(qrels_lines(qrels))
    assert parsed_run == run  # every score read back exactly
    assert parsed_qrels == qrels  # grade-0 judgments included
    assert_agrees(dict(parsed_run), dict(parsed_qrels))


def test_ids_a_trec_file_cannot_hold_are_refused() -> None:
    with pytest.raises(ValueError, match="product id .*'a b'"):
        run_lines({"q": [("a b", 1.0)]}, "t")
    with pytest.raises(ValueError, match="query id 'my query'"):
        qrels_lines({"my query": {"a": 1}})
    assert run_tag("blip only") == "blip_only"
    assert run_tag("profile:fast") == "profile_fast"
    assert run_tag("1,1,1", taken={"1,1,1"}) == "1,1,1-2"


def test_unknown_definitions_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown metric definitions 'trec_eval'"):
        evaluate({}, {"q": {"a": 1}}, definitions="trec_eval")  # type: ignore[arg-type]
    assert parse_metric("map@10", "trec").trec_name == "map_cut_10"
    assert parse_metric("mrr@10", "trec").trec_name is None


# --- random runs -----------------------------------------------------------------------------

IDS = [f"d{i}" for i in range(10)] + ["d10", "e", "é"]
# few distinct scores, so ties are common; two that are equal only in single precision
SCORES = st.sampled_from([0.0, 0.25, 0.5, 0.5000000001, 1.0, -1.0]) | st.floats(-2, 2)
runs = st.dictionaries(
    st.sampled_from(["q1", "q2", "q3", "q4"]),
    st.dictionaries(st.sampled_from(IDS), SCORES, max_size=12),
    max_size=4,
)
judgments = st.dictionaries(
    st.sampled_from(["q1", "q2", "q3", "q4", "q5"]),
    st.dictionaries(st.sampled_from(IDS), st.integers(0, 3), min_size=1, max_size=10),
    min_size=1,
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(runs, judgments, st.lists(st.integers(1, 14), min_size=1, max_size=3, unique=True))
def test_random_runs_score_as_in_trec_eval(run, qrels, ks) -> None:
    # pytrec_eval skips a query whose run is empty; trec_eval -c counts it 0, as an absent one
    run = {q: docs for q, docs in run.items() if docs}
    assert_agrees(run, qrels, tuple(sorted(ks)))
