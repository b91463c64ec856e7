"""DDP set-up under ``torchrun`` and the feature gathering every multifold loss needs.

Features of all ranks are gathered before the loss, so every rank computes the loss of the whole
global batch (item ids are catalogue ids, hence already global). As in open_clip's
``gather_features``: without ``gather_with_grad`` the local slice keeps its graph and the other ranks'
slices are constants. Parameters used on the gathered batch (the logit scale, SSPC's anchors) then get
the full gradient on every rank, but the encoders only the part through their local slice; so the
gradient into the local slice is multiplied by the world size, and DDP's averaging yields exactly the
gradient of the single-process loss on the global batch, for every parameter. With
``gather_with_grad`` the gather is differentiable (its backward sums over ranks), which does the same.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor

from engine.losses.base import Embeddings


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device_type: str) -> DistEnv:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistEnv()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return DistEnv(rank=rank, world_size=world, local_rank=local_rank)


class _ScaleGrad(torch.autograd.Function):
    """Identity forward; multiplies the gradient by ``factor`` on the way back."""

    @staticmethod
    def forward(ctx, t: Tensor, factor: float) -> Tensor:  # noqa: ANN001
        ctx.factor = factor
        return t.view_as(t)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # noqa: ANN001
        return grad * ctx.factor, None


def scale_grad(t: Tensor, factor: float) -> Tensor:
    """``t`` itself, whose gradient is multiplied by ``factor`` on the way back."""
    return _ScaleGrad.apply(t, factor) if t.requires_grad and factor != 1.0 else t


def _gather(t: Tensor, env: DistEnv, with_grad: bool) -> Tensor:
    if with_grad:
        return torch.cat(torch.distributed.nn.functional.all_gather(t), dim=0)
    parts = [torch.empty_like(t) for _ in range(env.world_size)]
    dist.all_gather(parts, t.detach().contiguous())
    parts[env.rank] = scale_grad(t, float(env.world_size))
    return torch.cat(parts, dim=0)


def gather_embeddings(batch: Embeddings, env: DistEnv, with_grad: bool) -> Embeddings:
    if not env.distributed:
        return batch
    return Embeddings(
        emb={k: _gather(v, env, with_grad) for k, v in batch.emb.items()},
        items={k: _gather(v, env, False) for k, v in batch.items.items()},
        raw={k: _gather(v, env, with_grad) for k, v in batch.raw.items()},
    )


def all_reduce_mean(value: float, env: DistEnv) -> float:
    if not env.distributed:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item()) / env.world_size
