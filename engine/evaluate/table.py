"""A plain-text table of retrieval metrics, one row per direction (used by ``trainer eval``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from engine.metric_keys import (
    FOLD_SUFFIX,
    SUMMARY_ROW,
    TABLE_RATES,
    is_folded,
    is_rate,
    parse_metrics,
    rate_order,
)

DEFAULT_COLUMNS = TABLE_RATES
_EXTRA = (("median_rank", "MedR"), ("num_queries", "queries"), ("num_candidates", "candidates"))


def _cell(metric: str, value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    if is_rate(metric):
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
        rates = sorted({*DEFAULT_COLUMNS, *(m for m in present if is_rate(m))}, key=rate_order)
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
    if any(is_folded(row) for row in rows):
        lines.append(f"'{FOLD_SUFFIX[1:]}': candidates are items scored by their best observation (max-fold); "
                     "other targets are ranked row by row (shape = one pooled embedding per item; "
                     "text = captions, any caption of the item counts).")
    else:
        lines.append("Targets are ranked row by row (shape = one pooled embedding per item; "
                     "text = captions, any caption of the item counts).")
    if SUMMARY_ROW in rows:
        lines.append(f"'{SUMMARY_ROW}': average over the directions above.")
    return "\n".join(lines)
