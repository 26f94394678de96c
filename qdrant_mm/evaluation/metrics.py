"""Exact ranking metrics over a ranked list of product ids and graded relevance judgments.

Two sets of definitions (``docs/evaluation.md`` has the formulas side by side):

* ``"qdrant-mm"`` (the default): ``AP@K`` is normalised by ``min(K, R)`` (a perfect ranking
  scores 1), ``nDCG@K`` uses exponential gains ``2**g - 1``, a ranking is taken exactly as given
  (the search breaks score ties deterministically, by point id) and :func:`evaluate` leaves
  queries without a relevant product out of the means (and reports them).
* ``"trec"``: what trec_eval computes (``map_cut``, ``ndcg_cut``, ...): ``AP@K`` divided by
  ``R``, linear gains ``g``, queries without a relevant product count as 0 in the means, and
  scored rankings are ordered as trec_eval orders a run: by score (compared in single
  precision, as trec_eval stores it) descending, ties by product id descending.

Common to both:

* A *ranking* is a sequence of product ids, best first, or a mapping ``{product_id: score}``
  (a scored run) that :func:`ranked_ids` orders. A repeated id counts only at its first
  position.
* A *relevance* mapping is ``{product_id: grade}``; a product is relevant when its grade is
  ``> 0``. Products absent from the mapping have grade 0. ``R`` = number of relevant products.
* ``P@K`` divides by ``K`` even when the ranking is shorter than ``K``.
* ``nDCG@K`` uses the ideal DCG of the *judgments* (the ``K`` highest grades), not of the
  retrieved list.
* ``MRR`` is the reciprocal rank of the first relevant product (0 if none), optionally cut
  at ``K`` (``mrr@10``).
* ``R-precision`` is the precision at rank ``R``.
* Single-query functions return 0.0 when ``R = 0``; a judged query without a ranking is
  scored as an empty ranking.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from pydantic import BaseModel

from qdrant_mm.errors import ConfigError

Relevance = Mapping[str, float]
Ranking = Sequence[str] | Mapping[str, float]
Definitions = Literal["qdrant-mm", "trec"]
DEFINITIONS: tuple[str, ...] = get_args(Definitions)
DEFAULT_DEFINITIONS: Definitions = "qdrant-mm"
DEFAULT_KS: tuple[int, ...] = (1, 5, 10)


def check_definitions(value: str) -> Definitions:
    """``value`` if it names a set of definitions, else :class:`ConfigError`."""
    if value not in DEFINITIONS:
        raise ConfigError(
            f"unknown metric definitions {value!r}; choose {' or '.join(DEFINITIONS)}"
        )
    return value  # type: ignore[return-value]


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"K must be an integer >= 1, got {k!r}")


def trec_score(score: float) -> float:
    """``score`` as trec_eval compares it: rounded to single precision (it stores a C float)."""
    return float(np.float32(score))


def ranked_ids(ranking: Ranking, definitions: Definitions = DEFAULT_DEFINITIONS) -> list[str]:
    """Product ids (as strings) best first.

    A sequence is taken as given. A mapping ``{id: score}`` is sorted by score, descending;
    ties keep the mapping's order with ``"qdrant-mm"`` definitions, and with ``"trec"`` they
    are ordered as trec_eval orders a run: scores compared in single precision, then product
    id descending (byte order of the UTF-8 ids, which is code-point order).
    """
    if not isinstance(ranking, Mapping):
        return [str(pid) for pid in ranking]
    if check_definitions(definitions) == "trec":
        items = [(trec_score(score), str(pid)) for pid, score in ranking.items()]
        return [pid for _, pid in sorted(items, reverse=True)]
    items = [(str(pid), float(score)) for pid, score in ranking.items()]
    return [pid for pid, _ in sorted(items, key=lambda item: -item[1])]


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
    """``P@K = |relevant in top K| / K`` (the same in both definitions)."""
    _check_k(k)
    return sum(1 for g in _grades(ranking, relevance, k) if g > 0) / k


def recall_at_k(ranking: Sequence[str], relevance: Relevance, k: int) -> float:
    """``R@K = |relevant in top K| / R`` (0 when ``R = 0``; the same in both definitions)."""
    _check_k(k)
    r = n_relevant(relevance)
    if r == 0:
        return 0.0
    return sum(1 for g in _grades(ranking, relevance, k) if g > 0) / r


def average_precision_at_k(
    ranking: Sequence[str],
    relevance: Relevance,
    k: int,
    *,
    definitions: Definitions = DEFAULT_DEFINITIONS,
) -> float:
    """``AP@K = sum_{i<=K, rel_i} P@i / N`` (0 when ``R = 0``).

    ``N = min(K, R)`` with ``"qdrant-mm"`` definitions, ``N = R`` with ``"trec"`` (trec_eval's
    ``map_cut``).
    """
    _check_k(k)
    r = n_relevant(relevance)
    if r == 0:
        return 0.0
    hits, total = 0, 0.0
    for i, g in enumerate(_grades(ranking, relevance, k), start=1):
        if g > 0:
            hits += 1
            total += hits / i
    return total / (r if check_definitions(definitions) == "trec" else min(k, r))


def _dcg(grades: Iterable[float], linear: bool) -> float:
    return math.fsum(
        (g if linear else 2.0**g - 1.0) / math.log2(i + 1)
        for i, g in enumerate(grades, start=1)
        if g > 0
    )


def ndcg_at_k(
    ranking: Sequence[str],
    relevance: Relevance,
    k: int,
    *,
    definitions: Definitions = DEFAULT_DEFINITIONS,
) -> float:
    """``nDCG@K = DCG@K / IDCG@K`` with discount ``log2(i + 1)``.

    Gains are ``2**g - 1`` with ``"qdrant-mm"`` definitions and ``g`` with ``"trec"``
    (trec_eval's ``ndcg_cut``). ``IDCG@K`` is the DCG of the ``K`` highest grades in the
    judgments (0 when ``R = 0``).
    """
    _check_k(k)
    linear = check_definitions(definitions) == "trec"
    ideal = _dcg(sorted((g for g in relevance.values() if g > 0), reverse=True)[:k], linear)
    if ideal <= 0:
        return 0.0
    return _dcg(_grades(ranking, relevance, k), linear) / ideal


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


_AT_K: dict[str, Callable[..., float]] = {
    "p": precision_at_k,
    "r": recall_at_k,
    "map": average_precision_at_k,
    "ndcg": ndcg_at_k,
}
_BY_DEFINITIONS = ("map", "ndcg")
#: trec_eval's measure names (``name_K`` for a cut-off K); ``mrr@K`` has none.
_TREC_NAMES = {
    "p": "P",
    "r": "recall",
    "map": "map_cut",
    "ndcg": "ndcg_cut",
    "mrr": "recip_rank",
    "r-precision": "Rprec",
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
    """A metric with its cut-off and definitions; ``str(metric)`` is its canonical name
    (``ndcg@10``), the same under both definitions."""

    name: str
    k: int | None = None
    definitions: Definitions = DEFAULT_DEFINITIONS

    def __str__(self) -> str:
        return self.name if self.k is None else f"{self.name}@{self.k}"

    def __post_init__(self) -> None:
        if self.name not in _AT_K and self.name not in ("mrr", "r-precision"):
            raise ValueError(f"unknown metric name {self.name!r}")
        if self.k is not None:
            _check_k(self.k)
        if (self.name in _AT_K and self.k is None) or (self.name == "r-precision" and self.k):
            raise ValueError(f"bad cut-off {self.k!r} for metric {self.name!r}")
        check_definitions(self.definitions)

    @property
    def trec_name(self) -> str | None:
        """trec_eval's name of this measure (``ndcg_cut_10``), None for ``mrr@K``.

        Only ``"trec"`` definitions compute what trec_eval computes under that name.
        """
        base = _TREC_NAMES[self.name]
        if self.name in _AT_K:
            return f"{base}_{self.k}"
        return base if self.k is None else None

    def depth(self, relevance: Relevance) -> int | None:
        """How many leading ranks the metric reads (None: the whole ranking)."""
        return n_relevant(relevance) if self.name == "r-precision" else self.k

    def __call__(self, ranking: Sequence[str], relevance: Relevance) -> float:
        """The metric of one query (``ranking`` best first, see :func:`ranked_ids`)."""
        if self.name == "mrr":
            return reciprocal_rank(ranking, relevance, self.k)
        if self.name == "r-precision":
            return r_precision(ranking, relevance)
        assert self.k is not None
        if self.name in _BY_DEFINITIONS:
            return _AT_K[self.name](ranking, relevance, self.k, definitions=self.definitions)
        return _AT_K[self.name](ranking, relevance, self.k)


def parse_metric(text: str | Metric, definitions: Definitions | None = None) -> Metric:
    """Parse ``"p@5"``, ``"recall@10"``, ``"map@10"``, ``"ndcg@10"``, ``"mrr"``, ``"mrr@10"``
    or ``"r-precision"`` (case-insensitive). Raises :class:`ConfigError` on a bad name.

    ``definitions`` (default ``"qdrant-mm"``) is given to the metric; a :class:`Metric` is
    returned as it is unless ``definitions`` asks for others.
    """
    if isinstance(text, Metric):
        if definitions is None or text.definitions == definitions:
            return text
        return dataclasses.replace(text, definitions=check_definitions(definitions))
    definitions = check_definitions(definitions or DEFAULT_DEFINITIONS)
    raw = str(text).strip().lower()
    base, sep, kpart = raw.partition("@")
    name = _ALIASES.get(base.strip())
    known = "p@K, r@K, map@K, ndcg@K, mrr, mrr@K, r-precision"
    if name is None:
        raise ConfigError(f"unknown metric {text!r}; metrics are {known}")
    if not sep:
        if name in _AT_K:
            raise ConfigError(f"metric {text!r} needs a cut-off, e.g. {name}@10")
        return Metric(name, definitions=definitions)
    if name == "r-precision":
        raise ConfigError(f"metric {text!r}: r-precision takes no cut-off (it cuts at R)")
    kpart = kpart.strip()
    if not (kpart.isascii() and kpart.isdigit()) or len(kpart) > 9 or int(kpart) < 1:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise ConfigError(f"metric {shown!r}: the cut-off must be an integer from 1 to 999999999")
    return Metric(name, int(kpart), definitions)


def default_metrics(
    ks: Iterable[int] = DEFAULT_KS, definitions: Definitions = DEFAULT_DEFINITIONS
) -> list[Metric]:
    """``p@K, r@K, map@K, ndcg@K`` for each K, then ``mrr`` and ``r-precision``."""
    definitions = check_definitions(definitions)
    ks = list(dict.fromkeys(ks))
    for k in ks:
        _check_k(k)
    out = [Metric(name, k, definitions) for name in ("p", "r", "map", "ndcg") for k in ks]
    return [*out, Metric("mrr", definitions=definitions), Metric("r-precision", None, definitions)]


class Evaluation(BaseModel):
    """Metrics averaged over the evaluated queries, with per-query values and counts.

    ``metrics`` values are NaN when no query could be evaluated.
    """

    definitions: Definitions = DEFAULT_DEFINITIONS
    """Which definitions the metrics follow: ``"qdrant-mm"`` or ``"trec"`` (trec_eval's)."""
    metrics: dict[str, float]
    per_query: dict[str, dict[str, float]]
    n_queries: int
    """Queries in the means."""
    skipped: list[str]
    """Queries left out of the means: those without a relevant product, with ``"qdrant-mm"``
    definitions only (``"trec"`` counts them as 0)."""
    no_relevant: list[str] = []
    """Judged queries whose judgments have no relevant product (either definitions)."""
    missing: list[str]
    """Judged queries with no ranking given (evaluated as an empty ranking)."""
    trec_names: dict[str, str] = {}
    """With ``"trec"`` definitions: metric name -> trec_eval's measure name (``map@10`` ->
    ``map_cut_10``) for each metric that trec_eval has (all but ``mrr@K``)."""


def evaluate(
    rankings: Mapping[str, Ranking],
    qrels: Mapping[str, Relevance],
    ks: Iterable[int] = DEFAULT_KS,
    metrics: Iterable[str | Metric] | None = None,
    *,
    definitions: Definitions = DEFAULT_DEFINITIONS,
) -> Evaluation:
    """Evaluate the rankings of every query in ``qrels``.

    ``rankings`` maps query ids to ranked product ids or to ``{product_id: score}`` (ordered by
    :func:`ranked_ids`). ``metrics`` defaults to :func:`default_metrics` of ``ks``; every
    metric follows ``definitions``. A judged query missing from ``rankings`` counts as an
    empty ranking (as ``trec_eval -c`` does). Queries without a relevant product are left out
    of the means and listed in ``skipped`` with ``"qdrant-mm"`` definitions, and count as 0
    with ``"trec"``. Rankings of unjudged queries are ignored. Ids are compared as strings.
    """
    definitions = check_definitions(definitions)
    if metrics is None:
        chosen = default_metrics(ks, definitions)
    else:
        chosen = [parse_metric(m, definitions) for m in metrics]
    chosen = list({str(m): m for m in chosen}.values())
    per_query: dict[str, dict[str, float]] = {}
    skipped: list[str] = []
    no_relevant: list[str] = []
    missing: list[str] = []
    str_rankings = {str(q): r for q, r in rankings.items()}
    for qid, rel in qrels.items():
        qid = str(qid)
        relevance = {str(pid): g for pid, g in rel.items()}
        if n_relevant(relevance) == 0:
            no_relevant.append(qid)
            if definitions == "qdrant-mm":
                skipped.append(qid)
                continue
        if qid not in str_rankings:
            missing.append(qid)
        ranking = ranked_ids(str_rankings.get(qid, ()), definitions)
        per_query[qid] = {str(m): m(ranking, relevance) for m in chosen}
    n = len(per_query)
    averages = {
        str(m): (math.fsum(v[str(m)] for v in per_query.values()) / n if n else math.nan)
        for m in chosen
    }
    trec_names = {}
    if definitions == "trec":
        trec_names = {str(m): m.trec_name for m in chosen if m.trec_name is not None}
    return Evaluation(
        definitions=definitions,
        metrics=averages,
        per_query=per_query,
        n_queries=n,
        skipped=skipped,
        no_relevant=no_relevant,
        missing=missing,
        trec_names=trec_names,
    )


def evaluate_rankings(
    rankings: Mapping[str, Ranking],
    qrels: Mapping[str, Relevance],
    ks: Iterable[int] = DEFAULT_KS,
    *,
    definitions: Definitions = DEFAULT_DEFINITIONS,
) -> dict[str, float]:
    """Mean metrics over queries, keyed ``p@K, r@K, map@K, ndcg@K, mrr, r-precision``.

    Same rules as :func:`evaluate`, which also returns the counts and per-query values.
    """
    return evaluate(rankings, qrels, ks, definitions=definitions).metrics
