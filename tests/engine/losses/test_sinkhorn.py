"""Multi-SK: the vectorised log-space solver against the loop-based reference, and its invariants."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.losses.base import LossError
from engine.losses.sinkhorn import (
    copy_weights,
    multi_assignment,
    multi_sinkhorn,
    required_count,
    target_marginals,
)
from engine.losses.sinkhorn_reference import multi_assignment_reference, multi_sinkhorn_reference


def cosine_scores(n: int, k: int, seed: int, dim: int = 16, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.normalize(torch.randn(n, dim, generator=g, dtype=torch.float64), dim=1)
    a = torch.nn.functional.normalize(torch.randn(k, dim, generator=g, dtype=torch.float64), dim=1)
    return (x @ a.T).to(dtype)


CASES = [  # n, k, rho, eps, discrete
    (12, 4, 0.5, 0.07, True),
    (37, 8, 0.25, 0.07, True),
    (50, 16, 0.5, 0.1, True),
    (9, 12, 0.5, 0.05, True),  # fewer samples than anchors: the target clamps at 1
    (30, 6, 1.0, 0.2, True),  # r = K: every copy has weight 1
    (25, 10, 0.3, 0.07, False),  # continuous copy weights: all copies distinct
    (40, 8, 0.5, 0.01, True),  # small eps (fine in float64 for the reference)
]


@pytest.mark.parametrize("group_copies", [True, False])
@pytest.mark.parametrize(("n", "k", "rho", "eps", "discrete"), CASES)
def test_vectorised_matches_reference(n, k, rho, eps, discrete, group_copies):
    scores = cosine_scores(n, k, seed=n * k)
    ref = multi_assignment_reference(scores.numpy(), eps, 20, rho, discrete=discrete)
    out64 = multi_assignment(scores, eps, 20, rho, discrete=discrete, group_copies=group_copies)
    out32 = multi_assignment(scores.float(), eps, 20, rho, discrete=discrete, group_copies=group_copies)
    assert out64.dtype == torch.float64 and out32.dtype == torch.float32
    np.testing.assert_allclose(out64.numpy(), ref, atol=1e-10, rtol=0)
    np.testing.assert_allclose(out32.double().numpy(), ref, atol=1e-5, rtol=1e-5)


def test_plan_matches_reference_with_class_dist():
    """The per-copy plan, with a non-uniform target that the solver must re-sort to the current marginals."""
    n, k, r = 40, 6, 2
    scores = cosine_scores(n, k, seed=3)
    class_dist = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    ref = multi_sinkhorn_reference(scores.numpy(), 0.1, 15, r, class_dist=class_dist)
    for group_copies in (True, False):
        plan = multi_sinkhorn(scores, 0.1, 15, r, class_dist=torch.tensor(class_dist), group_copies=group_copies)
        assert plan.shape == (k, n, k)
        np.testing.assert_allclose(plan.numpy(), ref, atol=1e-12, rtol=1e-9)


def test_non_uniform_target_is_infeasible_and_ends_uniform():
    """Cells summing to 1 over K copies force every anchor's mass, summed over copies, to N; with the target
    shared by all copies that means N / K per copy. A non-uniform ``class_dist`` (which the code re-sorts) can
    therefore not be met: the last two scalings win and the columns end uniform (engine/losses/README.md)."""
    n, k = 60, 4
    scores = cosine_scores(n, k, seed=5)
    scores[:, 2] -= 0.5
    plan = multi_sinkhorn(scores, 0.2, 200, 2, class_dist=torch.tensor([4.0, 3.0, 2.0, 1.0]))
    torch.testing.assert_close(plan.sum(dim=1), torch.full((k, k), n / k, dtype=plan.dtype), atol=1e-3, rtol=0)
    torch.testing.assert_close(plan.sum(dim=0), torch.ones(n, k, dtype=plan.dtype), atol=1e-4, rtol=0)
    target = target_marginals(n, k, torch.tensor([4.0, 3.0, 2.0, 1.0]), dtype=torch.float64)
    assert (target - n / k).abs().max() > 5  # ... although the target asked for 24 / 18 / 12 / 6


@pytest.mark.parametrize("discrete", [True, False])
def test_marginals_hold_after_convergence(discrete):
    n, k, r = 48, 8, 4
    scores = cosine_scores(n, k, seed=11)
    plan = multi_sinkhorn(scores, eps=0.5, iterations=1000, required=r, discrete=discrete)
    assert plan.shape == (k, n, k)
    # Rows of every copy sum to 1 (the last step), exactly.
    torch.testing.assert_close(plan.sum(dim=2), torch.ones(k, n, dtype=plan.dtype), atol=1e-12, rtol=0)
    # Each (sample, anchor) cell sums to 1 over the copies.
    torch.testing.assert_close(plan.sum(dim=0), torch.ones(n, k, dtype=plan.dtype), atol=1e-4, rtol=0)
    # Every copy's columns reach the target (uniform: N / K).
    torch.testing.assert_close(plan.sum(dim=1), torch.full((k, k), n / k, dtype=plan.dtype), atol=1e-3, rtol=0)


def test_not_converged_plan_is_not_doubly_constrained():
    """Guards the test above: after one iteration the cell marginals are still off."""
    scores = cosine_scores(48, 8, seed=11)
    plan = multi_sinkhorn(scores, eps=0.5, iterations=1, required=4)
    assert (plan.sum(dim=0) - 1).abs().max() > 1e-3


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_output_is_soft_multi_hot(dtype):
    out = multi_assignment(cosine_scores(100, 16, seed=2, dtype=dtype))
    assert out.shape == (100, 16) and out.dtype == dtype
    assert bool(((out >= 0) & (out <= 1)).all())
    assert torch.equal(out.amin(dim=1), torch.zeros(100, dtype=dtype))
    assert torch.equal(out.amax(dim=1), torch.ones(100, dtype=dtype))
    # Multi-assignment: with rho = 0.5 a sample is close to several anchors, not one.
    assert float((out > 0.5).sum(dim=1).float().mean()) > 1.0


def test_constant_row_gives_zeros_not_nan():
    scores = cosine_scores(20, 4, seed=1)
    scores[3] = 0.0
    scores[:, :] = scores[3]  # every row identical and constant
    out = multi_assignment(scores, 0.07, 20, 0.5)
    assert torch.isfinite(out).all()


def test_no_overflow_with_large_scores_and_small_eps():
    """|P| = 1 and eps = 0.01: exp(P / eps) = e^100 overflows float32; the log-space solver does not."""
    g = torch.Generator().manual_seed(0)
    scores = torch.sign(torch.randn(64, 8, generator=g)) * torch.rand(64, 8, generator=g).clamp(min=0.5)
    scores[0, 0], scores[1, 1] = 1.0, -1.0
    assert torch.isinf(torch.exp(scores.float() / 0.01)).any()  # the naive float32 computation overflows
    out32 = multi_assignment(scores.float(), eps=0.01, iterations=20, required_fraction=0.5)
    out64 = multi_assignment(scores.double(), eps=0.01, iterations=20, required_fraction=0.5)
    assert torch.isfinite(out32).all() and torch.isfinite(out64).all()
    assert bool(((out32 >= 0) & (out32 <= 1)).all())
    ref = multi_assignment_reference(scores.double().numpy(), 0.01, 20, 0.5)  # float64: no overflow at e^100
    np.testing.assert_allclose(out64.numpy(), ref, atol=1e-10, rtol=0)
    np.testing.assert_allclose(out32.double().numpy(), ref, atol=1e-5, rtol=1e-5)
    # Far beyond float64 too: scores of magnitude 100 (e^10000) still give a finite assignment.
    huge = multi_assignment(scores.double() * 100, eps=0.01)
    assert torch.isfinite(huge).all()


def test_rows_are_permutation_equivariant():
    scores = cosine_scores(30, 8, seed=9)
    perm = torch.randperm(30, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(multi_assignment(scores[perm]), multi_assignment(scores)[perm], atol=1e-12, rtol=0)


def test_half_precision_scores_are_solved_in_float32():
    scores = cosine_scores(32, 8, seed=4)
    out = multi_assignment(scores.half())
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


def test_copy_weights_and_required_count():
    assert required_count(64, 0.5) == 32
    assert copy_weights(8, 3).tolist() == [0.25] * 5 + [1.0] * 3
    cont = copy_weights(4, 2, discrete=False)
    torch.testing.assert_close(cont, torch.tensor([0.325, 0.55, 0.775, 1.0], dtype=torch.float64))
    for bad in (0.0, 0.01, 1.5):
        with pytest.raises(LossError):
            required_count(16, bad)
    with pytest.raises(LossError):
        multi_assignment(torch.zeros(4, 4), eps=0.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_matches_cpu(dtype):
    scores = cosine_scores(300, 16, seed=7, dtype=dtype)
    cpu = multi_assignment(scores)
    gpu = multi_assignment(scores.cuda())
    assert gpu.is_cuda
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-5, rtol=1e-5)
