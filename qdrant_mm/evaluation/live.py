"""Live evaluation: the metrics of any weighting over a labelled query set, in milliseconds,
equal to what ``qdrant-mm evaluate`` computes with the engine.

:class:`LiveEvaluator` embeds every query once and fetches, per query and channel, the top
``depth`` products by that channel's score with all three channel scores (the candidates of
:func:`~qdrant_mm.evaluation.runner.fetch_candidates`) and the channel's *floor*: the score of
its ``depth``-th product. A weighting then re-ranks the candidates by ``S @ w`` in numpy, with no
search. The result is **certified** equal to the engine's ranking (so the metrics equal
``evaluate``'s) when:

1. *No product outside the candidates can reach the ranks the metrics read.* A product that is
   no channel's candidate scores at most ``floor_c`` on every channel, so at most
   ``B(w) = Σ_c w_c · floor_c`` fused (the threshold bound of Fagin's threshold algorithm).
   If the candidate at the last rank read scores more than ``B(w) + EPS``, no other product
   can enter those ranks. A channel that returned every product has no floor (nothing is
   outside the candidates).
2. *Rounding cannot change the grades along the ranks read.* The engine computes scores in
   float32, this module in float64 from the engine's float32 channel scores; they differ by
   far less than ``EPS / 2``. Products whose scores lie within ``EPS`` of each other (chained)
   might be ordered differently by the engine, so every such run of near-ties among the ranks
   read must hold products of one grade: swapping them leaves every metric unchanged.

A query that fails (1) gets deeper candidates (up to the engine's 1000-result limit), and one
that still fails, or fails (2), is searched by the engine with that weighting, exactly as
``evaluate`` does. Both are counted in :attr:`LiveResult.ranked_by`. This holds when the
engine searches exactly, as it does below ``QDRANT_MM_EXACT_BELOW`` points (20,000 by
default); above, HNSW makes ``evaluate`` itself approximate and the floors only estimates:
``check="engine"`` then gives ``evaluate``'s numbers (every query searched by the engine).

The ranks read, per query: up to the largest K, to R (R-precision), to the first relevant
product (MRR), never beyond ``evaluate``'s depth ``min(max(max K, largest R), 1000)``.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from qdrant_mm.evaluation.metrics import (
    DEFAULT_DEFINITIONS,
    DEFAULT_KS,
    Definitions,
    Evaluation,
    evaluate,
)
from qdrant_mm.evaluation.qrels import Qrels
from qdrant_mm.evaluation.runner import channel_candidates, in_metric_order
from qdrant_mm.evaluation.tuning import QueryCandidates
from qdrant_mm.schema import FROM_TEXT, VECTORS_FROM
from qdrant_mm.search import MAX_LIMIT, Searcher, SearchHit
from qdrant_mm.weights import CHANNELS, Weights

#: Scores closer than this are treated as possibly tied (see the module docstring).
EPS = 1e-5
#: Candidates per channel fetched first; a query is deepened (x4, at most MAX_LIMIT) on need.
DEFAULT_DEPTH = 200
Check = Literal["auto", "engine"]
QueryVectors = dict[str, dict[str, np.ndarray]]


def _refs(payload: dict[str, Any]) -> list[Any]:
    refs = payload.get("image_refs")
    return refs if isinstance(refs, list) else []


def _from_text(payload: dict[str, Any]) -> bool:
    return payload.get(VECTORS_FROM) == FROM_TEXT


def evaluation_depth(qrels: Qrels, ks: Sequence[int]) -> int:
    """How deep ``evaluate`` ranks every query (its ``evaluate_weightings``)."""
    most_relevant = max((len(q.relevant_ids) for q in qrels.queries), default=1)
    return min(max(max(ks), most_relevant), MAX_LIMIT)


@dataclass
class LiveQuery:
    """One query: its embeddings, candidates (ids, channel scores, grades) and floors."""

    id: str
    vectors: dict[str, np.ndarray]
    candidates: QueryCandidates
    grades: np.ndarray
    floor: np.ndarray
    """Per channel, the score of its ``depth``-th candidate (-inf: the channel returned every
    product, so nothing is outside the candidates)."""
    depth: int

    def bound(self, w: np.ndarray) -> float:
        """Highest fused score a product outside the candidates can have under ``w``."""
        if np.isneginf(self.floor).any():
            return -math.inf
        return float(self.floor @ w)


def fetch_query(
    searcher: Searcher,
    qid: str,
    qv: dict[str, np.ndarray],
    rel: dict[str, int],
    depth: int,
    payloads: dict[str, dict[str, Any]] | None = None,
    filter: Any = None,
) -> LiveQuery:
    """The candidates of one query (:func:`~qdrant_mm.evaluation.runner.channel_candidates`)
    with their grades, ready to re-rank for any weights."""
    cands, floor = channel_candidates(
        searcher, qid, qv, rel, depth, payloads=payloads, filter=filter
    )
    grades = np.array([rel.get(i, 0) for i in cands.ids], dtype=np.int64)
    return LiveQuery(qid, qv, cands, grades, floor, depth)


@dataclass
class LiveResult:
    evaluation: Evaluation
    rankings: dict[str, list[str]]
    ranked_by: dict[str, str]
    """Per query: ``"candidates"`` (certified), ``"deepened"`` or ``"engine"``."""
    seconds: float = 0.0


@dataclass
class LiveEvaluator:
    """A labelled query set ready to be evaluated under any weighting (see the module doc)."""

    searcher: Searcher
    qrels: Qrels
    queries: dict[str, LiveQuery]
    payloads: dict[str, dict[str, Any]] = field(default_factory=dict)
    depth: int = DEFAULT_DEPTH
    engine_exact: bool = True
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @functools.cached_property
    def judged(self) -> dict[str, dict[str, int]]:
        """The set's judgments by query (computed once: every slider step reads them)."""
        return self.qrels.relevance()

    @classmethod
    def build(
        cls,
        searcher: Searcher,
        qrels: Qrels,
        vectors: QueryVectors,
        depth: int = DEFAULT_DEPTH,
    ) -> LiveEvaluator:
        """Fetch the candidates of every query (``qrels`` resolved, ``vectors`` embedded)."""
        meta = searcher.meta
        exact = searcher.exact or (meta.points is not None and meta.points <= searcher.exact_below)
        # Re-ranking candidates from their channel scores equals the engine's ranking to the
        # last bit only on float32 vectors: on float16 ones the engine rounds the weighted query
        # too (~1e-5), so every query is asked of the engine (as `evaluate` does).
        exact = exact and meta.datatype == "float32"
        out = cls(searcher, qrels, {}, depth=depth, engine_exact=exact)
        judged = qrels.relevance()
        for q in qrels.queries:
            out.queries[q.id] = out._fetch(q.id, vectors[q.id], judged.get(q.id, {}), depth)
        return out

    def _fetch(self, qid: str, qv: dict[str, np.ndarray], rel: dict, depth: int) -> LiveQuery:
        return fetch_query(self.searcher, qid, qv, rel, depth, self.payloads)

    # --- ranking ------------------------------------------------------------------------------
    def _certified(
        self, q: LiveQuery, w: np.ndarray, needs: Sequence[int], depth: int
    ) -> tuple[list[str] | None, str]:
        """The top ``depth`` candidates under ``w`` and ``"ok"`` when certified; else None and
        why: ``"bound"`` (a product outside the candidates might enter: deeper candidates help)
        or ``"tie"`` (a near-tie between grades: only the engine can tell).

        ``needs``: the ranks the metrics read at least (largest K, R)."""
        cands = q.candidates
        fused = cands.fused(w)
        n = len(fused)
        bound = q.bound(w)
        m = min(n, depth + 16)  # sort only the head; all of it if a tie run reaches its end
        while True:
            head = np.argpartition(-fused, m - 1)[:m] if m < n else np.arange(n)
            order = head[np.lexsort((cands._tie[head], -fused[head]))]
            top = order[:depth]
            relevant = np.flatnonzero(q.grades[top] > 0)
            first = int(relevant[0]) + 1 if len(relevant) else depth
            need = min(depth, max(*needs, first))
            if n < need:
                if bound > -math.inf:
                    return None, "bound"
                need = n  # every product is a candidate
            if need == 0:
                return [], "ok"
            values = fused[order]
            if values[need - 1] <= bound + EPS:
                return None, "bound"
            # runs of near-ties (gaps <= EPS) that reach the ranks read must share one grade
            close = (values[:-1] - values[1:]) <= EPS
            i = need - 1
            while i < m - 1 and close[i]:
                i += 1
            if i < m - 1 or m == n:
                break
            m = n
        grades = q.grades[order]
        if (close[:i] & (grades[:i] != grades[1 : i + 1])).any():
            return None, "tie"
        return [cands.ids[j] for j in top], "ok"

    def _engine(self, q: LiveQuery, weights: Weights, depth: int, definitions: Definitions):
        hits = self.searcher.search_vectors(q.vectors, weights, limit=depth)
        for h in hits:
            self.payloads.setdefault(h.id, h.payload)
        return [pid for pid, _ in in_metric_order([(h.id, h.score) for h in hits], definitions)]

    def _deepen(self, q: LiveQuery) -> LiveQuery:
        with self._lock:
            current = self.queries[q.id]
            if current.depth >= MAX_LIMIT or current is not q:
                return current
            deeper = self._fetch(
                q.id, q.vectors, dict(q.candidates.relevance), min(4 * q.depth, MAX_LIMIT)
            )
            self.queries[q.id] = deeper
            return deeper

    def rank(
        self,
        qid: str,
        weights: Weights,
        depth: int,
        needs: Sequence[int] = (),
        definitions: Definitions = DEFAULT_DEFINITIONS,
        check: Check = "auto",
    ) -> tuple[list[str], str]:
        """The top ``depth`` ids of query ``qid`` under ``weights`` as the engine ranks them, and
        how they were found (``candidates``, ``deepened`` or ``engine``)."""
        q = self.queries[qid]
        needs = tuple(needs) or (depth,)
        if check == "auto" and self.engine_exact:
            w = np.array([getattr(weights, ch) for ch in CHANNELS])
            got, why = self._certified(q, w, needs, depth)
            if got is not None:
                return got, "candidates"
            while why == "bound" and q.depth < MAX_LIMIT:
                q = self._deepen(q)
                got, why = self._certified(q, w, needs, depth)
                if got is not None:
                    return got, "deepened"
        return self._engine(q, weights, depth, definitions), "engine"

    # --- metrics ------------------------------------------------------------------------------
    def evaluate(
        self,
        weights: Weights,
        ks: Sequence[int] = DEFAULT_KS,
        *,
        definitions: Definitions = DEFAULT_DEFINITIONS,
        metrics: Sequence[str] | None = None,
        check: Check = "auto",
    ) -> LiveResult:
        """The :class:`Evaluation` that ``evaluate`` gives for ``weights`` (same K, same
        definitions), without searching where the candidates certify the ranking."""
        t0 = time.perf_counter()
        depth = evaluation_depth(self.qrels, ks)
        judged = self.judged
        rankings: dict[str, list[str]] = {}
        how: dict[str, str] = {}
        for qid, rel in judged.items():
            r = sum(1 for g in rel.values() if g > 0)
            rankings[qid], how[qid] = self.rank(
                qid, weights, depth, (max(ks), r), definitions, check
            )
        ev = evaluate(rankings, judged, ks, metrics, definitions=definitions)
        return LiveResult(ev, rankings, how, time.perf_counter() - t0)

    def candidates(self) -> list[QueryCandidates]:
        """Every query's candidate set (the input of :func:`~.tuning.tune`)."""
        return [q.candidates for q in self.queries.values()]

    def hits(self, qid: str, weights: Weights, limit: int) -> tuple[list[SearchHit], str]:
        """The top ``limit`` products of a query with fused and channel scores and payloads."""
        ids, how = self.rank(qid, weights, limit)
        q = self.queries[qid]
        index = {pid: i for i, pid in enumerate(q.candidates.ids)}
        w = np.array([getattr(weights, ch) for ch in CHANNELS])
        missing = [pid for pid in ids if pid not in index]
        if missing:  # the engine found products outside the candidates: score them
            engine = self.searcher.search_vectors(q.vectors, weights, limit=limit)
            return engine, how
        out = []
        for pid in ids:
            row = q.candidates.best_row(index[pid], w)
            out.append(
                SearchHit(
                    id=pid,
                    score=float(row @ w),
                    scores={ch: float(row[c]) for c, ch in enumerate(CHANNELS)},
                    payload=self.payloads.get(pid, {}),
                )
            )
        return self._with_photos(q, weights, out), how

    def _with_photos(
        self, q: LiveQuery, weights: Weights, hits: list[SearchHit]
    ) -> list[SearchHit]:
        """The candidates' hits with what the engine's hits carry besides scores: whether the
        product was stored from its text, and the photo that scores best under ``weights``
        (from the candidates' per-photo scores, in the order of the stored rows)."""
        index = {pid: i for i, pid in enumerate(q.candidates.ids)}
        out = []
        for h in hits:
            refs = _refs(h.payload)
            if _from_text(h.payload):
                matched = None
            elif refs:
                best = q.candidates.best_photo(index[h.id], weights)
                matched = refs[best] if best < len(refs) else None
            else:  # stored before photo lists
                matched = h.payload.get("image")
            out.append(
                h.model_copy(update={"matched_image": matched, "text_only": _from_text(h.payload)})
            )
        return out

    def grid(
        self,
        step: float,
        metric: str,
        ks: Sequence[int] = DEFAULT_KS,
        *,
        definitions: Definitions = DEFAULT_DEFINITIONS,
    ) -> list[tuple[Weights, float]]:
        """``metric`` (e.g. ``ndcg@10``) of every weighting of ``simplex_grid(step)``, as
        ``evaluate --grid STEP --k ...`` computes it (``ks`` sets the depth ranked)."""
        from qdrant_mm.evaluation.metrics import parse_metric
        from qdrant_mm.evaluation.tuning import simplex_grid

        m = str(parse_metric(metric, definitions))
        return [
            (w, self.evaluate(w, ks, definitions=definitions, metrics=[m]).evaluation.metrics[m])
            for w in simplex_grid(step)
        ]
