"""Words and numbers for engine keys, shared by the pages and widgets (``text_to_shape`` -> ``text → shape``)."""

from __future__ import annotations

from typing import Any

from engine.fmt import pct
from engine.metric_keys import DIRECTION_JOIN, FOLD_SUFFIX


def direction_label(direction: str) -> str:
    """A retrieval direction as people read it: ``text_to_shape`` -> ``text → shape``."""
    return direction.replace(DIRECTION_JOIN, " → ").replace(FOLD_SUFFIX, " (max-fold)") \
        .replace("shape_text", "shape+text").replace("image_text", "image+text")


def rate(value: Any) -> str:
    """A rate in a table whose caption says %: ``0.5`` -> ``50.0``."""
    return pct(value, unit="", missing="–")
