"""Fused embeddings for GCL: one embedding from two modalities of the same item.

Crossfold's towers form a dual encoder (CLIP-style, no cross-attention), so the fused key/query of an
item is score-level fusion: ``fuse(a, b) = normalize(a + b)``. For unit vectors this is the direction
of the bisector of ``a`` and ``b``; its dot product with a query ``q`` is
``(q·a + q·b) / |a + b|``, i.e. the sum of the two single-modality scores up to a per-item factor.
The paper side (which pairs GCL fuses, how the terms are weighted) is documented with the losses.

With multifold data an item has several observations per modality; :func:`fuse_pairs` fuses every
cross-modal pair of observations that belong to the same item (``V × C`` fused embeddings per item
for ``V`` views and ``C`` captions), keeping the item id of each.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from engine.models import configs as _configs  # noqa: F401 - registers our configs with open_clip


def fuse(a: Tensor, b: Tensor) -> Tensor:
    """``normalize(a + b)`` along the last dimension (``a`` and ``b`` broadcast)."""
    return F.normalize(a + b, dim=-1)


def fuse_pairs(a: Tensor, items_a: Tensor, b: Tensor, items_b: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Fuse every pair ``(a[i], b[j])`` with ``items_a[i] == items_b[j]``.

    Returns ``(fused [P, D], items [P], index_a [P], index_b [P])``, pairs ordered by ``i`` then ``j``.
    """
    if a.shape[0] != items_a.shape[0] or b.shape[0] != items_b.shape[0]:
        raise ValueError("every embedding needs one item id")
    same = items_a.view(-1, 1) == items_b.view(1, -1)
    index_a, index_b = torch.nonzero(same, as_tuple=True)
    return fuse(a[index_a], b[index_b]), items_a[index_a], index_a, index_b


def fuse_first(a: Tensor, items_a: Tensor, b: Tensor, items_b: Tensor) -> tuple[Tensor, Tensor]:
    """One fused embedding per item of ``a``: each row of ``a`` with the first row of ``b`` of its item.

    For item-level ``a`` (pooled shapes, or one image per item) and multifold ``b`` (captions), this is
    the one-pair-per-item form. Every item of ``a`` must occur in ``items_b``.
    Returns ``(fused [len(a), D], items_a)``.
    """
    same = items_a.view(-1, 1) == items_b.view(1, -1)
    if not bool(same.any(dim=1).all()):
        raise ValueError("an item of `a` has no observation in `b`")
    first = same.int().argmax(dim=1)  # index of the first True per row
    return fuse(a, b[first]), items_a
