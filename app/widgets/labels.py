"""Words for engine keys, shared by the pages and widgets (``text_to_shape`` -> ``text → shape``)."""

from __future__ import annotations


def direction_label(direction: str) -> str:
    """A retrieval direction as people read it: ``text_to_shape`` -> ``text → shape``."""
    return direction.replace("_to_", " → ").replace("_maxfold", " (max-fold)").replace("shape_text", "shape+text") \
        .replace("image_text", "image+text")
