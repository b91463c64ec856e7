"""The trained module: encoders plus the objective, so DDP syncs the loss's own parameters too."""

from __future__ import annotations

from torch import Tensor, nn

from engine.losses.base import LossOutput, MultifoldLoss
from engine.train.distributed import DistEnv, gather_embeddings


class TrainModule(nn.Module):
    def __init__(self, encoder: nn.Module, loss: MultifoldLoss, shapes: bool) -> None:
        super().__init__()
        self.encoder = encoder
        self.loss = loss
        self.shapes = shapes
        self.env = DistEnv()
        self.gather_with_grad = False

    def forward(self, images: Tensor, tokens: Tensor, items: Tensor) -> LossOutput:
        batch = self.encoder(images, tokens, items, shape=self.shapes)
        batch = gather_embeddings(batch, self.env, self.gather_with_grad)
        return self.loss(batch, self.encoder.logit_scale)


def param_groups(module: nn.Module, weight_decay: float) -> list[dict]:
    """open_clip's split: no weight decay for gains, biases, norms, logit scale and 1-d tensors."""
    decay, no_decay = [], []
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        exclude = p.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name
        (no_decay if exclude else decay).append(p)
    return [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]
