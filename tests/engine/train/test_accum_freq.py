"""``--accum-freq``: gradients of micro-batches with cached features equal those of the whole batch."""

from __future__ import annotations

import contextlib

import pytest
import torch

from engine.losses import build_loss
from engine.models import build_encoder
from engine.train.loop import _forward_backward
from engine.train.objective import TrainModule


@pytest.mark.parametrize("loss", ["clip", "mxm", "gcl"])
def test_accumulated_gradients_equal_full_batch(loss: str) -> None:
    g = torch.Generator().manual_seed(0)
    images = torch.randn(4, 2, 3, 64, 64, generator=g)
    tokens = torch.randint(1, 1000, (4, 2, 32), generator=g)
    items = torch.arange(4)
    grads = []
    for accum in (1, 2):
        torch.manual_seed(0)
        module = TrainModule(build_encoder("cf-vit-tiny-64")[0], build_loss(loss), shapes=True)
        out = _forward_backward(module, module, images, tokens, items, accum, contextlib.nullcontext, None, 1)
        assert torch.isfinite(out.total)
        grads.append({n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None})
    assert set(grads[0]) == set(grads[1])
    for name, want in grads[0].items():
        torch.testing.assert_close(grads[1][name], want, rtol=1e-4, atol=1e-6, msg=name)
