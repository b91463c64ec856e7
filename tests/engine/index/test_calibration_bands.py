"""Confidence bands widened by the uncertainty of the quantiles: the Wilson lower end of each measured CDF
(``engine/index/calibration_bands.py``), so fewer pairs give a wider band and a lower confidence for the same
score, and a calibration on a handful of pairs never says 100 %."""

from __future__ import annotations

import numpy as np
import pytest

from engine.index import calibration as calib
from engine.index.calibration_bands import BAND_Z, cdf_low, level_high

LEVELS = np.linspace(0, 1, calib.LEVELS)


def _calibration(pairs: int, queries: int) -> calib.Calibration:
    """The same measured quantiles (matches 0.6-0.9, non-matches 0.0-0.5, best non-matches 0.3-0.65) on ``pairs``
    matching and non-matching pairs from ``queries`` queries."""
    return calib.Calibration(match=0.6 + 0.3 * LEVELS, nonmatch=0.5 * LEVELS, best_nonmatch=0.3 + 0.35 * LEVELS,
                             split="val", queries=queries, nonmatch_pairs=pairs, sources={}, match_pairs=pairs)


def test_the_lower_end_of_a_proportion_is_the_wilson_bound() -> None:
    f = np.linspace(0, 1, 11)
    for n in (10, 100, 10_000):
        low = cdf_low(f, n)
        assert low[0] == 0.0 and np.all(np.diff(low) > 0) and np.all(low <= f + 1e-12)
        assert low[-1] == pytest.approx(1 / (1 + BAND_Z**2 / n))  # all n below s: still not certain
        p = 0.3  # the Wilson lower end solves (f - p)^2 = z^2 p (1 - p) / n
        assert cdf_low(np.array(level_high(p, n)), n) == pytest.approx(p)
    assert np.all(cdf_low(f, 10) <= cdf_low(f, 100)) and np.all(cdf_low(f, 100) <= cdf_low(f, 10_000))
    assert level_high(0.95, 20) == 1.0  # beyond what 20 samples can say: clipped


def test_fewer_pairs_give_a_wider_band_and_a_lower_confidence_for_the_same_score() -> None:
    scores = np.array([0.45, 0.55, 0.7, 0.85, 0.95])
    thin, mid, rich = _calibration(120, 10), _calibration(1_000, 80), _calibration(100_000, 5_000)
    c_thin, c_mid, c_rich = thin.confidence(scores), mid.confidence(scores), rich.confidence(scores)
    assert np.all(c_thin <= c_mid) and np.all(c_mid <= c_rich)
    assert c_thin[-1] < c_mid[-1] < c_rich[-1] < 1.0  # above every match measured: never 100 %
    assert c_thin[-1] < 0.95 and c_rich[-1] > 0.99
    assert thin.threshold > mid.threshold > rich.threshold  # a top hit must beat a higher bar on less evidence
    # the bar and the confidence agree: 0.5 is crossed where a top hit starts to be confident
    for c in (thin, mid, rich):
        t = c.threshold
        assert not c.confident(t - 1e-3) and c.confident(t + 1e-3)
        assert c.confidence([t - 1e-3])[0] < 0.5


def test_the_summary_says_how_it_was_measured() -> None:
    c = calib.Calibration(match=0.6 + 0.3 * LEVELS, nonmatch=0.5 * LEVELS, best_nonmatch=0.3 + 0.35 * LEVELS,
                          split="val+test", queries=12, nonmatch_pairs=1_320, sources={}, match_pairs=12)
    assert calib.measured_line(c.summary()) == (
        "measured on 12 captions of splits val+test: 12 matching and 1,320 non-matching pairs; the lower end of its "
        "95 % band")
    prompts = calib.measured_line({**c.summary(), "source": calib.CATEGORY_PROMPTS, "split": "all"})
    assert prompts.startswith("measured on 12 category prompts against the items of every split:")
    pictures = calib.measured_line({**c.summary(), "source": calib.PICTURE_QUERIES, "split": "val"})
    assert "12 item pictures of the val split as queries, an item of the same category a match" in pictures


def test_captions_are_pooled_across_splits_only_where_few() -> None:
    many = [("val", list(range(calib.MIN_QUERIES))), ("test", [100, 101])]
    assert calib.query_splits(many) == ("val", list(range(calib.MIN_QUERIES)))
    few = [("val", [1, 2]), ("test", []), ("train", [3, 4, 5])]
    assert calib.query_splits(few) == ("val+train", [1, 2, 3, 4, 5])
    assert calib.query_splits([]) == ("", [])
