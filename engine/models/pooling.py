"""View pooling: the embedding of a shape from the embeddings of its rendered views.

Every pool computes per-view weights ``w [B, V]`` (non-negative, summing to 1 over the views of an
item) from the L2-normalised view embeddings ``e [B, V, D]`` and returns

* ``shape = normalize(sum_v w_v e_v)`` — the item-level embedding, in the joint space;
* ``raw   = sum_v w_v r_v`` — the same weighted average of the views' pre-projection features (the
  "input space" of SSPC), when given; not normalised, like the raw features of the views.

Pools (``build_pool(name, dim)``):

``mean``
    uniform weights, no parameters: ``normalize(mean_v normalize(e_v))``.
``attention``
    one learnable query ``q [H]`` attending over the views: ``w = softmax_v(q · W_k e_v / sqrt(H))``
    with ``W_k`` a ``D -> H`` linear map (the values are the view embeddings themselves, so the
    result stays in the joint space and the same weights pool the raw features).
``gated``
    gated attention (Ilse, Tomczak, Welling, *Attention-based Deep Multiple Instance Learning*,
    ICML 2018): ``w = softmax_v(u · (tanh(W_a e_v) ⊙ sigmoid(W_g e_v)))``.

Both learnable pools start as mean pooling (``q`` and ``u`` are zero at init, so all scores are equal),
get a gradient from the first step on, and are invariant to the order of the views. An optional
boolean ``mask [B, V]`` (True = a real view) leaves padded views out; every item needs one real view.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.models import configs as _configs  # noqa: F401 - registers our configs with open_clip

POOLINGS = ("mean", "attention", "gated")


class ViewPool(nn.Module):
    """Base: subclasses implement :meth:`scores`; weights are their softmax over the views."""

    name = "base"

    def scores(self, views: Tensor) -> Tensor:  # pragma: no cover - abstract
        """Unnormalised ``[B, V]`` scores of normalised views ``[B, V, D]``."""
        raise NotImplementedError

    def weights(self, view_emb: Tensor, mask: Tensor | None = None) -> Tensor:
        """``[B, V]`` pooling weights (rows sum to 1) for view embeddings ``[B, V, D]``."""
        return self._weights(F.normalize(view_emb.to(self._dtype(view_emb)), dim=-1), mask)

    def _dtype(self, x: Tensor) -> torch.dtype:
        """Compute in the parameters' dtype, or at least float32 for a parameter-free pool."""
        for p in self.parameters():
            return p.dtype
        return torch.promote_types(x.dtype, torch.float32)

    def _weights(self, views: Tensor, mask: Tensor | None) -> Tensor:
        scores = self.scores(views)
        if mask is not None:
            scores = scores.masked_fill(~mask.to(device=scores.device, dtype=torch.bool), float("-inf"))
        return scores.softmax(dim=-1)

    def forward(
        self, view_emb: Tensor, view_raw: Tensor | None = None, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """``(shape_emb [B, D] normalised, shape_raw [B, d_raw] or None)`` from ``[B, V, ...]`` views."""
        if view_emb.ndim != 3:
            raise ValueError(f"view embeddings must be [B, V, D], got {tuple(view_emb.shape)}")
        if mask is not None and mask.shape != view_emb.shape[:2]:
            raise ValueError(f"mask must be [B, V] = {tuple(view_emb.shape[:2])}, got {tuple(mask.shape)}")
        views = F.normalize(view_emb.to(self._dtype(view_emb)), dim=-1)
        w = self._weights(views, mask).unsqueeze(-1)  # [B, V, 1]
        pooled = F.normalize((w * views).sum(dim=1), dim=-1).to(view_emb.dtype)
        raw = None
        if view_raw is not None:
            if view_raw.shape[:2] != view_emb.shape[:2]:
                raise ValueError(f"raw views {tuple(view_raw.shape)} do not match {tuple(view_emb.shape)}")
            raw = (w.to(view_raw.dtype) * view_raw).sum(dim=1)
        return pooled, raw


class MeanPool(ViewPool):
    """Normalised mean of the normalised view embeddings; no parameters."""

    name = "mean"

    def scores(self, views: Tensor) -> Tensor:
        return views.new_zeros(views.shape[:2])


class AttentionPool(ViewPool):
    """A learnable query attending over the views (single head, key dim ``hidden``)."""

    name = "attention"

    def __init__(self, dim: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or dim
        self.key = nn.Linear(dim, hidden, bias=False)
        self.query = nn.Parameter(torch.zeros(hidden))  # zero: starts as mean pooling
        self.scale = 1.0 / math.sqrt(hidden)

    def scores(self, views: Tensor) -> Tensor:
        return (self.key(views) @ self.query) * self.scale


class GatedAttentionPool(ViewPool):
    """Gated attention (Ilse et al. 2018): ``u · (tanh(W_a e) * sigmoid(W_g e))``."""

    name = "gated"

    def __init__(self, dim: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or dim
        self.attn = nn.Linear(dim, hidden)
        self.gate = nn.Linear(dim, hidden)
        self.score = nn.Linear(hidden, 1, bias=False)
        nn.init.zeros_(self.score.weight)  # starts as mean pooling

    def scores(self, views: Tensor) -> Tensor:
        h = torch.tanh(self.attn(views)) * torch.sigmoid(self.gate(views))
        return self.score(h).squeeze(-1)


def build_pool(name: str, dim: int, hidden: int | None = None) -> ViewPool:
    """The view pool called ``name`` (one of :data:`POOLINGS`) for ``dim``-dimensional embeddings."""
    if name == "mean":
        return MeanPool()
    if name == "attention":
        return AttentionPool(dim, hidden)
    if name == "gated":
        return GatedAttentionPool(dim, hidden)
    raise ValueError(f"unknown view pooling {name!r}; choose one of {', '.join(POOLINGS)}")
