"""How uncertain a calibration's measured distributions are, and the cautious side of them.

An empirical CDF value ``F(s)`` measured on ``n`` pairs is a binomial proportion: its one-sided 95 % Wilson score
interval has the lower end :func:`cdf_low`, a closed form that is 0 at ``F = 0``, below 1 at ``F = 1``, rises with
``F`` and with ``n`` (more pairs, a narrower band). Read on the score axis it is the order-statistic interval of the
quantiles: the cautious ``p``-quantile is the empirical quantile at level :func:`level_high` ``(p, n)``, the level
whose lower end is ``p``. :mod:`engine.index.calibration` takes every CDF at its lower end, so a confidence is the
lower end of what the measurement supports, and a calibration on few pairs never says 100 %.
"""

from __future__ import annotations

import numpy as np

BAND_Z = 1.645  # one-sided 95 %: the normal quantile of the Wilson score interval
BAND_LEVEL = 0.95


def cdf_low(f: np.ndarray, n: int) -> np.ndarray:
    """The lower end of the Wilson score interval of proportions ``f`` measured on ``n`` samples (``f`` itself
    where ``n`` is not positive: nothing to widen by)."""
    f = np.clip(np.asarray(f, dtype=np.float64), 0.0, 1.0)
    if n <= 0:
        return f
    z2 = BAND_Z * BAND_Z
    centre = f + z2 / (2 * n)
    spread = BAND_Z * np.sqrt(f * (1.0 - f) / n + z2 / (4.0 * n * n))
    return np.clip((centre - spread) / (1.0 + z2 / n), 0.0, 1.0)


def level_high(p: float, n: int) -> float:
    """The proportion whose Wilson lower end is ``p`` (the inverse of :func:`cdf_low`: ``p + z·√(p(1-p)/n)``),
    at most 1: the level of the cautious ``p``-quantile."""
    if n <= 0:
        return p
    return min(1.0, p + BAND_Z * float(np.sqrt(p * (1.0 - p) / n)))
