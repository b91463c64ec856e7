"""Retrieval evaluation with multiple ground truths: R@k (= RR@k), NDCG@k, ranks, failures, tables."""

from engine.evaluate.metrics import Ranking, fold_max, rank, ranking_metrics, stable_topk
from engine.evaluate.retrieval import (
    RetrievalFailure,
    default_directions,
    direction_name,
    evaluate_retrieval,
    parse_direction,
    rank_direction,
    rank_failures,
)
from engine.evaluate.table import format_table
from engine.metric_keys import parse_metrics

__all__ = [
    "Ranking",
    "RetrievalFailure",
    "default_directions",
    "direction_name",
    "evaluate_retrieval",
    "fold_max",
    "format_table",
    "parse_direction",
    "parse_metrics",
    "rank",
    "rank_direction",
    "rank_failures",
    "ranking_metrics",
    "stable_topk",
]
