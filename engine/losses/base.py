"""The one interface every objective implements, and the numerics the objectives share.

A batch of ``B`` items reaches a loss as L2-normalised embeddings of observations, each tagged with
the (global) id of the item it belongs to, so a loss knows which observations are positives of each
other whatever the number of views or captions per item:

* ``image``: embeddings of image observations (the rendered views of shapes, or images), ``[Na, d]``;
* ``text``: embeddings of captions, ``[Nt, d]``;
* ``shape``: item-level embeddings pooled from the views (shape datasets only), ``[B, d]``;
* ``fused`` (optional): fused image+text embeddings made by a model with its own fusion encoder (GCL).

``raw`` holds the encoders' outputs before the final projection (the "input space" SSPC needs), keyed
like ``emb``. Under DDP the features are already gathered across ranks (the train loop does it) and
item ids are global. Item ids are any integers (catalogue ids); only equality between them matters.

A loss returns the scalar to minimise plus its named parts (detached copies are what the app plots) and,
where the total is a weighted sum of parts, the weights (``total == sum(weights[k] * parts[k])``).

Numerics shared by the losses (see ``engine/losses/README.md``): logits are ``logit_scale * sim``
computed in float32 (float64 when an input is float64, e.g. in ``gradcheck``), log-probabilities come
from ``log_softmax`` (a logsumexp), and every reduction is over sets of observations, so a loss does not
depend on the order of the items or observations in the batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from engine.errors import CrossfoldError


class LossError(CrossfoldError, ValueError):
    """A loss was configured wrongly or given a batch it cannot use (message names the problem)."""


@dataclass
class Embeddings:
    emb: dict[str, Tensor]
    items: dict[str, Tensor]
    raw: dict[str, Tensor] = field(default_factory=dict)

    def modalities(self) -> list[str]:
        return list(self.emb)

    def visual(self) -> str:
        """The item-level visual modality: ``shape`` when present, else ``image``."""
        return "shape" if "shape" in self.emb else "image"

    def get(self, modality: str) -> tuple[Tensor, Tensor]:
        """``(embeddings [N, d], item ids [N])`` of one modality; ``LossError`` when it is missing or malformed."""
        if modality not in self.emb:
            raise LossError(f"the batch has no {modality!r} embeddings (it has: {', '.join(self.emb) or 'none'})")
        if modality not in self.items:
            raise LossError(f"the batch has {modality!r} embeddings but no item ids for them")
        emb, items = self.emb[modality], self.items[modality]
        if emb.dim() != 2 or items.dim() != 1 or emb.shape[0] != items.shape[0]:
            raise LossError(
                f"{modality!r}: expected embeddings [N, d] and item ids [N], got {tuple(emb.shape)} and "
                f"{tuple(items.shape)}"
            )
        return emb, items


@dataclass
class LossOutput:
    total: Tensor
    parts: dict[str, Tensor]
    weights: dict[str, float] = field(default_factory=dict)

    def detached(self) -> dict[str, float]:
        return {"loss": float(self.total.detach()), **{k: float(v.detach()) for k, v in self.parts.items()}}

    def weighted_sum(self) -> Tensor:
        """``sum(weights[k] * parts[k])``: equals ``total`` for every loss that declares its weights."""
        return sum((w * self.parts[k] for k, w in self.weights.items()), torch.zeros_like(self.total))


class MultifoldLoss(nn.Module):
    """Base class: ``forward(batch, logit_scale) -> LossOutput``.

    ``logit_scale`` is the model's learnable ``logit_scale`` already exponentiated (open_clip's
    convention: ``1/τ``, clamped at 100 by the model).
    """

    name: str = "base"

    def forward(self, batch: Embeddings, logit_scale: Tensor) -> LossOutput:  # pragma: no cover
        raise NotImplementedError


def positive_mask(rows: Tensor, cols: Tensor) -> Tensor:
    """``[len(rows), len(cols)]`` boolean mask: True where both observations share an item."""
    return rows.view(-1, 1) == cols.view(1, -1)


def first_per_item(items: Tensor) -> Tensor:
    """Index of the first observation of every distinct item, in order of first appearance.

    Works for any integer ids (large catalogue ids, negative ids) without allocating ``max(id)`` slots.
    """
    n = items.numel()
    if n == 0:
        return torch.zeros(0, dtype=torch.long, device=items.device)
    _, inverse = torch.unique(items, return_inverse=True)
    order = torch.arange(n, device=items.device)
    first = torch.full((int(inverse.max()) + 1,), n, device=items.device, dtype=torch.long)
    first.scatter_reduce_(0, inverse, order, reduce="amin")
    return first.sort().values


def compute_dtype(*tensors: Tensor) -> torch.dtype:
    """float64 when any input is float64 (gradcheck), else float32 (half-precision inputs are upcast)."""
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32


def pool_per_item(emb: Tensor, items: Tensor) -> tuple[Tensor, Tensor]:
    """Mean of each item's observations, L2-normalised; rows ordered by ascending item id.

    Returns ``(pooled [K, d], item ids [K])``. The order does not depend on the order of the input rows, and
    an item with one observation gets that (already normalised) observation back.
    """
    ids, inverse = torch.unique(items, return_inverse=True)
    sums = torch.zeros(ids.numel(), emb.shape[1], dtype=emb.dtype, device=emb.device)
    sums = sums.index_add(0, inverse, emb)
    return nn.functional.normalize(sums, dim=-1), ids


def soft_cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    """Mean over rows of ``-sum_j q_ij log softmax(logits_i)_j`` with ``q_i = target_i / sum_j target_ij``.

    ``logits`` may hold ``-inf`` for candidates a row must not see. ``target`` is a non-negative weight per
    candidate (a boolean positive mask gives the multi-positive InfoNCE with the sum outside the log; a one-hot
    mask gives the ordinary cross-entropy). Rows whose target is all zero (a query with no positive in the
    batch) are left out of the mean; with no such row at all the result is a zero that still carries a graph.
    """
    target = torch.where(torch.isfinite(logits), target.to(logits.dtype), 0.0)  # an unseen candidate is no target
    mass = target.sum(dim=1)
    rows = mass > 0
    if not bool(rows.any()):
        return logits.sum() * 0.0
    logp = torch.log_softmax(logits[rows], dim=1)
    q = target[rows] / mass[rows].unsqueeze(1)
    # Candidates with zero target weight contribute 0 (not 0 * -inf = NaN for the excluded ones).
    per_row = -(q * torch.where(q > 0, logp, torch.zeros_like(logp))).sum(dim=1)
    return per_row.mean()
