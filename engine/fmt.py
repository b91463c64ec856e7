"""How numbers are written for people, in one place (the app's tables and logs, the CLI's tables).

Contract: every formatter takes any value and never raises; a value that is not a number (``None``, a string, a
bool, a missing metric) or is NaN is written as ``missing``.
"""

from __future__ import annotations

import math
from typing import Any


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return value


def pct(value: Any, unit: str = "%", missing: str = "-") -> str:
    """A fraction as a percentage with one decimal: ``0.5`` -> ``"50.0%"`` (``unit=""``: ``"50.0"``)."""
    number = _number(value)
    return f"{100 * number:.1f}{unit}" if number is not None else missing


def num(value: Any, digits: int = 4, fixed: bool = False, missing: str = "-") -> str:
    """``digits`` significant digits (``1.234e-05``), or with ``fixed`` ``digits`` decimals (``12.3``)."""
    number = _number(value)
    if number is None:
        return missing
    return f"{number:.{digits}f}" if fixed else f"{number:.{digits}g}"
