"""hnswlib labels <-> catalogue ids.

A label IS a catalogue id, so a hit maps to its metadata with one indexed query and no side table:
``text`` and ``image`` indexes are labelled by observation id (a caption; an image or a rendered view),
``shape`` indexes by item id (the item's pooled view embedding). hnswlib stores labels as ``size_t``;
Crossfold hands them out as ``int64``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

INDEX_MODALITIES = ("text", "image", "shape")

# What the labels of each index modality are ids of.
LABEL_KIND = {"text": "observation", "image": "observation", "shape": "item"}

# The catalogue observation modalities an index modality is built from (a shape's views pool into ``shape``;
# an ``image`` index holds the images of image-text items or the views of shapes).
SOURCE_MODALITIES = {"text": ("text",), "image": ("image", "view"), "shape": ("view",)}


def check_modality(modality: str) -> str:
    if modality not in INDEX_MODALITIES:
        raise ValueError(f"index modality must be one of {INDEX_MODALITIES}, not {modality!r}")
    return modality


def as_labels(ids: Iterable[int] | np.ndarray, n: int | None = None) -> np.ndarray:
    """Catalogue ids as a 1-D ``uint64`` label array for hnswlib: integers, >= 0, no duplicates.

    ``n``: the number of vectors they label (checked when given)."""
    arr = np.asarray(ids if isinstance(ids, np.ndarray) else list(ids))
    if arr.ndim != 1:
        raise ValueError(f"labels must be one-dimensional, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"labels must be integer catalogue ids, got dtype {arr.dtype}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{arr.shape[0]} labels for {n} vectors")
    if arr.size and int(arr.min()) < 0:
        raise ValueError("labels must be non-negative catalogue ids")
    if arr.size and np.unique(arr).size != arr.size:
        raise ValueError("labels must be unique (one vector per catalogue id)")
    return arr.astype(np.uint64, copy=False)


def to_ids(labels: np.ndarray) -> np.ndarray:
    """hnswlib labels (``uint64``) as catalogue ids (``int64``)."""
    return np.asarray(labels).astype(np.int64, copy=False)
