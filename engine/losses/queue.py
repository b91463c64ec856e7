"""A FIFO of recent feature vectors kept as module buffers, so a checkpoint saves and restores it exactly.

SSPC solves its anchor assignments on ``[queue; batch]`` so the solver sees enough samples (the public code
keeps 5,500 per modality and space). The public code shifts the whole queue by ``B`` rows on every step;
this one is a ring buffer (``ptr`` is the next slot to write). The two hold the same *set* of rows; only the
slots differ, and Multi-SK is equivariant to the order of its rows, so the assignments are the same.

Buffers: ``features [size, dim]`` (float32), ``ptr`` (next slot), ``filled`` (rows written, capped at size).
``push`` is deterministic given its input (plain indexed writes, no atomics), so under DDP every rank, fed the
same gathered batch, holds the same queue.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import LossError


class FeatureQueue(nn.Module):
    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if size < 1 or dim < 1:
            raise LossError(f"a feature queue needs size >= 1 and dim >= 1, got {size} and {dim}")
        self.register_buffer("features", torch.zeros(size, dim, dtype=torch.float32))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))

    @property
    def size(self) -> int:
        return self.features.shape[0]

    @property
    def dim(self) -> int:
        return self.features.shape[1]

    def is_full(self) -> bool:
        return int(self.filled) >= self.size

    def contents(self) -> Tensor:
        """The stored rows, oldest first: ``[min(filled, size), dim]``."""
        n = int(self.filled)
        if n < self.size:
            return self.features[:n]
        return torch.roll(self.features, shifts=-int(self.ptr), dims=0)

    @torch.no_grad()
    def push(self, x: Tensor) -> None:
        """Append the rows of ``x`` (detached, cast to float32); the oldest rows are overwritten when full.

        A batch larger than the queue keeps its last ``size`` rows.
        """
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise LossError(f"a queue of dimension {self.dim} was given rows of shape {tuple(x.shape)}")
        x = x.detach().to(device=self.features.device, dtype=self.features.dtype)
        b = x.shape[0]
        if b == 0:
            return
        if b > self.size:
            x = x[b - self.size :]
        n = x.shape[0]
        slots = (self.ptr + torch.arange(n, device=self.features.device)) % self.size
        self.features[slots] = x
        self.ptr.copy_((self.ptr + n) % self.size)
        self.filled.copy_(torch.clamp(self.filled + b, max=self.size))

    def extra_repr(self) -> str:
        return f"size={self.size}, dim={self.dim}"
