"""argparse ``type=`` functions: a bad value is refused before any work, as one line (exit 2).

Every number a flag takes has a range, checked as it is parsed: the training options' ranges are the config
schema's (:class:`engine.run.config.TrainConfig`, read by :mod:`engine.run.flags`; :func:`training` gives one
to another command), the rest are here, each made by :func:`whole` or :func:`number` (which carry their range as
``.range``; ``tests/trainer/test_argtypes.py`` checks that every numeric flag of every command has one).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

from engine.mesh_files import ELEVATIONS, VIEW_SIZES
from engine.names import name_problem
from engine.run.config import Range, config_fields


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


def whole(lo: int, hi: int) -> Callable[[str], int]:
    """A ``type=`` for a whole number from ``lo`` to ``hi``."""
    return _ranged(_int, Range(lo, hi), "whole number")


def number(lo: float, hi: float) -> Callable[[str], float]:
    """A ``type=`` for a finite number from ``lo`` to ``hi``."""
    return _ranged(_float, Range(lo, hi), "number")


def training(field: str) -> Callable[[str], Any]:
    """A ``type=`` for a training option's number taken by another command (``demo --steps``): its range is the
    config schema's."""
    f = next(f for f in config_fields() if f.name == field)
    kind = _int if str(f.type).startswith("int") else _float
    return _ranged(kind, f.metadata["range"], f.name.replace("_", " "))


def _ranged(parse: Callable[[str], Any], bounds: Range, what: str) -> Callable[[str], Any]:
    def check(text: str) -> Any:
        value = parse(text)
        problem = bounds.problem(value)
        if problem is not None:
            raise argparse.ArgumentTypeError(problem)
        return value

    check.__name__ = what  # argparse names the type in its own messages
    check.range = bounds  # type: ignore[attr-defined]
    return check


# The ranges of the numbers other commands take.
COUNT = whole(1, 1_000_000)  # items, shapes, scenes, views, hits: anything counted
MAYBE_NONE = whole(0, 1_000_000)  # the same, where 0 means none
WORKERS = whole(1, 1024)  # processes
PIXELS = whole(*VIEW_SIZES)  # the side of a view or a packed image
ELEVATION = number(*ELEVATIONS)  # degrees
GRAPH_DEGREE = whole(2, 4096)  # hnswlib's M (its file reader accepts no other)
EFFORT = whole(1, 100_000)  # hnswlib's ef and ef_construction


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
