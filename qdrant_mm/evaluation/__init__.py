"""Offline evaluation: qrels, exact ranking metrics and fusion-weight tuning.

The metrics (under the project's definitions or trec_eval's) and the weight tuning are pure
and backend-independent (they take rankings and candidate sets);
:mod:`qdrant_mm.evaluation.runner` fetches those from a collection with a
:class:`~qdrant_mm.search.Searcher`, for the CLI or any caller, and
:mod:`qdrant_mm.evaluation.trec` writes runs and judgments as TREC files for other tools.
"""

from qdrant_mm.evaluation.metrics import (
    DEFAULT_DEFINITIONS,
    DEFAULT_KS,
    DEFINITIONS,
    Definitions,
    Evaluation,
    Metric,
    average_precision_at_k,
    check_definitions,
    default_metrics,
    evaluate,
    evaluate_rankings,
    ndcg_at_k,
    parse_metric,
    precision_at_k,
    r_precision,
    ranked_ids,
    recall_at_k,
    reciprocal_rank,
)
from qdrant_mm.evaluation.qrels import (
    Qrels,
    QrelsError,
    QrelsQuery,
    category_qrels,
    expand_category_qrels,
    group_by_category,
    parse_qrels,
    read_qrels,
)
from qdrant_mm.evaluation.trec import qrels_lines, run_lines, run_tag, write_lines
from qdrant_mm.evaluation.tuning import (
    QueryCandidates,
    TuningReport,
    WeightsResult,
    contrastive_loss,
    evaluate_candidates,
    fit_contrastive,
    mean_metric,
    search_weights,
    simplex_grid,
    split_holdout,
    tune,
)

__all__ = [
    "DEFAULT_DEFINITIONS",
    "DEFAULT_KS",
    "DEFINITIONS",
    "Definitions",
    "Evaluation",
    "Metric",
    "Qrels",
    "QrelsError",
    "QrelsQuery",
    "QueryCandidates",
    "TuningReport",
    "WeightsResult",
    "average_precision_at_k",
    "category_qrels",
    "check_definitions",
    "contrastive_loss",
    "default_metrics",
    "evaluate",
    "evaluate_candidates",
    "evaluate_rankings",
    "expand_category_qrels",
    "fit_contrastive",
    "group_by_category",
    "mean_metric",
    "ndcg_at_k",
    "parse_metric",
    "parse_qrels",
    "precision_at_k",
    "qrels_lines",
    "r_precision",
    "ranked_ids",
    "read_qrels",
    "recall_at_k",
    "reciprocal_rank",
    "run_lines",
    "run_tag",
    "search_weights",
    "simplex_grid",
    "split_holdout",
    "tune",
    "write_lines",
]
