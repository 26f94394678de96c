"""Ranking metrics: hand-computed cases and properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qdrant_mm.errors import ConfigError
from qdrant_mm.evaluation.metrics import (
    Metric,
    average_precision_at_k,
    default_metrics,
    evaluate,
    evaluate_rankings,
    ndcg_at_k,
    parse_metric,
    precision_at_k,
    r_precision,
    recall_at_k,
    reciprocal_rank,
)

RANKING = ["a", "b", "c", "d", "e"]
BINARY = {"a": 1, "c": 1, "f": 1}  # f is relevant but never retrieved


def test_precision_and_recall_hand_computed() -> None:
    assert precision_at_k(RANKING, BINARY, 1) == 1.0
    assert precision_at_k(RANKING, BINARY, 5) == pytest.approx(2 / 5)
    # the list is shorter than K: still divided by K
    assert precision_at_k(RANKING, BINARY, 10) == pytest.approx(2 / 10)
    assert recall_at_k(RANKING, BINARY, 1) == pytest.approx(1 / 3)
    assert recall_at_k(RANKING, BINARY, 5) == pytest.approx(2 / 3)


def test_average_precision_hand_computed() -> None:
    # hits at ranks 1 and 3: (1/1 + 2/3) / min(K, R=3)
    assert average_precision_at_k(RANKING, BINARY, 5) == pytest.approx((1 + 2 / 3) / 3)
    assert average_precision_at_k(RANKING, BINARY, 10) == pytest.approx((1 + 2 / 3) / 3)
    assert average_precision_at_k(RANKING, BINARY, 1) == 1.0  # min(1, 3) = 1
    assert average_precision_at_k(RANKING, BINARY, 2) == pytest.approx(1 / 2)


def test_fewer_relevant_than_k() -> None:
    rel = {"b": 1}
    ranking = ["b", "x", "y"]
    assert average_precision_at_k(ranking, rel, 10) == 1.0  # normalised by min(10, 1)
    assert precision_at_k(ranking, rel, 10) == pytest.approx(0.1)
    assert recall_at_k(ranking, rel, 10) == 1.0
    assert ndcg_at_k(ranking, rel, 10) == 1.0
    ranking = ["x", "b"]
    assert average_precision_at_k(ranking, rel, 10) == pytest.approx(1 / 2)
    assert ndcg_at_k(ranking, rel, 10) == pytest.approx(1 / math.log2(3))


def test_binary_ndcg_hand_computed() -> None:
    dcg = 1 / math.log2(2) + 1 / math.log2(4)
    idcg = 1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(RANKING, BINARY, 5) == pytest.approx(dcg / idcg)


def test_graded_ndcg_exponential_gains() -> None:
    rel = {"a": 3, "b": 1, "c": 2, "z": 0}
    ranking = ["b", "a", "x", "c"]
    dcg = (2**1 - 1) / math.log2(2) + (2**3 - 1) / math.log2(3)
    idcg = (2**3 - 1) / math.log2(2) + (2**2 - 1) / math.log2(3) + (2**1 - 1) / math.log2(4)
    assert ndcg_at_k(ranking, rel, 3) == pytest.approx(dcg / idcg)
    dcg4 = dcg + (2**2 - 1) / math.log2(5)
    assert ndcg_at_k(ranking, rel, 4) == pytest.approx(dcg4 / idcg)


def test_ideal_dcg_comes_from_the_judgments_not_the_list() -> None:
    # z (grade 3) is never retrieved; the ideal still puts it first
    rel = {"a": 2, "z": 3}
    assert ndcg_at_k(["a"], rel, 1) == pytest.approx((2**2 - 1) / (2**3 - 1))


def test_reciprocal_rank_with_and_without_cut() -> None:
    rel = {"c": 1, "e": 2}
    assert reciprocal_rank(RANKING, rel) == pytest.approx(1 / 3)
    assert reciprocal_rank(RANKING, rel, 3) == pytest.approx(1 / 3)
    assert reciprocal_rank(RANKING, rel, 2) == 0.0
    assert reciprocal_rank(RANKING, BINARY) == 1.0


def test_r_precision() -> None:
    assert r_precision(RANKING, BINARY) == pytest.approx(2 / 3)  # top 3: a, b, c
    assert r_precision(["x", "a"], {"a": 1, "b": 2}) == pytest.approx(1 / 2)
    assert r_precision(["b", "a"], {"a": 1, "b": 2}) == 1.0


def test_no_relevant_found_gives_zero() -> None:
    rel = {"q": 1, "r": 2}
    for value in (
        precision_at_k(RANKING, rel, 5),
        recall_at_k(RANKING, rel, 5),
        average_precision_at_k(RANKING, rel, 5),
        ndcg_at_k(RANKING, rel, 5),
        reciprocal_rank(RANKING, rel),
        r_precision(RANKING, rel),
    ):
        assert value == 0.0
    assert ndcg_at_k([], rel, 5) == 0.0


def test_no_relevant_judged_gives_zero_and_grade_zero_is_not_relevant() -> None:
    rel = {"a": 0, "b": 0}
    assert recall_at_k(RANKING, rel, 5) == 0.0
    assert average_precision_at_k(RANKING, rel, 5) == 0.0
    assert ndcg_at_k(RANKING, rel, 5) == 0.0
    assert r_precision(RANKING, rel) == 0.0
    assert precision_at_k(RANKING, {"a": 0, "b": 1}, 1) == 0.0


def test_list_order_is_the_ranking_and_repeats_count_once() -> None:
    rel = {"b": 1}
    # same items (e.g. tied scores) in another order give other values: the order is as given
    assert reciprocal_rank(["a", "b"], rel) == 0.5
    assert reciprocal_rank(["b", "a"], rel) == 1.0
    # a repeated id keeps its first position only
    assert precision_at_k(["a", "a", "b"], rel, 2) == 0.5
    assert precision_at_k(["b", "b", "b"], rel, 3) == pytest.approx(1 / 3)


def test_bad_k() -> None:
    for k in (0, -1, 1.5, True):
        with pytest.raises(ValueError):
            precision_at_k(RANKING, BINARY, k)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "name", "k"),
    [
        ("p@5", "p", 5),
        ("P@5", "p", 5),
        ("precision@3", "p", 3),
        ("r@10", "r", 10),
        ("recall@10", "r", 10),
        ("map@10", "map", 10),
        ("ap@10", "map", 10),
        (" nDCG@10 ", "ndcg", 10),
        ("mrr", "mrr", None),
        ("mrr@10", "mrr", 10),
        ("r-precision", "r-precision", None),
        ("rprec", "r-precision", None),
    ],
)
def test_parse_metric(text: str, name: str, k: int | None) -> None:
    metric = parse_metric(text)
    assert (metric.name, metric.k) == (name, k)
    assert parse_metric(str(metric)) == metric


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hits@10", "unknown metric"),
        ("ndcg", "needs a cut-off"),
        ("p", "needs a cut-off"),
        ("ndcg@0", "integer from 1 to 999999999"),
        ("ndcg@x", "integer from 1 to 999999999"),
        ("ndcg@-1", "integer from 1 to 999999999"),
        ("ndcg@²", "integer from 1 to 999999999"),
        ("r-precision@5", "no cut-off"),
    ],
)
def test_parse_metric_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_metric(text)


def test_metric_call_matches_functions() -> None:
    assert parse_metric("ndcg@5")(RANKING, BINARY) == ndcg_at_k(RANKING, BINARY, 5)
    assert parse_metric("r-precision")(RANKING, BINARY) == r_precision(RANKING, BINARY)
    with pytest.raises(ValueError):
        Metric("ndcg")


def test_evaluate_rankings_names_averages_and_skips() -> None:
    rankings = {"q1": ["a", "b"], "q2": ["x", "y"], "q3": ["a"], "extra": ["a"]}
    qrels = {"q1": {"a": 1}, "q2": {"y": 1}, "q3": {"a": 0}, "q4": {"a": 1}}
    result = evaluate(rankings, qrels, ks=(1, 2))
    assert list(result.metrics) == [
        "p@1", "p@2", "r@1", "r@2", "map@1", "map@2", "ndcg@1", "ndcg@2", "mrr", "r-precision",
    ]  # fmt: skip
    assert result.skipped == ["q3"]  # no relevant product: not averaged
    assert result.missing == ["q4"]  # judged but no ranking: scored as empty
    assert result.n_queries == 3
    assert result.metrics["p@1"] == pytest.approx(1 / 3)
    assert result.metrics["mrr"] == pytest.approx((1 + 1 / 2 + 0) / 3)
    assert result.per_query["q2"]["r@2"] == 1.0
    assert evaluate_rankings(rankings, qrels, ks=(1, 2)) == result.metrics
    default = evaluate_rankings(rankings, qrels)
    assert {"p@1", "p@5", "p@10", "map@10", "ndcg@10", "r@5", "mrr", "r-precision"} <= set(default)


def test_evaluate_ids_compared_as_strings_and_custom_metrics() -> None:
    result = evaluate({1: [7, 8]}, {"1": {"8": 1}}, metrics=["mrr", "mrr", "p@1"])  # type: ignore[dict-item]
    assert result.metrics == {"mrr": 0.5, "p@1": 0.0}


def test_evaluate_with_nothing_to_evaluate_gives_nan() -> None:
    result = evaluate({"q": ["a"]}, {"q": {}})
    assert result.n_queries == 0 and result.skipped == ["q"]
    assert all(math.isnan(v) for v in result.metrics.values())


def test_default_metrics_order() -> None:
    assert [str(m) for m in default_metrics((5,))] == [
        "p@5", "r@5", "map@5", "ndcg@5", "mrr", "r-precision",
    ]  # fmt: skip


# --- properties ---------------------------------------------------------------------------

IDS = [f"p{i}" for i in range(12)]
rankings = st.lists(st.sampled_from(IDS), max_size=15)
relevances = st.dictionaries(st.sampled_from(IDS), st.integers(0, 4), max_size=12)
ks = st.integers(1, 15)


@given(rankings, relevances, ks)
def test_all_metrics_in_unit_interval(ranking: list[str], rel: dict[str, int], k: int) -> None:
    for metric in [*default_metrics((k,)), Metric("mrr", k)]:
        value = metric(ranking, rel)
        assert 0.0 <= value <= 1.0 + 1e-12, (str(metric), value)


@given(st.dictionaries(st.sampled_from(IDS), st.integers(1, 4), min_size=1), ks, st.randoms())
def test_perfect_ranking_scores_one(rel: dict[str, int], k: int, rnd) -> None:
    others = [i for i in IDS if i not in rel]
    rnd.shuffle(others)
    ranking = sorted(rel, key=lambda pid: -rel[pid]) + others
    r = len(rel)
    assert precision_at_k(ranking, rel, r) == 1.0
    assert r_precision(ranking, rel) == 1.0
    assert ndcg_at_k(ranking, rel, k) == pytest.approx(1.0, abs=1e-12)
    assert average_precision_at_k(ranking, rel, k) == pytest.approx(1.0, abs=1e-12)
    assert reciprocal_rank(ranking, rel) == 1.0
    assert recall_at_k(ranking, rel, max(k, r)) == 1.0


@given(rankings, relevances)
def test_recall_grows_with_k(ranking: list[str], rel: dict[str, int]) -> None:
    values = [recall_at_k(ranking, rel, k) for k in range(1, 16)]
    assert values == sorted(values)
