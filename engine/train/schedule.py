"""Learning-rate schedule: linear warmup then cosine decay to zero (open_clip's ``cosine_lr``)."""

from __future__ import annotations

import math


def cosine_lr(base_lr: float, warmup: int, total: int, step: int) -> float:
    if step < warmup:
        return base_lr * (step + 1) / warmup
    e = step - warmup
    es = max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * e / es)) * base_lr
