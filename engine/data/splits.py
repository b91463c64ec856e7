"""Deterministic item-level splits.

A source that ships its own split (Karpathy's JSON) keeps it, mapped onto ``train``/``val``/``test``
by :func:`normalize_split`. Every other item gets :func:`split_for_key`: a hash of its key alone,
so re-imports, and imports of the same images from another format, put an item in the same split.
Splitting by item (never by observation) keeps all captions and views of an item together.
"""

from __future__ import annotations

import hashlib

TRAIN_FRACTION = 0.8
VAL_FRACTION = 0.1  # the rest (0.1) is test

_SOURCE_SPLITS = {
    "train": "train",
    "restval": "train",  # Karpathy's "rest of val" is used for training
    "val": "val",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "test": "test",
}


def split_for_key(key: str, train: float = TRAIN_FRACTION, val: float = VAL_FRACTION) -> str:
    """``train``, ``val`` or ``test`` from a stable hash of ``key`` (80/10/10 by default)."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    u = int.from_bytes(digest, "big") / 2.0**64
    if u < train:
        return "train"
    if u < train + val:
        return "val"
    return "test"


def normalize_split(value: object) -> str | None:
    """A source's split name as ours, or None when it has none we know (``restval`` -> ``train``)."""
    if not isinstance(value, str):
        return None
    return _SOURCE_SPLITS.get(value.strip().lower())
