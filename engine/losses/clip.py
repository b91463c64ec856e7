"""``clip``: the symmetric InfoNCE of CLIP (Radford et al. 2021, the pseudocode of Fig. 3), the baseline.

With one visual and one caption per item this is exactly ``open_clip.loss.ClipLoss`` on one process::

    S_ij = logit_scale * <v_i, t_j>
    L = ( CE(S, diag) + CE(S^T, diag) ) / 2

Multifold batches: CLIP-style training takes one positive pair per item (MXM-CLR, Sec. 1), so this loss
keeps one observation per item and modality. The visual side is the pooled ``shape`` embedding when the
batch has one (shape datasets), else the item's *first* image observation (the first view); the text side
is the item's *first* caption. The multifold sampler draws views and captions in random order, so "first"
is a uniformly random caption per item and step, as in CLIP training on Text2Shape / Flickr30K.
Consequence, documented in the README: the value depends on which observation comes first within an item
(not on the order of the items), unlike ``mxm`` and ``gcl`` which use every observation.
"""

from __future__ import annotations

from torch import Tensor

from .base import (
    Embeddings,
    LossError,
    LossOutput,
    MultifoldLoss,
    compute_dtype,
    first_per_item,
    positive_mask,
    soft_cross_entropy,
)
from .names import CLIP

VISUAL_CHOICES = ("auto", "shape", "image")


def visual_modality(batch: Embeddings, choice: str) -> str:
    """Resolve ``auto`` to ``shape`` when the batch has pooled shapes, else ``image``."""
    if choice not in VISUAL_CHOICES:
        raise LossError(f"visual must be one of {', '.join(VISUAL_CHOICES)}, not {choice!r}")
    return batch.visual() if choice == "auto" else choice


def one_per_item(emb: Tensor, items: Tensor) -> tuple[Tensor, Tensor]:
    """The first observation of every item and the item ids, in order of first appearance."""
    idx = first_per_item(items)
    return emb[idx], items[idx]


def symmetric_infonce(a: Tensor, ia: Tensor, t: Tensor, it: Tensor, logit_scale: Tensor) -> tuple[Tensor, Tensor]:
    """Both directions of the (multi-positive) InfoNCE between two sets of observations.

    ``S = logit_scale * a t^T``; the targets of a row are the columns of the same item (uniform weights, the
    sum outside the log). With one observation per item on each side this is CLIP's cross-entropy against the
    diagonal in each direction. Returns ``(a->t, t->a)``, each a mean over the queries that have a positive.
    """
    dtype = compute_dtype(a, t, logit_scale)
    logits = logit_scale.to(dtype) * (a.to(dtype) @ t.to(dtype).T)
    pos = positive_mask(ia, it)
    return soft_cross_entropy(logits, pos), soft_cross_entropy(logits.T, pos.T)


class ClipLoss(MultifoldLoss):
    """CLIP's symmetric InfoNCE on one (visual, caption) pair per item.

    Options:
        visual: ``"auto"`` (``shape`` if the batch has it, else ``image``), ``"shape"`` or ``"image"``.

    Parts: ``image_text`` (visual -> text) and ``text_image`` (text -> visual), weights 0.5 each. "image" in
    the part names means the visual modality (the pooled shape on shape datasets).
    """

    name = CLIP

    def __init__(self, visual: str = "auto") -> None:
        super().__init__()
        if visual not in VISUAL_CHOICES:
            raise LossError(f"visual must be one of {', '.join(VISUAL_CHOICES)}, not {visual!r}")
        self.visual = visual

    def forward(self, batch: Embeddings, logit_scale: Tensor) -> LossOutput:
        a, ia = one_per_item(*batch.get(visual_modality(batch, self.visual)))
        t, it = one_per_item(*batch.get("text"))
        a2t, t2a = symmetric_infonce(a, ia, t, it, logit_scale)
        return LossOutput(
            total=(a2t + t2a) / 2,
            parts={"image_text": a2t, "text_image": t2a},
            weights={"image_text": 0.5, "text_image": 0.5},
        )
