"""The trained module: encoders plus the objective, so DDP syncs the loss's own parameters too."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from engine.losses.base import Embeddings, LossOutput, MultifoldLoss
from engine.train.distributed import DistEnv, gather_embeddings, scale_grad


def concat_embeddings(parts: Sequence[Embeddings]) -> Embeddings:
    keys = parts[0].emb.keys()
    return Embeddings(
        emb={k: torch.cat([p.emb[k] for p in parts]) for k in keys},
        items={k: torch.cat([p.items[k] for p in parts]) for k in keys},
        raw={k: torch.cat([p.raw[k] for p in parts]) for k in parts[0].raw},
    )


class TrainModule(nn.Module):
    def __init__(self, encoder: nn.Module, loss: MultifoldLoss, shapes: bool) -> None:
        super().__init__()
        self.encoder = encoder
        self.loss = loss
        self.shapes = shapes
        self.env = DistEnv()
        self.gather_with_grad = False

    def embed(self, images: Tensor, tokens: Tensor, items: Tensor) -> Embeddings:
        return self.encoder(images, tokens, items, shape=self.shapes)

    def forward(
        self,
        images: Tensor,
        tokens: Tensor,
        items: Tensor,
        cached: Sequence[Embeddings] | None = None,
        position: int = 0,
    ) -> LossOutput:
        """The loss of the batch; with ``cached`` (open_clip's ``--accum-freq``), the batch's fresh
        embeddings replace ``cached[position]`` and the loss runs over all micro-batches together."""
        batch = self.embed(images, tokens, items)
        logit_scale = self.encoder.logit_scale
        if cached:
            batch = concat_embeddings([*cached[:position], batch, *cached[position + 1 :]])
            # every micro-batch's loss depends on the logit scale in full: count it once over all of them
            logit_scale = scale_grad(logit_scale, 1.0 / len(cached))
        batch = gather_embeddings(batch, self.env, self.gather_with_grad)
        return self.loss(batch, logit_scale)


def param_groups(module: nn.Module, weight_decay: float) -> list[dict]:
    """open_clip's split: no weight decay for gains, biases, norms, logit scale and 1-d tensors."""
    decay, no_decay = [], []
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        exclude = p.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name
        (no_decay if exclude else decay).append(p)
    return [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]
