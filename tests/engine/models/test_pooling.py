"""View pooling: mean = normalised mean of normalised views; learnable pools are order-free and trainable."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.models.pooling import POOLINGS, AttentionPool, GatedAttentionPool, MeanPool, build_pool

D = 8


def _views(b: int = 3, v: int = 4, d: int = D, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, v, d, generator=g) * torch.rand(b, v, 1, generator=g) * 5).to(dtype)


def _randomise(pool: torch.nn.Module, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in pool.parameters():
            p.copy_(torch.randn(p.shape, generator=g))


def test_mean_pool_is_normalised_mean_of_normalised_views() -> None:
    x = _views()  # deliberately not normalised, different norms per view
    raw = torch.randn(3, 4, 5)
    pooled, pooled_raw = MeanPool()(x, raw)
    expected = F.normalize(F.normalize(x, dim=-1).mean(dim=1), dim=-1)
    torch.testing.assert_close(pooled, expected)
    torch.testing.assert_close(pooled.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(pooled_raw, raw.mean(dim=1))
    assert list(MeanPool().parameters()) == []
    # differs from the normalised mean of the unnormalised views (the views' norms must not matter)
    assert not torch.allclose(pooled, F.normalize(x.mean(dim=1), dim=-1), atol=1e-3)


def test_mean_pool_mask_leaves_padded_views_out() -> None:
    x = _views()
    mask = torch.tensor([[True, True, False, False], [True, False, False, False], [True, True, True, True]])
    pooled, _ = MeanPool()(x, mask=mask)
    for i in range(3):
        ref = F.normalize(F.normalize(x[i, mask[i]], dim=-1).mean(dim=0), dim=-1)
        torch.testing.assert_close(pooled[i], ref)


@pytest.mark.parametrize("cls", [AttentionPool, GatedAttentionPool])
def test_learnable_pools_start_as_mean_pooling(cls) -> None:
    x = _views()
    torch.testing.assert_close(cls(D)(x)[0], MeanPool()(x)[0])


@pytest.mark.parametrize("cls", [AttentionPool, GatedAttentionPool])
def test_learnable_pools_are_permutation_invariant_over_views(cls) -> None:
    pool = cls(D, hidden=6)
    _randomise(pool)
    x, raw = _views(v=5), torch.randn(3, 5, 7)
    pooled, pooled_raw = pool(x, raw)
    # not just mean pooling once the parameters moved (else the test would be vacuous)
    assert not torch.allclose(pooled, MeanPool()(x)[0], atol=1e-3)
    w = pool.weights(x)
    torch.testing.assert_close(w.sum(dim=-1), torch.ones(3))
    for seed in range(3):
        perm = torch.randperm(5, generator=torch.Generator().manual_seed(seed))
        p2, r2 = pool(x[:, perm], raw[:, perm])
        torch.testing.assert_close(p2, pooled)
        torch.testing.assert_close(r2, pooled_raw)
        torch.testing.assert_close(pool.weights(x[:, perm]), w[:, perm])
    torch.testing.assert_close(pooled.norm(dim=-1), torch.ones(3))
    # the raw features are pooled with the same weights
    torch.testing.assert_close(pooled_raw, (w.unsqueeze(-1) * raw).sum(dim=1))


@pytest.mark.parametrize("cls", [AttentionPool, GatedAttentionPool])
def test_learnable_pools_are_differentiable(cls) -> None:
    pool = cls(D, hidden=4).double()
    _randomise(pool)
    x = _views(b=2, v=3, dtype=torch.float64).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: pool(v)[0], (x,))
    # every parameter gets a gradient, from the very first step (zero-initialised query included)
    fresh = cls(D)
    target = F.normalize(torch.randn(3, D), dim=-1)
    loss = -(fresh(_views())[0] * target).sum()
    loss.backward()
    for name, p in fresh.named_parameters():
        if name in ("query", "score.weight"):
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_learnable_pool_can_learn_to_pick_a_view() -> None:
    # views 0 are the "informative" ones; a trained attention pool should weight them up
    torch.manual_seed(0)
    pool = AttentionPool(D)
    opt = torch.optim.Adam(pool.parameters(), lr=0.05)
    signal = F.normalize(torch.randn(D), dim=0)
    for _ in range(100):
        x = torch.randn(16, 3, D)
        x[:, 0] = signal + 0.1 * torch.randn(16, D)
        loss = -(pool(x)[0] @ signal).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    x = torch.randn(16, 3, D)
    x[:, 0] = signal + 0.1 * torch.randn(16, D)
    assert pool.weights(x)[:, 0].mean() > 0.6


def test_build_pool_names() -> None:
    assert POOLINGS == ("mean", "attention", "gated")
    assert isinstance(build_pool("mean", D), MeanPool)
    assert isinstance(build_pool("attention", D), AttentionPool)
    assert isinstance(build_pool("gated", D), GatedAttentionPool)
    with pytest.raises(ValueError, match="unknown view pooling"):
        build_pool("max", D)


def test_bad_shapes_are_rejected() -> None:
    with pytest.raises(ValueError):
        MeanPool()(torch.randn(3, D))
    with pytest.raises(ValueError):
        MeanPool()(_views(), mask=torch.ones(3, 2, dtype=torch.bool))
