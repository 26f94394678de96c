"""Exact ranking metrics over a ranked list of product ids and graded relevance judgments.

Conventions (the formulas are in ``docs/evaluation.md``):

* A *ranking* is a sequence of product ids, best first. It is taken exactly as given: the
  search breaks score ties deterministically (by point id), so the list order is the ranking.
  A repeated id counts only at its first position.
* A *relevance* mapping is ``{product_id: grade}``; a product is relevant when its grade is
  ``> 0``. Products absent from the mapping have grade 0. ``R`` = number of relevant products.
* ``P@K`` divides by ``K`` even when the ranking is shorter than ``K``.
* ``AP@K`` is normalised by ``min(K, R)`` (so a perfect ranking scores 1); ``mAP@K`` is its
  mean over queries.
* ``nDCG@K`` uses exponential gains ``2**g - 1`` and the ideal DCG of the *judgments* (the
  ``K`` highest grades), not of the retrieved list.
* ``MRR`` is the reciprocal rank of the first relevant product (0 if none), optionally cut
  at ``K`` (``mrr@10``).
* ``R-precision`` is the precision at rank ``R``.

Single-query functions return 0.0 when ``R = 0``; :func:`evaluate` skips such queries instead
(and reports them), so they never pull an average down.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel

from qdrant_mm.errors import ConfigError

Relevance = Mapping[str, float]
DEFAULT_KS: tuple[int, ...] = (1, 5, 10)


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"K must be an integer >= 1, got {k!r}")


def _grades(ranking: Sequence[str], relevance: Relevance, k: int | None = None) -> list[float]:
    """Grades along the ranking (first occurrence of each id), at most ``k`` of them."""
    seen: set[str] = set()
    out: list[float] = []
    for pid in ranking:
        if k is not None and len(out) >= k:
            break
        if pid in seen:
            continue
        seen.add(pid)
        out.append(relevance.get(pid, 0))
    return out


def n_relevant(relevance: Relevance) -> int:
    """Number of products with a grade > 0."""
    return sum(1 for g in relevance.values() if g > 0)


def precision_at_k(ranking: Sequence[str], relevance: Relevance, k: int) -> float:
    """``P@K = |relevant in top K| / K``."""
    _check_k(k)
    return sum(1 for g in _grades(ranking, relevance, k) if g > 0) / k


def recall_at_k(ranking: Sequence[str], relevance: Relevance, k: int) -> float:
    """``R@K = |relevant in top K| / R`` (0 when ``R = 0``)."""
    _check_k(k)
    r = n_relevant(relevance)
    if r == 0:
        return 0.0
    return sum(1 for g in _grades(ranking, relevance, k) if g > 0) / r


def average_precision_at_k(ranking: Sequence[str], relevance: Relevance, k: int) -> float:
    """``AP@K = sum_{i<=K, rel_i} P@i / min(K, R)`` (0 when ``R = 0``)."""
    _check_k(k)
    r = n_relevant(relevance)
    if r == 0:
        return 0.0
    hits, total = 0, 0.0
    for i, g in enumerate(_grades(ranking, relevance, k), start=1):
        if g > 0:
            hits += 1
            total += hits / i
    return total / min(k, r)


def _dcg(grades: Iterable[float]) -> float:
    return math.fsum(
        (2.0**g - 1.0) / math.log2(i + 1) for i, g in enumerate(grades, start=1) if g > 0
    )


def ndcg_at_k(ranking: Sequence[str], relevance: Relevance, k: int) -> float:
    """``nDCG@K = DCG@K / IDCG@K`` with gains ``2**g - 1`` and discount ``log2(i + 1)``.

    ``IDCG@K`` is the DCG of the ``K`` highest grades in the judgments (0 when ``R = 0``).
    """
    _check_k(k)
    ideal = _dcg(sorted((g for g in relevance.values() if g > 0), reverse=True)[:k])
    if ideal <= 0:
        return 0.0
    return _dcg(_grades(ranking, relevance, k)) / ideal


def reciprocal_rank(ranking: Sequence[str], relevance: Relevance, k: int | None = None) -> float:
    """``1 / rank`` of the first relevant product within the top ``k`` (all if None), else 0."""
    if k is not None:
        _check_k(k)
    for i, g in enumerate(_grades(ranking, relevance, k), start=1):
        if g > 0:
            return 1.0 / i
    return 0.0


def r_precision(ranking: Sequence[str], relevance: Relevance) -> float:
    """``|relevant in top R| / R`` with ``R`` the number of relevant products (0 if ``R = 0``)."""
    r = n_relevant(relevance)
    if r == 0:
        return 0.0
    return sum(1 for g in _grades(ranking, relevance, r) if g > 0) / r


_AT_K: dict[str, Callable[[Sequence[str], Relevance, int], float]] = {
    "p": precision_at_k,
    "r": recall_at_k,
    "map": average_precision_at_k,
    "ndcg": ndcg_at_k,
}
_ALIASES = {
    "p": "p",
    "precision": "p",
    "r": "r",
    "recall": "r",
    "map": "map",
    "ap": "map",
    "ndcg": "ndcg",
    "mrr": "mrr",
    "rr": "mrr",
    "r-precision": "r-precision",
    "r_precision": "r-precision",
    "rprec": "r-precision",
}


@dataclass(frozen=True)
class Metric:
    """A metric with its cut-off; ``str(metric)`` is its canonical name (``ndcg@10``)."""

    name: str
    k: int | None = None

    def __str__(self) -> str:
        return self.name if self.k is None else f"{self.name}@{self.k}"

    def __post_init__(self) -> None:
        if self.name not in _AT_K and self.name not in ("mrr", "r-precision"):
            raise ValueError(f"unknown metric name {self.name!r}")
        if self.k is not None:
            _check_k(self.k)
        if (self.name in _AT_K and self.k is None) or (self.name == "r-precision" and self.k):
            raise ValueError(f"bad cut-off {self.k!r} for metric {self.name!r}")

    def depth(self, relevance: Relevance) -> int | None:
        """How many leading ranks the metric reads (None: the whole ranking)."""
        return n_relevant(relevance) if self.name == "r-precision" else self.k

    def __call__(self, ranking: Sequence[str], relevance: Relevance) -> float:
        """The metric of one query."""
        if self.name == "mrr":
            return reciprocal_rank(ranking, relevance, self.k)
        if self.name == "r-precision":
            return r_precision(ranking, relevance)
        assert self.k is not None
        return _AT_K[self.name](ranking, relevance, self.k)


def parse_metric(text: str | Metric) -> Metric:
    """Parse ``"p@5"``, ``"recall@10"``, ``"map@10"``, ``"ndcg@10"``, ``"mrr"``, ``"mrr@10"``
    or ``"r-precision"`` (case-insensitive). Raises :class:`ConfigError` on a bad name."""
    if isinstance(text, Metric):
        return text
    raw = str(text).strip().lower()
    base, sep, kpart = raw.partition("@")
    name = _ALIASES.get(base.strip())
    known = "p@K, r@K, map@K, ndcg@K, mrr, mrr@K, r-precision"
    if name is None:
        raise ConfigError(f"unknown metric {text!r}; metrics are {known}")
    if not sep:
        if name in _AT_K:
            raise ConfigError(f"metric {text!r} needs a cut-off, e.g. {name}@10")
        return Metric(name)
    if name == "r-precision":
        raise ConfigError(f"metric {text!r}: r-precision takes no cut-off (it cuts at R)")
    kpart = kpart.strip()
    if not (kpart.isascii() and kpart.isdigit()) or int(kpart) < 1:
        raise ConfigError(f"metric {text!r}: the cut-off must be an integer >= 1")
    return Metric(name, int(kpart))


def default_metrics(ks: Iterable[int] = DEFAULT_KS) -> list[Metric]:
    """``p@K, r@K, map@K, ndcg@K`` for each K, then ``mrr`` and ``r-precision``."""
    ks = list(dict.fromkeys(ks))
    for k in ks:
        _check_k(k)
    out = [Metric(name, k) for name in ("p", "r", "map", "ndcg") for k in ks]
    return [*out, Metric("mrr"), Metric("r-precision")]


class Evaluation(BaseModel):
    """Metrics averaged over the evaluated queries, with per-query values and counts.

    ``metrics`` values are NaN when no query could be evaluated.
    """

    metrics: dict[str, float]
    per_query: dict[str, dict[str, float]]
    n_queries: int
    skipped: list[str]
    """Queries whose judgments have no relevant product (not averaged)."""
    missing: list[str]
    """Judged queries with no ranking given (evaluated as an empty ranking)."""


def evaluate(
    rankings: Mapping[str, Sequence[str]],
    qrels: Mapping[str, Relevance],
    ks: Iterable[int] = DEFAULT_KS,
    metrics: Iterable[str | Metric] | None = None,
) -> Evaluation:
    """Evaluate the rankings of every query in ``qrels``.

    ``metrics`` defaults to :func:`default_metrics` of ``ks``. Queries without a relevant
    product are skipped and listed in ``skipped``; a judged query missing from ``rankings``
    counts as an empty ranking. Rankings of unjudged queries are ignored. Ids are compared as
    strings.
    """
    chosen = default_metrics(ks) if metrics is None else [parse_metric(m) for m in metrics]
    chosen = list({str(m): m for m in chosen}.values())
    per_query: dict[str, dict[str, float]] = {}
    skipped: list[str] = []
    missing: list[str] = []
    str_rankings = {str(q): r for q, r in rankings.items()}
    for qid, rel in qrels.items():
        qid = str(qid)
        relevance = {str(pid): g for pid, g in rel.items()}
        if n_relevant(relevance) == 0:
            skipped.append(qid)
            continue
        if qid not in str_rankings:
            missing.append(qid)
        ranking = [str(pid) for pid in str_rankings.get(qid, ())]
        per_query[qid] = {str(m): m(ranking, relevance) for m in chosen}
    n = len(per_query)
    averages = {
        str(m): (math.fsum(v[str(m)] for v in per_query.values()) / n if n else math.nan)
        for m in chosen
    }
    return Evaluation(
        metrics=averages, per_query=per_query, n_queries=n, skipped=skipped, missing=missing
    )


def evaluate_rankings(
    rankings: Mapping[str, Sequence[str]],
    qrels: Mapping[str, Relevance],
    ks: Iterable[int] = DEFAULT_KS,
) -> dict[str, float]:
    """Mean metrics over queries, keyed ``p@K, r@K, map@K, ndcg@K, mrr, r-precision``.

    Same rules as :func:`evaluate`, which also returns the counts and per-query values.
    """
    return evaluate(rankings, qrels, ks).metrics
