"""Running qrels against a collection: rankings per weighting, and candidate sets for tuning.

Each query is embedded once (all three channels) and reused for every weighting. Nothing here
writes to Qdrant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from qdrant_mm.evaluation.metrics import (
    DEFAULT_DEFINITIONS,
    DEFAULT_KS,
    Definitions,
    Evaluation,
    evaluate,
    ranked_ids,
)
from qdrant_mm.evaluation.qrels import Qrels, expand_category_qrels, group_by_category
from qdrant_mm.evaluation.trec import run_tag
from qdrant_mm.evaluation.tuning import QueryCandidates
from qdrant_mm.search import MAX_LIMIT, QueryEmbeddings, Searcher
from qdrant_mm.weights import CHANNELS, Weights

QueryVectors = dict[str, dict[str, np.ndarray]]


ScoredRun = dict[str, list[tuple[str, float]]]


class WeightingRow(BaseModel):
    label: str
    weights: Weights
    evaluation: Evaluation
    best: bool = False
    run_tag: str = ""
    """This weighting's tag in a TREC run file (unique among the rows)."""
    run: ScoredRun = Field(default_factory=dict, exclude=True)
    """Per query, the ``(product id, fused score)`` pairs the metrics read, best first."""


def resolve_qrels(searcher: Searcher, qrels: Qrels) -> Qrels:
    """Expand category queries into "every product of that category" from the stored payloads."""
    if not any(q.kind == "category" for q in qrels.queries):
        return qrels
    items = searcher.backend.scroll_payload(searcher.collection, ["product_id", "category"])
    by_cat = group_by_category((pl.get("product_id"), pl.get("category")) for _, pl in items)
    return expand_category_qrels(qrels, by_cat)


def embed_queries(searcher: Searcher, qrels: Qrels, template: str = "{}") -> QueryVectors:
    """All-channel query embeddings of every query (text, image or category name)."""
    out: QueryVectors = {}
    for q in qrels.queries:
        if q.kind == "image":
            image = searcher.query_image(q.image)
            vectors = searcher.models.encode_query_image(image, CHANNELS)
            out[q.id] = QueryEmbeddings(vectors, "image")
        else:
            text = template.format(q.text) if q.kind == "category" else q.text
            out[q.id] = QueryEmbeddings(searcher.models.encode_query_text(text, CHANNELS))
    return out


def rankings(
    searcher: Searcher, vectors: QueryVectors, weights: Weights, depth: int
) -> dict[str, list[str]]:
    """Per query, the ids of the top ``depth`` products, in search order."""
    return {
        q: [pid for pid, _ in hits]
        for q, hits in scored_rankings(searcher, vectors, weights, depth).items()
    }


def scored_rankings(
    searcher: Searcher, vectors: QueryVectors, weights: Weights, depth: int
) -> ScoredRun:
    """Per query, ``(product id, fused score)`` of the top ``depth`` products, in search order
    (score descending, ties by point id)."""
    return {
        qid: [(h.id, h.score) for h in searcher.search_vectors(qv, weights, limit=depth)]
        for qid, qv in vectors.items()
    }


def in_metric_order(
    hits: list[tuple[str, float]], definitions: Definitions
) -> list[tuple[str, float]]:
    """``hits`` in the order the metrics of ``definitions`` read them: search order for
    ``"qdrant-mm"``, trec_eval's order (score, then id descending) for ``"trec"``."""
    if definitions != "trec":
        return hits
    scores = dict(reversed(hits))  # the first hit of a repeated id wins
    return [(pid, scores[pid]) for pid in ranked_ids(scores, "trec")]


def evaluate_weightings(
    searcher: Searcher,
    qrels: Qrels,
    vectors: QueryVectors,
    weightings: Sequence[tuple[str, Weights]],
    ks: Sequence[int] = DEFAULT_KS,
    best_metric: str | None = None,
    *,
    definitions: Definitions = DEFAULT_DEFINITIONS,
) -> list[WeightingRow]:
    """One row per weighting, searched in Qdrant with the same query embeddings, its metrics
    following ``definitions``; the row with the highest ``best_metric`` (default: nDCG at the
    largest K) is marked best. Each row keeps what it ranked (``run``) for a TREC run file."""
    most_relevant = max((len(q.relevant_ids) for q in qrels.queries), default=1)
    # R-precision needs R results; a search returns at most MAX_LIMIT.
    depth = min(max(max(ks), most_relevant), MAX_LIMIT)
    judged = qrels.relevance()
    rows: list[WeightingRow] = []
    for label, w in weightings:
        run = {
            q: in_metric_order(hits, definitions)
            for q, hits in scored_rankings(searcher, vectors, w, depth).items()
        }
        ranked = {q: [pid for pid, _ in hits] for q, hits in run.items()}
        rows.append(
            WeightingRow(
                label=label,
                weights=w,
                evaluation=evaluate(ranked, judged, ks, definitions=definitions),
                run_tag=run_tag(label, (r.run_tag for r in rows)),
                run=run,
            )
        )
    key = best_metric or f"ndcg@{max(ks)}"
    scored = [r for r in rows if r.evaluation.metrics.get(key) == r.evaluation.metrics.get(key)]
    if scored:
        max(scored, key=lambda r: r.evaluation.metrics[key]).best = True
    return rows


def channel_candidates(
    searcher: Searcher,
    qid: str,
    qv: dict[str, np.ndarray],
    rel: dict[str, int],
    depth: int,
    *,
    payloads: dict[str, dict[str, Any]] | None = None,
    filter: Any = None,
) -> tuple[QueryCandidates, np.ndarray]:
    """The candidates of one query: the union of each channel's top ``depth`` products (within
    ``filter``) with all three channel scores (exact cosines of the stored vectors), and each
    channel's floor (the score of its ``depth``-th product; -inf when it has fewer).
    ``payloads`` collects the candidates' payloads."""
    scores: dict[str, dict[str, float]] = {ch: {} for ch in CHANNELS}
    photos: dict[str, np.ndarray] = {}
    floor = np.full(len(CHANNELS), -math.inf)
    for c, ch in enumerate(CHANNELS):
        one_hot = Weights.from_mapping({ch: 1.0})
        hits = searcher.search_vectors(qv, one_hot, limit=depth, filter=filter)
        for h in hits:
            if payloads is not None:
                payloads.setdefault(h.id, h.payload)
            if h.photo_scores is not None and h.id not in photos:
                # several photos: each photo's scores; the product's are those of the photo
                # best under equal weights (re-ranking takes the best photo under any weights)
                photos[h.id] = np.array(h.photo_scores, dtype=np.float64)
            for other in CHANNELS:
                scores[other][h.id] = float(h.scores[other])
        if len(hits) >= depth:
            floor[c] = min(float(h.scores[ch]) for h in hits)
    for pid, rows in photos.items():
        best = rows[int(np.argmax(rows.sum(axis=1)))]
        for c, ch in enumerate(CHANNELS):
            scores[ch][pid] = float(best[c])
    return QueryCandidates.from_channel_scores(qid, scores, rel, photos), floor


def fetch_candidates(
    searcher: Searcher, qrels: Qrels, vectors: QueryVectors, depth: int = 100
) -> list[QueryCandidates]:
    """Per query, :func:`channel_candidates`: the input of tuning."""
    judged = qrels.relevance()
    return [
        channel_candidates(searcher, qid, qv, judged.get(qid, {}), depth)[0]
        for qid, qv in vectors.items()
    ]
