"""Learnable anchors for SSPC: ``K`` directions in a feature space, scored by cosine similarity.

As the public code's ``ClusterAssignments`` (``everything_at_once/model/fusion_model.py``): a linear layer
``K x d`` whose rows are L2-normalised when used; the weights are initialised from a standard normal
(``torch.nn.init.normal_``), i.e. directions uniform on the sphere. The code's layer carries a bias it never
uses; ours has none. The code normalises the features before the layer; here ``forward`` does it, so raw
encoder outputs can be passed directly.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from .base import LossError


class Anchors(nn.Module):
    """``scores = normalize(x) @ normalize(W)^T``: ``[N, d] -> [N, K]`` in ``[-1, 1]``."""

    def __init__(self, dim: int, num_anchors: int) -> None:
        super().__init__()
        if dim < 1 or num_anchors < 1:
            raise LossError(f"anchors need dim >= 1 and num_anchors >= 1, got {dim} and {num_anchors}")
        self.linear = nn.Linear(dim, num_anchors, bias=False)
        nn.init.normal_(self.linear.weight)

    @property
    def dim(self) -> int:
        return self.linear.in_features

    @property
    def num_anchors(self) -> int:
        return self.linear.out_features

    def directions(self) -> Tensor:
        """The anchors as unit rows, ``[K, d]``."""
        return F.normalize(self.linear.weight, dim=1)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.dim:
            raise LossError(f"anchors of dimension {self.dim} were given features of dimension {x.shape[-1]}")
        w = self.directions()
        return F.normalize(x.to(w.dtype), dim=-1) @ w.T
