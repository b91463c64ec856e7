"""The names of retrieval metrics and the grammar of their keys: one definition for the evaluation that writes
them and every reader (the training loop's checkpoint choice, ``trainer eval`` and ``trainer runs``, the runs
table, the app's charts and tables).

A key is ``<row>_<metric>``. A row is a direction, ``<query>_to_<candidate>`` (``text_to_shape``), with
:data:`FOLD_SUFFIX` when its candidates were max-folded into items (``text_to_view_maxfold``), or
:data:`SUMMARY_ROW` (``mean``: the mean of a rate over every direction). A metric is a rate, ``R@k``, ``RR@k``
or ``NDCG@k`` (fractions in [0, 1]), or one of :data:`STATS` (``median_rank``, ...). So ``text_to_shape_R@1``,
``mean_NDCG@5``, ``shape_to_text_num_queries``.

The headline metric is :data:`HEADLINE` (R@1): a run's best checkpoint is the one with the highest mean R@1 over
its directions (:func:`selection_score`), and the runs table and the progress lines lead with it.

Standard library only (a foundation: every layer may import it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

SUMMARY_ROW = "mean"
FOLD_SUFFIX = "_maxfold"
DIRECTION_JOIN = "_to_"
RATES = ("R", "RR", "NDCG")
STATS = ("median_rank", "mean_rank", "num_queries", "num_candidates")
HEADLINE = "R@1"
#: The rates a table of one evaluation shows (``trainer eval``, the app's Evaluation tab), in this order.
TABLE_RATES = ("R@1", "R@5", "R@10", "RR@1", "RR@5", "NDCG@5")
#: The rates offered for curves and comparisons of runs.
CURVE_RATES = ("R@1", "R@5", "R@10", "NDCG@5")

_RATE = re.compile(r"^(R|RR|NDCG)@(\d+)$")
_KEY = re.compile(r"^(?P<row>.+)_(?P<metric>(?:R|RR|NDCG)@\d+|median_rank|mean_rank|num_queries|num_candidates)$")


# ---- rows: directions and the summary -------------------------------------------------------------------------
def direction_name(query: str, candidate: str, folded: bool = False) -> str:
    """``text_to_shape``; ``text_to_view_maxfold`` when the candidates were max-folded into items."""
    return f"{query}{DIRECTION_JOIN}{candidate}" + (FOLD_SUFFIX if folded else "")


def split_direction(name: str) -> tuple[str, str]:
    """``"text_to_shape"`` (or ``"text_to_view_maxfold"``) -> ``("text", "shape")``; ValueError otherwise."""
    parts = name.removesuffix(FOLD_SUFFIX).split(DIRECTION_JOIN)
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"direction {name!r} is not named '<query>{DIRECTION_JOIN}<candidate>'")
    return parts[0], parts[1]


def is_folded(row: str) -> bool:
    """Whether a direction's candidates were max-folded into items."""
    return row.endswith(FOLD_SUFFIX)


# ---- metrics and keys -----------------------------------------------------------------------------------------
def rate_name(kind: str, k: int) -> str:
    """``("R", 1)`` -> ``R@1``."""
    return f"{kind}@{k}"


def is_rate(metric: str) -> bool:
    """``R@k``, ``RR@k`` or ``NDCG@k``: a fraction in [0, 1] (shown as %)."""
    return _RATE.match(metric) is not None


def rate_order(metric: str) -> tuple[int, int]:
    """The order rates are listed in: R before RR before NDCG, then by k."""
    m = _RATE.match(metric)
    if m is None:
        raise ValueError(f"{metric!r} is not a rate (R@k, RR@k or NDCG@k)")
    return RATES.index(m.group(1)), int(m.group(2))


def metric_key(row: str, metric: str) -> str:
    """``("text_to_shape", "R@1")`` -> ``text_to_shape_R@1``."""
    return f"{row}_{metric}"


def mean_key(metric: str) -> str:
    """The summary key of a metric: ``R@1`` -> ``mean_R@1``."""
    return metric_key(SUMMARY_ROW, metric)


def parse_key(key: str) -> tuple[str, str] | None:
    """``text_to_shape_R@1`` -> ``("text_to_shape", "R@1")``; None for a key that is not ``<row>_<metric>``."""
    m = _KEY.match(key)
    return (m.group("row"), m.group("metric")) if m else None


def parse_metrics(metrics: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """``{"text_to_shape_R@1": 0.5, ...}`` -> ``{"text_to_shape": {"R@1": 0.5, ...}, ...}`` in first-seen order,
    the ``mean`` summary row last; keys that are not ``<row>_<metric>`` and values that are not numbers are left
    out."""
    rows: dict[str, dict[str, float]] = {}
    for key, value in metrics.items():
        parsed = parse_key(key)
        if parsed is not None and isinstance(value, (int, float)):
            rows.setdefault(parsed[0], {})[parsed[1]] = float(value)
    if SUMMARY_ROW in rows:
        rows[SUMMARY_ROW] = rows.pop(SUMMARY_ROW)
    return rows


def directions_of(metrics: Mapping[str, Any]) -> list[str]:
    """The directions with a metric in ``metrics``, in first-seen order (the summary row left out)."""
    return [row for row in parse_metrics(metrics) if row != SUMMARY_ROW]


# ---- picks: the summary, the headline, the checkpoint score ---------------------------------------------------
def direction_values(metrics: Mapping[str, Any], metric: str) -> dict[str, float]:
    """``metric``'s value in every direction (the summary row left out): ``{"text_to_shape": 0.5, ...}``."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        parsed = parse_key(key)
        if parsed is not None and parsed[1] == metric and parsed[0] != SUMMARY_ROW:
            out[parsed[0]] = value
    return out


def direction_means(metrics: Mapping[str, Any], skip_nan: bool = False) -> dict[str, float]:
    """``mean_<rate>`` for every rate of the directions in ``metrics``: its mean over them (NaN values left out
    when ``skip_nan``; a rate left with no value gets no mean), in first-seen order."""
    groups: dict[str, list[float]] = {}
    for key, value in metrics.items():
        parsed = parse_key(key)
        if parsed is None or parsed[0] == SUMMARY_ROW or not is_rate(parsed[1]):
            continue
        if skip_nan and math.isnan(value):
            continue
        groups.setdefault(parsed[1], []).append(value)
    return {mean_key(metric): sum(values) / len(values) for metric, values in groups.items()}


def summary_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The summary row's entries (``mean_R@1``, ...), keys unchanged."""
    return {k: v for k, v in metrics.items() if (p := parse_key(k)) is not None and p[0] == SUMMARY_ROW}


def headline_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The :data:`HEADLINE` entries of every row, the summary included, keys unchanged."""
    return {k: v for k, v in metrics.items() if (p := parse_key(k)) is not None and p[1] == HEADLINE}


def selection_score(metrics: Mapping[str, Any]) -> float:
    """The score that picks a run's best checkpoint: the mean of :data:`HEADLINE` over the directions evaluated
    (fused ones included); 0.0 when none was."""
    values = list(direction_values(metrics, HEADLINE).values())
    return float(sum(values) / len(values)) if values else 0.0


def validation_score(run_metrics: Mapping[str, Any] | None) -> float | None:
    """A run's validation score as the catalogue records it (``runs.metrics``): its best checkpoint's
    ``best_score``, else the :func:`selection_score` of its last validation (``val``); None when it was never
    validated (a zero-shot run, a run stopped before its first validation)."""
    metrics = run_metrics or {}
    best = metrics.get("best_score")
    if isinstance(best, int | float) and best == best:
        return float(best)
    val = metrics.get("val")
    return selection_score(val) if isinstance(val, Mapping) and direction_values(val, HEADLINE) else None


# ---- by-category evaluation (zero-shot classification) --------------------------------------------------------
# ``trainer eval --by-category``: each item ranked against one text per category (prompt templates, averaged).
# Rates are fractions in [0, 1]. ``top1`` and ``top5`` are open_clip's ``<dataset>-zeroshot-val-top1`` / ``-top5``
# (clip_benchmark's ``acc1`` / ``acc5``): items whose own category ranks first / in the first five;
# ``mean_class_top1`` is the mean over categories of each category's top-1 (clip_benchmark's
# ``mean_per_class_recall``, a balanced accuracy). These keys are not ``<row>_<metric>``: retrieval tables skip them.
CATEGORY_TOP1 = "top1"
CATEGORY_TOP5 = "top5"
CATEGORY_MEAN_TOP1 = "mean_class_top1"
CATEGORY_ITEMS = "num_items"  # items ranked (those with a category)
CATEGORY_COUNT = "num_categories"
CATEGORY_UNLABELLED = "num_unlabelled"  # items of the split left out: no category
#: The rates of a by-category evaluation, in the order a table shows them.
CATEGORY_RATES = (CATEGORY_TOP1, CATEGORY_TOP5, CATEGORY_MEAN_TOP1)
#: One category's entries: items of it, and its top-1 and top-5 rates.
CATEGORY_ROW = ("count", CATEGORY_TOP1, CATEGORY_TOP5)
