"""``mxm``: the multifold-aware hybrid loss of MXM-CLR (Wang, Jiang, Zou, Ma, arXiv 2303.10839, Sec. 3).

Every cross-modal pair of observations of the same item is a positive. On the observation-level logits

    (M1)  S_xy = logit_scale * <a_x, t_y>          a_x: image observations (views), t_y: captions
    (M2)  P_xy = [item(a_x) == item(t_y)],   H_xy = P_xy / sum_y' P_xy'         (hard targets)
    (M3)  L_hard = ( mean_x CE(H_x., softmax(S_x.)) + mean_y CE(H^T_y., softmax(S^T_y.)) ) / 2
    (M4)  Q_xy = P_xy exp(sigma <a_x, t_y>) / sum_{y' in P_x} exp(sigma <a_x, t_y'>)  (soft targets, no gradient)
    (M5)  L_soft = ( mean_x CE(Q_x., softmax(S_x.)) + mean_y CE(Q^T_y., softmax(S^T_y.)) ) / 2
    (M6)  L = (1 - lambda) L_hard + lambda L_soft

(M4) for the text->image direction normalises over the column's positives instead. ``sigma`` is the model's
``logit_scale`` (detached) unless ``soft_scale`` is given. The numbering (M1..M6) is ours: the paper's Section 3
text could not be read from here, so the README records which parts are confirmed and which are our choices.
With one observation per modality per item, ``H = Q = I`` and the loss equals ``clip`` exactly.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import Embeddings, LossError, LossOutput, MultifoldLoss, compute_dtype, positive_mask, soft_cross_entropy
from .names import MXM

VISUAL_CHOICES = ("auto", "image", "shape")


def soft_targets(sim: Tensor, pos: Tensor, scale: Tensor) -> Tensor:
    """(M4): a softmax of ``scale * sim`` over each row's positives, zero elsewhere; no gradient.

    Rows without a positive get an all-zero target (``soft_cross_entropy`` then leaves them out).
    """
    with torch.no_grad():
        masked = (scale * sim).masked_fill(~pos, float("-inf"))
        has_pos = pos.any(dim=1, keepdim=True)
        q = torch.softmax(masked.masked_fill(~has_pos, 0.0), dim=1)
        return torch.where(pos, q, torch.zeros_like(q))


class MXMLoss(MultifoldLoss):
    """MXM-CLR's multifold-aware hybrid loss (M1-M6) between image observations and captions.

    Options:
        soft_weight: ``lambda`` in (M6), in [0, 1]; 0 is the hard part only. Default 0.5.
        soft_scale: ``sigma`` in (M4); ``None`` (default) uses the model's ``logit_scale``, detached. Then the
            soft part has the gradient of the "sum inside the log" multi-positive InfoNCE
            ``-log sum_{y in P_x} softmax(S_x.)_y`` (they differ by the constant entropy of Q).
        visual: ``"auto"`` (the ``image`` observations, i.e. the views of shapes, when present, else the pooled
            ``shape``), ``"image"`` or ``"shape"``.

    Parts: ``hard`` (M3) and ``soft`` (M5), weights ``1 - lambda`` and ``lambda``.
    """

    name = MXM

    def __init__(self, soft_weight: float = 0.5, soft_scale: float | None = None, visual: str = "auto") -> None:
        super().__init__()
        if not 0.0 <= float(soft_weight) <= 1.0:
            raise LossError(f"soft_weight must lie in [0, 1], not {soft_weight}")
        if soft_scale is not None and float(soft_scale) < 0:
            raise LossError(f"soft_scale must be >= 0 (or None for the model's logit_scale), not {soft_scale}")
        if visual not in VISUAL_CHOICES:
            raise LossError(f"visual must be one of {', '.join(VISUAL_CHOICES)}, not {visual!r}")
        self.soft_weight = float(soft_weight)
        self.soft_scale = None if soft_scale is None else float(soft_scale)
        self.visual = visual

    def _visual(self, batch: Embeddings) -> str:
        if self.visual != "auto":
            return self.visual
        return "image" if "image" in batch.emb else "shape"

    def forward(self, batch: Embeddings, logit_scale: Tensor) -> LossOutput:
        a, ia = batch.get(self._visual(batch))
        t, it = batch.get("text")
        dtype = compute_dtype(a, t, logit_scale)
        scale = logit_scale.to(dtype)
        sim = a.to(dtype) @ t.to(dtype).T
        logits = scale * sim  # (M1)
        pos = positive_mask(ia, it)  # (M2)

        hard = (soft_cross_entropy(logits, pos) + soft_cross_entropy(logits.T, pos.T)) / 2  # (M3)

        sigma = (
            scale.detach()
            if self.soft_scale is None
            else torch.full((), self.soft_scale, dtype=dtype, device=sim.device)
        )
        q_a2t = soft_targets(sim, pos, sigma)
        q_t2a = soft_targets(sim.T, pos.T, sigma)
        soft = (soft_cross_entropy(logits, q_a2t) + soft_cross_entropy(logits.T, q_t2a)) / 2  # (M5)

        lam = self.soft_weight
        return LossOutput(
            total=(1.0 - lam) * hard + lam * soft,  # (M6)
            parts={"hard": hard, "soft": soft},
            weights={"hard": 1.0 - lam, "soft": lam},
        )
