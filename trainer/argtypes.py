"""argparse ``type=`` functions: a bad value is refused before any work, as one line (exit 2)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from engine.names import name_problem


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def positive_int(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def non_negative_int(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must not be negative")
    return value


def finite_float(text: str) -> float:
    return _float(text)


def positive_finite_float(text: str) -> float:
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value:g} must be greater than 0")
    return value


def nonblank_text(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty or blank")
    return text


def name(kind: str) -> Callable[[str], str]:
    """A ``type=`` for a ``kind`` name (dataset, run, index) that becomes a file or folder name."""

    def check(text: str) -> str:
        problem = name_problem(text)
        if problem is not None:
            raise argparse.ArgumentTypeError(f"{kind} name {text!r} is not allowed: {problem}")
        return text

    check.__name__ = f"{kind} name"
    return check
