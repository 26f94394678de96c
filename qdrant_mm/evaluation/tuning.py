"""Learn the fusion weights α, β, γ from judged candidate sets, without any further search.

Each query brings its candidates (product ids), their exact per-channel scores (columns in
:data:`~qdrant_mm.weights.CHANNELS` order: blip, clip, interrogator) and its relevance
judgments. A weighting ``w`` re-ranks the candidates by the fused score ``S @ w``; ties are
broken by product id (ascending) so every result is reproducible.

* :func:`fit_contrastive` minimises the contrastive (softmax) loss of the fused scores.
* :func:`search_weights` maximises a ranking metric over a simplex grid, then refines locally.
* :func:`tune` splits the queries into train / held-out, fits on train only and reports the
  metrics of the starting weights, of each channel alone and of the tuned weights.

Metrics computed here are over the candidate sets: a relevant product that is not a
candidate is never retrieved, but still counts in recall, nDCG's ideal DCG and R.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import BaseModel

from qdrant_mm.evaluation.metrics import (
    DEFAULT_KS,
    Evaluation,
    Metric,
    default_metrics,
    evaluate,
    parse_metric,
)
from qdrant_mm.weights import CHANNELS, Weights

Positives = Literal["mass", "mean"]
Fitter = Callable[[Sequence["QueryCandidates"]], Weights]


def _vector(weights: Weights | Sequence[float] | np.ndarray) -> np.ndarray:
    if isinstance(weights, Weights):
        return np.array([getattr(weights, ch) for ch in CHANNELS], dtype=np.float64)
    vec = np.asarray(weights, dtype=np.float64)
    if vec.shape != (len(CHANNELS),):
        raise ValueError(f"expected {len(CHANNELS)} weights, got shape {vec.shape}")
    return vec


def _weights(vec: Sequence[float] | np.ndarray) -> Weights:
    return Weights.from_mapping(dict(zip(CHANNELS, (float(v) for v in vec), strict=True)))


def _photo_rows(
    query_id: str, ids: Sequence[str], photo_rows: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Every photo row of the candidates with several photos, ``(rows, channels)``, and the
    index in ``ids`` of the candidate each row belongs to."""
    index = {pid: i for i, pid in enumerate(ids)}
    parts, owners = [], []
    for pid, value in photo_rows.items():
        if str(pid) not in index:
            continue
        rows = np.asarray(value, dtype=np.float64).reshape(-1, len(CHANNELS))
        parts.append(rows)
        owners.append(np.full(len(rows), index[str(pid)], dtype=np.int64))
    if not parts:
        return np.zeros((0, len(CHANNELS))), np.zeros(0, dtype=np.int64)
    rows = np.concatenate(parts)
    if not np.isfinite(rows).all():
        raise ValueError(f"query {query_id!r}: photo scores must be finite")
    return rows, np.concatenate(owners)


@dataclass(frozen=True, eq=False)
class QueryCandidates:
    """The candidate set of one query.

    ``scores[i, c]`` is the score of candidate ``ids[i]`` on channel ``CHANNELS[c]`` (finite);
    ``relevance`` maps product ids to grades (> 0 relevant), candidates or not.
    ``photo_rows`` (product id -> ``(photos, channels)``): the channel scores of each photo of
    candidates with several photos; their fused score is the best photo's (:meth:`fused`), and
    ``scores`` holds one of their photos' rows (learning uses it).
    """

    query_id: str
    ids: Sequence[str]
    scores: np.ndarray
    relevance: Mapping[str, float]
    photo_rows: Mapping[str, np.ndarray] = field(default_factory=dict)
    _tie: np.ndarray = field(init=False, repr=False)
    _positive: np.ndarray = field(init=False, repr=False)
    _rows: np.ndarray = field(init=False, repr=False)
    _owner: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        ids = tuple(str(i) for i in self.ids)
        scores = np.array(self.scores, dtype=np.float64)
        if scores.ndim != 2 or scores.shape != (len(ids), len(CHANNELS)):
            raise ValueError(
                f"query {self.query_id!r}: scores must have shape ({len(ids)}, {len(CHANNELS)}),"
                f" got {scores.shape}"
            )
        if not np.isfinite(scores).all():
            raise ValueError(f"query {self.query_id!r}: scores must be finite")
        if len(set(ids)) != len(ids):
            raise ValueError(f"query {self.query_id!r}: duplicate candidate ids")
        relevance = {str(k): v for k, v in self.relevance.items()}
        scores.setflags(write=False)
        tie = np.empty(len(ids), dtype=np.int64)
        tie[sorted(range(len(ids)), key=ids.__getitem__)] = np.arange(len(ids))
        positive = np.array([relevance.get(i, 0) > 0 for i in ids], dtype=bool)
        rows, owner = _photo_rows(self.query_id, ids, self.photo_rows)
        for name, value in (
            ("query_id", str(self.query_id)),
            ("ids", ids),
            ("scores", scores),
            ("relevance", relevance),
            ("_tie", tie),
            ("_positive", positive),
            ("_rows", rows),
            ("_owner", owner),
        ):
            object.__setattr__(self, name, value)

    @classmethod
    def from_channel_scores(
        cls,
        query_id: str,
        channel_scores: Mapping[str, Mapping[str, float]],
        relevance: Mapping[str, float],
        photo_rows: Mapping[str, np.ndarray] | None = None,
    ) -> QueryCandidates:
        """Build from ``{channel: {product_id: score}}``; every channel needs a score for every
        candidate (the union of the ids), in ids order of first appearance."""
        unknown = sorted(set(channel_scores) - set(CHANNELS))
        if unknown:
            raise ValueError(f"query {query_id!r}: unknown channel(s) {', '.join(unknown)}")
        ids = list(dict.fromkeys(str(i) for ch in CHANNELS for i in channel_scores.get(ch, {})))
        rows = []
        for ch in CHANNELS:
            got = {str(k): float(v) for k, v in channel_scores.get(ch, {}).items()}
            missing = [i for i in ids if i not in got]
            if missing:
                raise ValueError(
                    f"query {query_id!r}: channel {ch} has no score for {len(missing)}"
                    f" candidate(s), e.g. {missing[0]!r}"
                )
            rows.append([got[i] for i in ids])
        scores = np.array(rows).T.reshape(len(ids), len(CHANNELS))
        return cls(query_id, ids, scores, relevance, dict(photo_rows or {}))

    @property
    def positive(self) -> np.ndarray:
        """Boolean mask of the relevant candidates."""
        return self._positive

    @property
    def judged(self) -> bool:
        """Whether the query has a relevant product (candidate or not)."""
        return any(g > 0 for g in self.relevance.values())

    def fused(self, weights: Weights | Sequence[float] | np.ndarray) -> np.ndarray:
        """Fused scores ``scores @ w``; a candidate with several photos scores its best
        photo's."""
        w = _vector(weights)
        out = self.scores @ w
        if len(self._rows):
            np.maximum.at(out, self._owner, self._rows @ w)
        return out

    def best_photo(self, index: int, weights: Weights | Sequence[float] | np.ndarray) -> int:
        """Which photo (row) of candidate ``index`` scores best under ``weights``; 0 for a
        candidate with one."""
        rows = self._rows[self._owner == index]
        return int(np.argmax(rows @ _vector(weights))) if len(rows) else 0

    def best_row(self, index: int, weights: Weights | Sequence[float] | np.ndarray) -> np.ndarray:
        """The channel scores of candidate ``index`` under ``weights``: its best photo's."""
        rows = self._rows[self._owner == index]
        return rows[self.best_photo(index, weights)] if len(rows) else self.scores[index]

    def rank(self, weights: Weights | Sequence[float] | np.ndarray) -> list[str]:
        """Candidate ids by descending fused score, ties by ascending id."""
        order = np.lexsort((self._tie, -self.fused(weights)))
        return [self.ids[i] for i in order]


# --- contrastive fit ------------------------------------------------------------------------


def _pad(candidates: Sequence[QueryCandidates]) -> tuple[np.ndarray, ...]:
    """Stack candidate sets into (Q, N, 3) scores with (Q, N) valid and positive masks."""
    n = max(len(c.ids) for c in candidates)
    scores = np.zeros((len(candidates), n, len(CHANNELS)))
    valid = np.zeros((len(candidates), n), dtype=bool)
    positive = np.zeros((len(candidates), n), dtype=bool)
    for q, c in enumerate(candidates):
        scores[q, : len(c.ids)] = c.scores
        valid[q, : len(c.ids)] = True
        positive[q, : len(c.ids)] = c.positive
    return scores, valid, positive


def _usable(candidates: Iterable[QueryCandidates]) -> list[QueryCandidates]:
    """Queries with at least one relevant and one non-relevant candidate."""
    return [c for c in candidates if 0 < c.positive.sum() < len(c.ids)]


def _logsumexp(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise log-sum-exp and softmax of ``z`` (-inf entries excluded)."""
    zmax = z.max(axis=1, keepdims=True)
    e = np.exp(z - zmax)
    s = e.sum(axis=1, keepdims=True)
    return (np.log(s) + zmax)[:, 0], e / s


def _loss_and_grad(
    scores: np.ndarray,
    valid: np.ndarray,
    positive: np.ndarray,
    w: np.ndarray,
    tau: float,
    positives: Positives,
) -> tuple[float, np.ndarray]:
    """Mean contrastive loss over queries and its gradient with respect to ``w``."""
    z = np.where(valid, scores @ w / tau, -np.inf)
    lse_all, p = _logsumexp(z)
    if positives == "mass":
        lse_pos, target = _logsumexp(np.where(positive, z, -np.inf))
        losses = lse_all - lse_pos
    else:
        npos = positive.sum(axis=1, keepdims=True)
        target = positive / npos
        losses = lse_all - np.where(positive, z, 0.0).sum(axis=1) / npos[:, 0]
    dz = (p - target) / len(z)
    grad = np.einsum("qn,qnc->c", dz, scores) / tau
    return float(losses.mean()), grad


def _check_contrastive(tau: float, positives: str) -> None:
    if not (math.isfinite(tau) and tau > 0):
        raise ValueError(f"tau must be a finite number > 0, got {tau}")
    if positives not in ("mass", "mean"):
        raise ValueError(f"positives must be 'mass' or 'mean', got {positives!r}")


def contrastive_loss(
    candidates: Sequence[QueryCandidates],
    weights: Weights | Sequence[float] | np.ndarray,
    *,
    tau: float = 0.05,
    positives: Positives = "mean",
) -> float:
    """Mean contrastive loss of ``weights`` over the queries with a relevant and a
    non-relevant candidate (see ``docs/evaluation.md``)."""
    _check_contrastive(tau, positives)
    usable = _usable(candidates)
    if not usable:
        raise ValueError("no query has both a relevant and a non-relevant candidate")
    return _loss_and_grad(*_pad(usable), _vector(weights), tau, positives)[0]


def fit_contrastive(
    candidates: Sequence[QueryCandidates],
    tau: float = 0.05,
    init: Weights | None = None,
    steps: int = 500,
    lr: float = 0.05,
    seed: int = 0,
    *,
    positives: Positives = "mean",
    batch_size: int | None = None,
) -> Weights:
    """Minimise the contrastive loss over ``w = softmax(theta)`` with Adam (numpy).

    Per query: ``p = softmax(S @ w / tau)`` over its candidates; ``positives="mean"`` (the
    default) uses the mean of ``-log p`` over the relevant candidates, ``"mass"`` uses
    ``-log sum_{relevant} p`` (equal with one relevant candidate; with several, "mass" only
    asks for *some* relevant candidate on top and drifts towards the strongest channel). Queries
    whose candidates are all relevant or all non-relevant carry no signal and are left out.
    ``init`` (default uniform) is the start; full-batch unless ``batch_size`` is given, in
    which case batches are drawn with ``seed``. Deterministic.
    """
    _check_contrastive(tau, positives)
    if steps < 0 or not (lr > 0):
        raise ValueError("steps must be >= 0 and lr > 0")
    usable = _usable(candidates)
    if not usable:
        raise ValueError("no query has both a relevant and a non-relevant candidate")
    scores, valid, positive = _pad(usable)
    start = _vector(init) if init is not None else np.full(len(CHANNELS), 1 / len(CHANNELS))
    theta = np.log(np.maximum(start, 1e-3))
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    rng = np.random.default_rng(seed)
    b1, b2, eps = 0.9, 0.999, 1e-8
    for t in range(1, steps + 1):
        if batch_size is None or batch_size >= len(usable):
            batch = slice(None)
        else:
            batch = np.sort(rng.choice(len(usable), size=batch_size, replace=False))
        w = np.exp(theta - theta.max())
        w /= w.sum()
        _, grad_w = _loss_and_grad(scores[batch], valid[batch], positive[batch], w, tau, positives)
        grad = w * (grad_w - w @ grad_w)  # chain rule through the softmax
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad**2
        theta -= lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    w = np.exp(theta - theta.max())
    return _weights(w / w.sum())


# --- metric search --------------------------------------------------------------------------


#: The finest simplex grid: steps of 0.01 (5,151 weightings, each ranking every query). A
#: finer grid would cost time and memory without telling apart weightings that rank alike.
MIN_GRID_STEP = 0.01


def _divisions(step: float) -> int:
    if not (isinstance(step, (int, float)) and 0 < step <= 1):
        raise ValueError(f"grid step must be in (0, 1], got {step!r}")
    if step < MIN_GRID_STEP - 1e-12:
        raise ValueError(f"grid step must be at least {MIN_GRID_STEP}, got {step:g}")
    m = round(1 / step)
    if abs(m * step - 1) > 1e-9:
        raise ValueError(f"grid step must divide 1 (e.g. 0.05, 0.1, 0.25), got {step}")
    return m


def _lattice_point(i: int, j: int, m: int) -> Weights:
    """``(i/m, j/m, (m-i-j)/m)``; the last adjusted, if needed, so that the sum is exactly 1."""
    a, b, c = i / m, j / m, (m - i - j) / m
    if a + b + c != 1.0:
        c = 1.0 - (a + b)
    return Weights(blip=a, clip=b, interrogator=c)


def simplex_grid(step: float) -> list[Weights]:
    """All weightings whose values are multiples of ``step`` and sum to 1, corners included.

    ``step`` must divide 1 (``1/step`` an integer): 0.05 gives 231 weightings.
    """
    m = _divisions(step)
    return [_lattice_point(i, j, m) for i in range(m + 1) for j in range(m + 1 - i)]


class _Stack:
    """Judged candidate sets padded into arrays, to rank them all at once."""

    def __init__(self, candidates: Iterable[QueryCandidates]) -> None:
        self.candidates = [c for c in candidates if c.judged]
        if not self.candidates:
            raise ValueError("no query has a relevant product")
        self.scores, self.valid, _ = _pad(self.candidates)
        n = self.valid.shape[1]
        self.tie = np.full(self.valid.shape, n, dtype=np.int64)
        for q, c in enumerate(self.candidates):
            self.tie[q, : len(c.ids)] = c._tie
        self.with_photos = [q for q, c in enumerate(self.candidates) if len(c._rows)]

    def mean(self, weights: np.ndarray, metric: Metric) -> float:
        """Mean metric with the candidates ranked as :meth:`QueryCandidates.rank` does."""
        fused = np.where(self.valid, self.scores @ weights, -np.inf)
        for q in self.with_photos:  # candidates with several photos score their best one
            c = self.candidates[q]
            fused[q, : len(c.ids)] = c.fused(weights)
        order = np.lexsort((self.tie, -fused), axis=-1)
        values = []
        for row, c in zip(order, self.candidates, strict=True):
            depth = metric.depth(c.relevance)
            top = row[: len(c.ids) if depth is None else min(depth, len(c.ids))]
            values.append(metric([c.ids[i] for i in top], c.relevance))
        return math.fsum(values) / len(values)


def mean_metric(
    candidates: Sequence[QueryCandidates],
    weights: Weights | Sequence[float] | np.ndarray,
    metric: str | Metric = "ndcg@10",
) -> float:
    """Mean of ``metric`` over the queries with a relevant product, candidates re-ranked by
    ``weights`` (NaN when there is none)."""
    if not any(c.judged for c in candidates):
        return math.nan
    return _Stack(candidates).mean(_vector(weights), parse_metric(metric))


def _pick(points: list[tuple[int, int]], values: list[float]) -> tuple[int, int]:
    """Best point; among ties, the one closest to the ties' centroid (then first listed)."""
    best = max(values)
    tied = [p for p, v in zip(points, values, strict=True) if v >= best - 1e-12]
    ci = sum(p[0] for p in tied) / len(tied)
    cj = sum(p[1] for p in tied) / len(tied)

    def dist(p: tuple[int, int]) -> float:
        return (p[0] - ci) ** 2 + (p[1] - cj) ** 2 + (p[0] + p[1] - ci - cj) ** 2

    return min(tied, key=dist)


def search_weights(
    candidates: Sequence[QueryCandidates],
    metric: str | Metric = "ndcg@10",
    step: float = 0.05,
    *,
    refine: bool = True,
) -> Weights:
    """Weighting of the simplex grid of ``step`` that maximises the mean ``metric``.

    With ``refine``, the grid of ``step/4`` within one ``step`` of the best point is searched
    next (it contains that point, so the metric never drops). Among equal metric values the
    point closest to the centroid of the tied points wins (a deterministic, central choice
    on the plateaus that ranking metrics have).
    """
    m = parse_metric(metric)
    div = _divisions(step)
    stack = _Stack(candidates)

    def score(points: list[tuple[int, int]], d: int) -> list[float]:
        return [stack.mean(np.array([i / d, j / d, (d - i - j) / d]), m) for i, j in points]

    points = [(i, j) for i in range(div + 1) for j in range(div + 1 - i)]
    i0, j0 = _pick(points, score(points, div))
    if not refine:
        return _lattice_point(i0, j0, div)
    fine = 4 * div
    ci, cj = 4 * i0, 4 * j0
    near = [
        (i, j)
        for i in range(max(0, ci - 4), min(fine, ci + 4) + 1)
        for j in range(max(0, cj - 4), min(fine - i, cj + 4) + 1)
        if abs((fine - i - j) - (fine - ci - cj)) <= 4
    ]
    i1, j1 = _pick(near, score(near, fine))
    return _lattice_point(i1, j1, fine)


# --- holdout and report ---------------------------------------------------------------------


def split_holdout(
    query_ids: Sequence[str], fraction: float, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Split query ids into ``(train, held_out)``, disjoint, each in input order.

    ``round(fraction * n)`` ids are held out (at least 1 and at most ``n - 1`` when
    ``fraction > 0``): those with the smallest SHA-256 of ``"<seed>:<id>"``. The split depends
    only on the set of ids and the seed, not on their order or on numpy.
    """
    ids = [str(q) for q in query_ids]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate query ids")
    if not (0 <= fraction < 1):
        raise ValueError(f"held-out fraction must be in [0, 1), got {fraction}")
    if fraction == 0:
        return ids, []
    if len(ids) < 2:
        raise ValueError("need at least 2 queries to hold some out")
    n_hold = min(max(1, round(fraction * len(ids))), len(ids) - 1)

    def key(q: str) -> tuple[bytes, str]:
        return hashlib.sha256(f"{seed}:{q}".encode()).digest(), q

    held = set(sorted(ids, key=key)[:n_hold])
    return [q for q in ids if q not in held], [q for q in ids if q in held]


def evaluate_candidates(
    candidates: Sequence[QueryCandidates],
    weights: Weights | Sequence[float] | np.ndarray,
    ks: Iterable[int] = DEFAULT_KS,
    metrics: Iterable[str | Metric] | None = None,
) -> Evaluation:
    """:func:`~qdrant_mm.evaluation.metrics.evaluate` of the candidates re-ranked by
    ``weights``."""
    w = _vector(weights)
    rankings = {c.query_id: c.rank(w) for c in candidates}
    return evaluate(rankings, {c.query_id: c.relevance for c in candidates}, ks, metrics)


class WeightsResult(BaseModel):
    """Metrics of one weighting on the train and held-out queries."""

    label: str
    weights: Weights
    train: dict[str, float]
    held_out: dict[str, float]


class TuningReport(BaseModel):
    """Outcome of :func:`tune`; ``results`` rows: start, blip, clip, interrogator, tuned."""

    method: str
    metric: str
    weights: Weights
    start: Weights
    train_queries: list[str]
    held_out_queries: list[str]
    skipped_train: list[str]
    skipped_held_out: list[str]
    options: dict[str, float | int | str | None]
    results: list[WeightsResult]

    @property
    def judged_on(self) -> str:
        """``"held_out"`` when queries were held out, else ``"train"`` (the only split)."""
        return "held_out" if self.held_out_queries else "train"

    def result(self, label: str) -> WeightsResult:
        return next(r for r in self.results if r.label == label)

    def better_than_tuned(self) -> list[WeightsResult]:
        """The other rows (the start point, each model alone) whose :attr:`metric` beats the
        tuned weights' on the held-out split (on the train split when nothing was held out):
        learned weights worse than one of these should not replace them."""
        split = self.judged_on
        tuned = getattr(self.result("tuned"), split).get(self.metric)
        if tuned is None:
            return []
        return [
            r
            for r in self.results
            if r.label != "tuned" and getattr(r, split).get(self.metric, float("-inf")) > tuned
        ]


def tune(
    candidates: Sequence[QueryCandidates],
    *,
    method: Literal["contrastive", "grid"] | Fitter = "contrastive",
    metric: str = "ndcg@10",
    holdout: float = 0.2,
    seed: int = 0,
    start: Weights | None = None,
    ks: Iterable[int] = DEFAULT_KS,
    tau: float = 0.05,
    steps: int = 500,
    lr: float = 0.05,
    positives: Positives = "mean",
    step: float = 0.05,
) -> TuningReport:
    """Hold out ``holdout`` of the queries, learn weights on the rest and report metrics.

    ``method``: ``"contrastive"`` (:func:`fit_contrastive` with ``tau``, ``steps``, ``lr``,
    ``positives``, starting at ``start``), ``"grid"`` (:func:`search_weights` of ``metric``
    with ``step``) or any callable taking the train candidates and returning
    :class:`Weights`. Only the train candidates are given to the fit. ``start`` defaults to
    uniform weights.
    """
    objective = parse_metric(metric)
    ids = [c.query_id for c in candidates]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate query ids among the candidates")
    train_ids, held_ids = split_holdout(ids, holdout, seed)
    held_set = set(held_ids)
    train = [c for c in candidates if c.query_id not in held_set]
    held = [c for c in candidates if c.query_id in held_set]
    if start is None:
        start = _weights([1.0] * len(CHANNELS))
    if method == "contrastive":
        tuned = fit_contrastive(
            train, tau=tau, init=start, steps=steps, lr=lr, seed=seed, positives=positives
        )
        name = "contrastive"
    elif method == "grid":
        tuned = search_weights(train, objective, step)
        name = "grid"
    elif callable(method):
        tuned = method(train)
        name = getattr(method, "__name__", type(method).__name__)
    else:
        raise ValueError(f"unknown tuning method {method!r}; use 'contrastive' or 'grid'")
    metrics = [*map(str, default_metrics(ks)), str(objective)]
    rows = [("start", start)]
    rows += [(ch, _weights([float(ch == c) for c in CHANNELS])) for ch in CHANNELS]
    rows.append(("tuned", tuned))
    results: list[WeightsResult] = []
    ev_train = ev_held = None
    for label, w in rows:
        ev_train = evaluate_candidates(train, w, metrics=metrics)
        ev_held = evaluate_candidates(held, w, metrics=metrics) if held else None
        results.append(
            WeightsResult(
                label=label,
                weights=w,
                train=ev_train.metrics,
                held_out=ev_held.metrics if ev_held else {},
            )
        )
    assert ev_train is not None
    return TuningReport(
        method=name,
        metric=str(objective),
        weights=tuned,
        start=start,
        train_queries=train_ids,
        held_out_queries=held_ids,
        skipped_train=ev_train.skipped,
        skipped_held_out=ev_held.skipped if ev_held else [],
        options={
            "holdout": holdout,
            "seed": seed,
            "tau": tau,
            "steps": steps,
            "lr": lr,
            "positives": positives,
            "step": step,
        },
        results=results,
    )
