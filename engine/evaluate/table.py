"""A plain-text table of retrieval metrics, one row per direction (used by ``trainer eval``)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from engine.evaluate.retrieval import FOLD_SUFFIX

DEFAULT_COLUMNS = ("R@1", "R@5", "R@10", "RR@1", "RR@5", "NDCG@5")
_KEY = re.compile(
    r"^(?P<row>.+)_(?P<metric>(?:R|RR|NDCG)@\d+|median_rank|mean_rank|num_queries|num_candidates)$"
)
_RATE = re.compile(r"^(R|RR|NDCG)@(\d+)$")
_EXTRA = (("median_rank", "MedR"), ("num_queries", "queries"), ("num_candidates", "candidates"))
SUMMARY_ROW = "mean"


def _rate_order(metric: str) -> tuple[int, int]:
    m = _RATE.match(metric)
    assert m is not None
    return ("R", "RR", "NDCG").index(m.group(1)), int(m.group(2))


def parse_metrics(metrics: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """``{"text_to_shape_R@1": 0.5, ...}`` -> ``{"text_to_shape": {"R@1": 0.5, ...}, ...}`` in first-seen
    order, the ``mean`` summary row last; keys that are not ``<row>_<metric>`` are ignored."""
    rows: dict[str, dict[str, float]] = {}
    for key, value in metrics.items():
        m = _KEY.match(key)
        if m:
            rows.setdefault(m.group("row"), {})[m.group("metric")] = float(value)
    if SUMMARY_ROW in rows:
        rows[SUMMARY_ROW] = rows.pop(SUMMARY_ROW)
    return rows


def _cell(metric: str, value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    if _RATE.match(metric):
        return f"{100.0 * value:.1f}"
    if value == int(value):
        return str(int(value))
    return f"{value:.1f}"


def format_table(metrics: Mapping[str, float], columns: Sequence[str] | None = None) -> str:
    """One row per direction (then ``mean``), rate columns as percentages with one decimal.

    Default columns: R@1 R@5 R@10 RR@1 RR@5 NDCG@5, with any other R/RR/NDCG@k present in order, then median rank,
    number of queries and of candidates when present. A legend states that R@k and RR@k are the same
    quantity and how candidates were formed (max-fold or not).
    """
    rows = parse_metrics(metrics)
    if not rows:
        return "(no retrieval metrics)"
    present = {metric for values in rows.values() for metric in values}
    if columns is None:
        rates = sorted({*DEFAULT_COLUMNS, *(m for m in present if _RATE.match(m))}, key=_rate_order)
        cols = [(m, m) for m in rates]
        cols += [(m, title) for m, title in _EXTRA if m in present]
    else:
        cols = [(m, dict(_EXTRA).get(m, m)) for m in columns]
    header = ["direction", *(title for _, title in cols)]
    body = [[row, *(_cell(m, values.get(m)) for m, _ in cols)] for row, values in rows.items()]
    widths = [max(len(line[i]) for line in (header, *body)) for i in range(len(header))]

    def render(line: list[str]) -> str:
        return "  ".join([line[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(line[1:], widths[1:], strict=True))])

    lines = [render(header), "  ".join("-" * w for w in widths), *(render(line) for line in body)]
    lines.append("R@k = RR@k (%): a query is a hit when any of its ground truths is in the top k. "
                 "NDCG@k (%): binary relevance, ideal DCG over min(|G|, k) hits.")
    if any(row.endswith(FOLD_SUFFIX) for row in rows):
        lines.append(f"'{FOLD_SUFFIX[1:]}': candidates are items scored by their best observation (max-fold); "
                     "other targets are ranked row by row (shape = one pooled embedding per item; "
                     "text = captions, any caption of the item counts).")
    else:
        lines.append("Targets are ranked row by row (shape = one pooled embedding per item; "
                     "text = captions, any caption of the item counts).")
    if SUMMARY_ROW in rows:
        lines.append(f"'{SUMMARY_ROW}': average over the directions above.")
    return "\n".join(lines)
