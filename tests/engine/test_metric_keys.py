"""The one grammar of metric keys (engine/metric_keys.py): the keys the evaluation writes parse back, and the picks
every reader makes (the checkpoint score, the summary, the headline) agree with it."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from engine import metric_keys as mk

METRICS = {
    "text_to_shape_R@1": 0.5, "text_to_shape_RR@1": 0.5, "text_to_shape_NDCG@5": 0.6,
    "text_to_shape_median_rank": 2.0, "text_to_shape_num_queries": 10.0,
    "shape_to_text_R@1": 0.3, "text_to_view_maxfold_R@1": 0.1,
    "mean_R@1": 0.4, "mean_NDCG@5": 0.6, "step": 7, "text_to_shape_R@5": "n/a",
}


def test_a_key_is_built_and_parsed_back() -> None:
    row = mk.direction_name("text", "view", folded=True)
    assert row == "text_to_view_maxfold" and mk.is_folded(row)
    assert mk.split_direction(row) == ("text", "view")
    key = mk.metric_key(row, mk.rate_name("NDCG", 5))
    assert key == "text_to_view_maxfold_NDCG@5" and mk.parse_key(key) == (row, "NDCG@5")
    assert mk.mean_key("R@1") == "mean_R@1" and mk.parse_key("mean_R@1") == (mk.SUMMARY_ROW, "R@1")
    assert mk.parse_key("step") is None and mk.parse_key("text_to_shape_loss") is None
    with pytest.raises(ValueError, match="is not named"):
        mk.split_direction("text_shape")


def test_metrics_parse_into_rows_the_summary_last() -> None:
    rows = mk.parse_metrics(METRICS)
    assert list(rows) == ["text_to_shape", "shape_to_text", "text_to_view_maxfold", "mean"]
    assert rows["text_to_shape"] == {"R@1": 0.5, "RR@1": 0.5, "NDCG@5": 0.6, "median_rank": 2.0, "num_queries": 10.0}
    assert mk.directions_of(METRICS) == ["text_to_shape", "shape_to_text", "text_to_view_maxfold"]
    assert [m for m in ("R@10", "RR@1", "NDCG@5", "R@1") if mk.is_rate(m)] == ["R@10", "RR@1", "NDCG@5", "R@1"]
    assert sorted(("NDCG@5", "RR@1", "R@10", "R@1"), key=mk.rate_order) == ["R@1", "R@10", "RR@1", "NDCG@5"]
    assert not mk.is_rate("median_rank")


def test_the_picks() -> None:
    assert mk.selection_score(METRICS) == pytest.approx((0.5 + 0.3 + 0.1) / 3)  # the directions, not the mean
    assert mk.selection_score({"mean_R@1": 0.9}) == 0.0
    assert mk.summary_metrics(METRICS) == {"mean_R@1": 0.4, "mean_NDCG@5": 0.6}
    assert mk.headline_metrics(METRICS) == {"text_to_shape_R@1": 0.5, "shape_to_text_R@1": 0.3,
                                            "text_to_view_maxfold_R@1": 0.1, "mean_R@1": 0.4}
    means = mk.direction_means({"a_to_b_R@1": 0.2, "b_to_a_R@1": math.nan, "a_to_b_median_rank": 3.0,
                                "mean_R@1": 1.0})
    assert list(means) == ["mean_R@1"] and math.isnan(means["mean_R@1"])
    assert mk.direction_means({"a_to_b_R@1": 0.2, "b_to_a_R@1": math.nan}, skip_nan=True) == {"mean_R@1": 0.2}
    assert mk.direction_means({"a_to_b_R@1": math.nan}, skip_nan=True) == {}


def test_it_imports_nothing_but_the_standard_library() -> None:
    code = "import sys, engine.metric_keys; print(sorted(m for m in sys.modules if m.startswith('engine')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "['engine', 'engine.metric_keys']"
