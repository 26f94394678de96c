"""Weight tuning: planted-weight recovery, grid, holdout and the report."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from qdrant_mm.evaluation.metrics import evaluate
from qdrant_mm.evaluation.tuning import (
    QueryCandidates,
    TuningReport,
    _loss_and_grad,
    _pad,
    contrastive_loss,
    evaluate_candidates,
    fit_contrastive,
    mean_metric,
    search_weights,
    simplex_grid,
    split_holdout,
    tune,
)
from qdrant_mm.weights import CHANNELS, Weights

PLANTED = (0.7, 0.2, 0.1)
CORNERS = [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)]


def planted_candidates(
    n_queries: int = 400,
    n: int = 40,
    n_relevant: int = 3,
    planted: Sequence[float] = PLANTED,
    tau: float = 0.05,
    seed: int = 0,
) -> list[QueryCandidates]:
    """Channel scores ~ N(0.3, 0.12); the relevant candidates are drawn by the planted weighting:
    the top ``n_relevant`` of ``S @ w / tau + Gumbel noise`` (sampling without replacement
    from ``softmax(S @ w / tau)``)."""
    rng = np.random.default_rng(seed)
    w = np.asarray(planted)
    out = []
    for q in range(n_queries):
        scores = rng.normal(0.3, 0.12, size=(n, 3))
        noisy = scores @ w / tau + rng.gumbel(size=n)
        ids = [f"p{q}-{i}" for i in range(n)]
        relevant = {ids[i]: 1 for i in np.argsort(-noisy)[:n_relevant]}
        out.append(QueryCandidates(f"q{q}", ids, scores, relevant))
    return out


def vec(w: Weights) -> np.ndarray:
    return np.array([w.blip, w.clip, w.interrogator])


@pytest.fixture(scope="module")
def data() -> list[QueryCandidates]:
    return planted_candidates()


# --- simplex grid -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "count"), [(1.0, 3), (0.5, 6), (0.25, 15), (0.1, 66), (0.05, 231)]
)
def test_simplex_grid(step: float, count: int) -> None:
    grid = simplex_grid(step)
    assert len(grid) == count
    assert len({tuple(vec(w)) for w in grid}) == count
    m = round(1 / step)
    for w in grid:
        values = [w.blip, w.clip, w.interrogator]
        assert sum(values) == 1.0 and min(values) >= 0.0
        assert all(abs(v * m - round(v * m)) < 1e-9 for v in values)
        assert Weights.from_mapping(w.as_dict()) == w  # sum exactly 1: normalising keeps it
    for corner in CORNERS:
        assert corner in {tuple(vec(w)) for w in grid}


def test_simplex_grid_exact_sums_for_many_steps() -> None:
    for m in range(1, 101):
        for w in simplex_grid(1 / m):
            assert w.blip + w.clip + w.interrogator == 1.0


@pytest.mark.parametrize("step", [0, -0.1, 0.3, 1.5, 0.07])
def test_simplex_grid_bad_step(step: float) -> None:
    with pytest.raises(ValueError, match="step"):
        simplex_grid(step)


@pytest.mark.parametrize("step", [1e-9, 0.005, 0.001])
def test_simplex_grid_refuses_steps_finer_than_the_finest(step: float) -> None:
    # 1/step divides 1 here: without the bound, 1e-9 asks for ~5e17 weightings (memory blows up)
    with pytest.raises(ValueError, match="at least 0.01"):
        simplex_grid(step)
    with pytest.raises(ValueError, match="at least 0.01"):
        search_weights(planted_candidates(), step=step)


# --- candidates and ranking ---------------------------------------------------------------


def test_rank_breaks_ties_by_id() -> None:
    scores = np.array([[0.5, 0.1, 0.0], [0.5, 0.1, 0.0], [0.9, 0.0, 0.0], [0.5, 0.1, 0.0]])
    c = QueryCandidates("q", ["b", "c", "z", "a"], scores, {"a": 1})
    assert c.rank(Weights(blip=1, clip=0, interrogator=0)) == ["z", "a", "b", "c"]
    assert c.rank(Weights(blip=0, clip=0, interrogator=1)) == ["a", "b", "c", "z"]
    assert c.rank([0.0, 1.0, 0.0]) == ["a", "b", "c", "z"]
    assert c.positive.tolist() == [False, False, False, True]


def test_candidates_validation() -> None:
    with pytest.raises(ValueError, match="shape"):
        QueryCandidates("q", ["a", "b"], np.zeros((2, 2)), {})
    with pytest.raises(ValueError, match="finite"):
        QueryCandidates("q", ["a"], np.array([[np.nan, 0, 0]]), {})
    with pytest.raises(ValueError, match="duplicate"):
        QueryCandidates("q", ["a", "a"], np.zeros((2, 3)), {})
    c = QueryCandidates("q", [1, 2], np.zeros((2, 3)), {2: 1})  # type: ignore[list-item]
    assert c.ids == ("1", "2") and c.relevance == {"2": 1}


def test_from_channel_scores() -> None:
    c = QueryCandidates.from_channel_scores(
        "q",
        {
            "blip": {"a": 0.1, "b": 0.2},
            "clip": {"b": 0.5, "a": 0.4},
            "interrogator": {"a": 0, "b": 1},
        },
        {"b": 1},
    )
    assert c.ids == ("a", "b")
    assert c.scores.tolist() == [[0.1, 0.4, 0.0], [0.2, 0.5, 1.0]]
    with pytest.raises(ValueError, match="channel clip has no score for 1 candidate"):
        QueryCandidates.from_channel_scores(
            "q", {"blip": {"a": 0.1, "b": 0.2}, "clip": {"a": 0.4}, "interrogator": {}}, {}
        )
    with pytest.raises(ValueError, match="unknown channel"):
        QueryCandidates.from_channel_scores("q", {"text": {"a": 1}}, {})


# --- contrastive objective ----------------------------------------------------------------


@pytest.mark.parametrize("positives", ["mass", "mean"])
def test_contrastive_gradient_matches_finite_differences(positives: str) -> None:
    cands = planted_candidates(n_queries=20, n=7, n_relevant=2, seed=3)
    cands.append(QueryCandidates("short", ["x", "y"], np.array([[0.1, 0.5, 0.2]] * 2), {"x": 1}))
    arrays = _pad(cands)
    w = np.array([0.5, 0.3, 0.2])
    _, grad = _loss_and_grad(*arrays, w, 0.05, positives)  # type: ignore[arg-type]
    eps = 1e-6
    for c in range(3):
        step = np.zeros(3)
        step[c] = eps
        up = _loss_and_grad(*arrays, w + step, 0.05, positives)[0]  # type: ignore[arg-type]
        down = _loss_and_grad(*arrays, w - step, 0.05, positives)[0]  # type: ignore[arg-type]
        assert grad[c] == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-7)


def test_contrastive_fit_recovers_planted_weights(data: list[QueryCandidates]) -> None:
    fitted = fit_contrastive(data)
    assert np.abs(vec(fitted) - PLANTED).max() < 0.1, fitted
    loss = contrastive_loss(data, fitted)
    for other in [(1 / 3, 1 / 3, 1 / 3), *CORNERS]:
        assert loss <= contrastive_loss(data, other)


def test_contrastive_mass_objective_recovers_with_one_relevant() -> None:
    cands = planted_candidates(n_relevant=1, seed=1)
    fitted = fit_contrastive(cands, positives="mass")
    assert np.abs(vec(fitted) - PLANTED).max() < 0.1, fitted
    # with a single relevant candidate both objectives coincide
    assert contrastive_loss(cands, fitted, positives="mass") == pytest.approx(
        contrastive_loss(cands, fitted, positives="mean")
    )


def test_contrastive_fit_is_deterministic_and_start_independent(
    data: list[QueryCandidates],
) -> None:
    a = fit_contrastive(data[:100])
    assert fit_contrastive(data[:100]) == a
    corner = fit_contrastive(data[:100], init=Weights(blip=0, clip=0, interrogator=1))
    assert np.abs(vec(corner) - vec(a)).max() < 1e-3
    b1 = fit_contrastive(data[:100], batch_size=16, steps=200, seed=7)
    assert fit_contrastive(data[:100], batch_size=16, steps=200, seed=7) == b1


def test_contrastive_fit_needs_signal() -> None:
    all_relevant = QueryCandidates("q", ["a", "b"], np.eye(2, 3), {"a": 1, "b": 1})
    none_relevant = QueryCandidates("r", ["a", "b"], np.eye(2, 3), {"z": 1})
    with pytest.raises(ValueError, match="no query has both"):
        fit_contrastive([all_relevant, none_relevant])
    with pytest.raises(ValueError, match="tau"):
        fit_contrastive([all_relevant], tau=0)


# --- metric search ------------------------------------------------------------------------


def test_search_weights_recovers_planted_weights(data: list[QueryCandidates]) -> None:
    found = search_weights(data, "ndcg@10", step=0.05)
    assert np.abs(vec(found) - PLANTED).max() < 0.1, found
    best = mean_metric(data, found, "ndcg@10")
    coarse = search_weights(data, "ndcg@10", step=0.05, refine=False)
    assert best >= mean_metric(data, coarse, "ndcg@10")  # refinement never loses
    for w in simplex_grid(0.05):
        assert best >= mean_metric(data, w, "ndcg@10")


def test_tuned_weights_beat_single_channels(data: list[QueryCandidates]) -> None:
    train = data[:300]
    fresh = planted_candidates(n_queries=2000, seed=99)  # large, so the comparison is not noise
    for tuned in (fit_contrastive(train), search_weights(train, "ndcg@10", step=0.1)):
        for part in (train, fresh):
            value = mean_metric(part, tuned, "ndcg@10")
            for corner in CORNERS:
                assert value >= mean_metric(part, corner, "ndcg@10")


def test_search_weights_prefers_central_point_on_plateau() -> None:
    # every weighting ranks the relevant candidate first: all tie, the centroid wins
    c = QueryCandidates("q", ["a", "b"], np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]), {"a": 1})
    for refine in (False, True):
        w = search_weights([c], "mrr", step=1 / 3, refine=refine)
        assert vec(w) == pytest.approx([1 / 3, 1 / 3, 1 / 3])
    # best wherever interrogator <= 0.5: a point in the middle of that region, not a corner
    c = QueryCandidates("q", ["a", "b"], np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]), {"a": 1})
    w = search_weights([c], "mrr", step=0.1, refine=False)
    assert w.blip == w.clip and 0 < w.interrogator < 0.5


def test_mean_metric_skips_unjudged_queries() -> None:
    good = QueryCandidates("q", ["a", "b"], np.array([[1.0, 0, 0], [0, 1.0, 0]]), {"a": 1})
    unjudged = QueryCandidates("u", ["a"], np.zeros((1, 3)), {})
    assert mean_metric([good, unjudged], (1, 0, 0), "mrr") == 1.0
    assert mean_metric([good, unjudged], (0, 1, 0), "mrr") == 0.5
    assert math.isnan(mean_metric([unjudged], (0, 1, 0), "mrr"))
    with pytest.raises(ValueError, match="no query has a relevant product"):
        search_weights([unjudged])


def test_batched_ranking_agrees_with_per_query_ranking() -> None:
    rng = np.random.default_rng(5)
    cands = []
    for q in range(30):  # varying sizes, coarse scores (many ties), relevant outside the set
        n = int(rng.integers(1, 12))
        ids = [f"{q}-{i}" for i in rng.permutation(n)]
        scores = rng.integers(0, 3, size=(n, 3)) / 2
        rel = {pid: int(rng.integers(0, 3)) for pid in ids if rng.random() < 0.4}
        cands.append(QueryCandidates(f"q{q}", ids, scores, {**rel, "outside": 1}))
    metrics = ["p@3", "r@5", "map@4", "ndcg@3", "mrr", "mrr@2", "r-precision"]
    for w in [(1 / 3, 1 / 3, 1 / 3), *CORNERS, (0.5, 0.5, 0.0)]:
        expected = evaluate_candidates(cands, w, metrics=metrics).metrics
        for name in metrics:
            assert mean_metric(cands, w, name) == pytest.approx(expected[name], abs=1e-12)


def test_evaluate_candidates_counts_relevant_outside_the_candidates() -> None:
    c = QueryCandidates("q", ["a", "b"], np.array([[1.0, 0, 0], [0, 1.0, 0]]), {"a": 1, "z": 1})
    ev = evaluate_candidates([c], (1, 0, 0), ks=(2,))
    assert ev.metrics["r@2"] == 0.5
    assert ev.metrics == evaluate({"q": ["a", "b"]}, {"q": {"a": 1, "z": 1}}, ks=(2,)).metrics


# --- holdout ------------------------------------------------------------------------------


def test_split_holdout_is_disjoint_deterministic_and_order_free() -> None:
    ids = [f"q{i}" for i in range(100)]
    train, held = split_holdout(ids, 0.2, seed=1)
    assert len(held) == 20 and len(train) == 80
    assert not set(train) & set(held) and set(train) | set(held) == set(ids)
    assert train == [q for q in ids if q in set(train)]  # input order kept
    assert split_holdout(ids, 0.2, seed=1) == (train, held)
    rtrain, rheld = split_holdout(list(reversed(ids)), 0.2, seed=1)
    assert set(rheld) == set(held) and set(rtrain) == set(train)
    assert set(split_holdout(ids, 0.2, seed=2)[1]) != set(held)


def test_split_holdout_edges() -> None:
    assert split_holdout(["a", "b"], 0.0) == (["a", "b"], [])
    train, held = split_holdout(["a", "b", "c"], 0.01)
    assert len(held) == 1 and len(train) == 2  # at least one held out
    train, held = split_holdout(["a", "b"], 0.99)
    assert len(held) == 1 and len(train) == 1  # at least one kept for training
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="fraction"):
            split_holdout(["a", "b"], bad)
    with pytest.raises(ValueError, match="duplicate"):
        split_holdout(["a", "a"], 0.5)
    with pytest.raises(ValueError, match="at least 2"):
        split_holdout(["a"], 0.5)


# --- tune ---------------------------------------------------------------------------------


def test_tune_fits_on_train_queries_only(data: list[QueryCandidates]) -> None:
    seen: list[str] = []

    def spy(train: Sequence[QueryCandidates]) -> Weights:
        seen.extend(c.query_id for c in train)
        return Weights(blip=0.5, clip=0.5, interrogator=0)

    report = tune(data[:50], method=spy, holdout=0.3, seed=4)
    assert report.method == "spy"
    assert sorted(seen) == sorted(report.train_queries)
    assert not set(seen) & set(report.held_out_queries)
    assert len(report.held_out_queries) == 15
    assert report.weights == Weights(blip=0.5, clip=0.5, interrogator=0)


def test_tune_report(data: list[QueryCandidates]) -> None:
    start = Weights(blip=0.4, clip=0.4, interrogator=0.2)
    report = tune(data, method="contrastive", metric="map@10", start=start, ks=(1, 10))
    assert report.method == "contrastive" and report.metric == "map@10"
    assert report.start == start
    assert np.abs(vec(report.weights) - PLANTED).max() < 0.1
    assert [r.label for r in report.results] == ["start", "blip", "clip", "interrogator", "tuned"]
    assert report.results[1].weights == Weights(blip=1, clip=0, interrogator=0)
    tuned = report.results[-1]
    assert set(tuned.train) == set(tuned.held_out)
    assert {"p@1", "p@10", "ndcg@10", "map@10", "mrr", "r-precision"} <= set(tuned.train)
    for row in report.results[1:4]:
        assert tuned.held_out["map@10"] >= row.held_out["map@10"]
    assert len(report.train_queries) == 320 and len(report.held_out_queries) == 80
    assert report.skipped_train == [] and report.options["tau"] == 0.05
    assert TuningReport.model_validate_json(report.model_dump_json()) == report


def test_tune_grid_without_holdout_beats_every_channel_on_train(
    data: list[QueryCandidates],
) -> None:
    report = tune(data[:120], method="grid", metric="ndcg@5", holdout=0.0, step=0.1)
    assert report.held_out_queries == [] and all(r.held_out == {} for r in report.results)
    tuned = report.results[-1].train["ndcg@5"]
    assert all(tuned >= r.train["ndcg@5"] for r in report.results)


def test_tune_rejects_bad_input(data: list[QueryCandidates]) -> None:
    with pytest.raises(ValueError, match="unknown tuning method"):
        tune(data[:10], method="adam")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="duplicate query ids"):
        tune([data[0], data[0]])


def _blip_knows_clip_misleads(n_queries: int = 10) -> list[QueryCandidates]:
    """Candidates where blip ranks the relevant product first and clip ranks it last."""
    out = []
    for q in range(n_queries):
        ids = [f"q{q}-p{i}" for i in range(5)]
        scores = np.zeros((5, len(CHANNELS)))
        scores[:, 0] = [1.0, 0.5, 0.4, 0.3, 0.2]  # blip: the relevant p0 first
        scores[:, 1] = [0.0, 0.9, 0.8, 0.7, 0.6]  # clip: p0 last
        scores[:, 2] = [0.5, 0.5, 0.5, 0.5, 0.5]  # interrogator: no opinion (ties by id)
        out.append(QueryCandidates(f"q{q}", ids, scores, {ids[0]: 1}))
    return out


def test_worse_tuned_weights_are_named_with_what_beats_them():
    candidates = _blip_knows_clip_misleads()
    clip_only = tune(candidates, method=lambda train: Weights(blip=0, clip=1, interrogator=0))
    better = {r.label for r in clip_only.better_than_tuned()}
    assert clip_only.judged_on == "held_out"
    assert {"start", "blip"} <= better and "tuned" not in better and "clip" not in better
    blip_only = tune(candidates, method=lambda train: Weights(blip=1, clip=0, interrogator=0))
    assert blip_only.better_than_tuned() == []
    # nothing held out: judged on the train queries
    clip_weights = Weights(blip=0, clip=1, interrogator=0)
    no_holdout = tune(candidates, holdout=0.0, method=lambda train: clip_weights)
    assert no_holdout.judged_on == "train" and "blip" in {
        r.label for r in no_holdout.better_than_tuned()
    }


def test_a_candidate_with_several_photos_scores_its_best_photo():
    """Product b has two photos: the first wins on blip, the second on clip. Under any weights
    b scores its best photo, in rank, fused, best_row and the batched mean alike."""
    scores = {"blip": {"a": 0.5, "b": 0.9}, "clip": {"a": 0.5, "b": 0.0}}
    scores["interrogator"] = {"a": 0.0, "b": 0.0}
    rows = {"b": np.array([[0.9, 0.0, 0.0], [0.0, 0.8, 0.0]])}
    cands = QueryCandidates.from_channel_scores("q", scores, {"b": 1}, rows)
    blip, clip = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    assert cands.fused(blip).tolist() == [0.5, 0.9]
    assert cands.fused(clip).tolist() == [0.5, 0.8]  # its second photo, not the stored row
    assert cands.rank(clip) == ["b", "a"]
    assert cands.best_row(1, clip).tolist() == [0.0, 0.8, 0.0]
    assert mean_metric([cands], clip, "p@1") == 1.0
    without_photos = QueryCandidates.from_channel_scores("q", scores, {"b": 1})
    assert (
        without_photos.rank(clip) == ["a", "b"] and mean_metric([without_photos], clip, "p@1") == 0
    )
