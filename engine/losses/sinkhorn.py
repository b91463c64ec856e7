"""Multi-Assignment Sinkhorn-Knopp (Multi-SK), vectorised and in log space.

The algorithm of SSPC (Swetha et al., ICCV 2023, arXiv 2308.13077), as the public code implements it in
``everything_at_once/loss/combinatorial_loss.py`` (``multi_sinkhorn``, ``calculate_sk``, ``normalize_matrix``).
From scores ``P`` (``N`` samples x ``K`` anchors):

1. ``M = K`` copies of ``P``, copy ``m`` scaled by a weight ``w_m``: discrete variant (the one ``calculate_sk``
   uses) ``w_m = 1`` for the last ``r = int(rho * K)`` copies and ``0.25`` for the others; continuous variant
   ``w_m = 0.1 + 0.9 (m + 1) / K``. ``Q_m = exp(w_m P / eps)``, then ``Q /= Q.sum()`` (total mass 1).
2. Target anchor marginal ``c`` (uniform unless ``class_dist`` is given): ``c = N c / sum(c)``, clamped at 1,
   renormalised to sum ``N``; then *re-sorted to the current marginals*: the anchor with the smallest column
   mass of copy 0 gets the smallest target, and so on (``c[argsort(colsum(Q_0))] = sort(c)``). The same target
   is used for every copy. With the uniform default the re-sorting changes nothing.
3. ``iterations`` times (``delta = 1e-5`` is the code's ``min_val_eps``, added to every denominator):
   a. columns of every copy: ``A[m, :, k] *= c_k / (sum_i A[m, i, k] + delta)``;
   b. across copies: ``A[:, i, k] /= sum_m A[m, i, k] + delta``  (each (sample, anchor) cell sums to 1);
   c. rows of every copy: ``A[m, i, :] /= sum_k A[m, i, k] + delta``.
4. Rows of every copy normalised once more (no ``delta``): ``A[m, i, :] /= sum_k A[m, i, k]``.
5. ``calculate_sk``: sum of the last ``r`` copies, min-max normalised per row -> soft multi-hot in ``[0, 1]``.

Differences from the code, all numerical (same mathematics):

* Log space: ``log A`` is kept and every scaling is a ``logsumexp``; ``delta`` is kept exactly through
  ``log(S + delta) = logaddexp(log S, log delta)``. Nothing overflows for any score magnitude or ``eps`` (the
  code computes ``exp(P / eps)`` in float32, which overflows for ``|w P| / eps > 88.7``, e.g. ``|P| = 1`` and
  ``eps = 0.01``, and then replaces each ``inf`` by the largest finite entry, element by element). Where the
  code does not overflow its ``replace_inf`` is a no-op and the results agree.
* Copies with the same weight are identical at every step (every step treats the copies symmetrically and the
  target is shared), so the solver keeps one matrix per *distinct* weight with its multiplicity: 2 matrices in
  the discrete variant instead of ``K``. ``group_copies=False`` solves all ``K`` copies (the tests check both).
* A row whose assignment is constant (min == max) comes out as zeros instead of the code's ``0/0 = NaN``.

Everything is vectorised over samples, anchors and copies (a Python loop runs only over the iterations);
float32 and float64, CPU and CUDA. ``engine/losses/sinkhorn_reference.py`` is the loop-based baseline.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .base import LossError

LOW_WEIGHT = 0.25  # weight of the first K - r copies in the discrete variant (the code's MMF)
DENOM_EPS = 1e-5  # the code's min_val_eps


def required_count(num_anchors: int, required_fraction: float) -> int:
    """``r = int(K * rho)`` as ``calculate_sk`` computes it; must be in ``1..K``.

    (The code with ``r = 0`` would weight every copy 0.25 and, through ``A[-0:]``, sum *all* copies; we refuse.)
    """
    r = int(num_anchors * required_fraction)
    if not 1 <= r <= num_anchors:
        raise LossError(
            f"required_fraction={required_fraction} with {num_anchors} anchors gives r={r} required anchors; "
            f"it must be between 1 and {num_anchors}"
        )
    return r


def copy_weights(
    num_copies: int, required: int, discrete: bool = True, *, dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> Tensor:
    """The weight ``w_m`` of each copy (the code's ``MMF``), shape ``[M]``."""
    if not 1 <= required <= num_copies:
        raise LossError(f"required={required} must be between 1 and {num_copies}")
    if discrete:
        w = torch.ones(num_copies, dtype=dtype, device=device)
        w[: num_copies - required] = LOW_WEIGHT
        return w
    return (torch.arange(num_copies, dtype=dtype, device=device) + 1) / num_copies * 0.9 + 0.1


def target_marginals(num_rows: int, num_anchors: int, class_dist: Tensor | None = None,
                     **like: Any) -> Tensor:
    """The column target of every copy before re-sorting: sums to ``N``, no entry below 1 (when ``N >= K``)."""
    if class_dist is None:
        c = torch.ones(num_anchors, **like)
    else:
        c = torch.as_tensor(class_dist, **like).clone()
        if c.shape != (num_anchors,) or bool((c < 0).any()) or not bool(c.sum() > 0):
            raise LossError(f"class_dist must be {num_anchors} non-negative weights with a positive sum")
    c = c / c.sum() * num_rows
    c = c.clamp(min=1)
    return c / c.sum() * num_rows


def _solve_log(
    scores: Tensor,
    eps: float,
    iterations: int,
    required: int,
    class_dist: Tensor | None,
    discrete: bool,
    denom_eps: float,
    group_copies: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    """Run steps 1-4 in log space. Returns ``(log_plan [G, N, K], group_of_copy [M], copies_per_group [G])``."""
    if scores.dim() != 2:
        raise LossError(f"scores must be [N, K], got {tuple(scores.shape)}")
    if not eps > 0:
        raise LossError(f"eps must be positive, got {eps}")
    if iterations < 0:
        raise LossError(f"iterations must be >= 0, got {iterations}")
    dtype = scores.dtype if scores.dtype in (torch.float32, torch.float64) else torch.float32
    p = scores.to(dtype)
    n, k = p.shape
    like = {"dtype": dtype, "device": p.device}

    w = copy_weights(k, required, discrete, **like)
    if group_copies:
        gw, group, counts = torch.unique(w, return_inverse=True, return_counts=True)
    else:
        gw, group, counts = w, torch.arange(k, device=p.device), torch.ones(k, dtype=torch.long, device=p.device)
    log_count = counts.to(dtype).log().view(-1, 1, 1)  # multiplicity of each distinct copy

    # 1. log Q_m = w_m P / eps, normalised to total mass 1 over all M copies.
    log_a = (p.unsqueeze(0) * gw.view(-1, 1, 1)) / eps
    log_a = log_a - torch.logsumexp((log_a + log_count).reshape(-1), dim=0)

    # 2. Target marginal, re-sorted to copy 0's current column masses (monotone in log space: same order).
    c = target_marginals(n, k, class_dist, **like)
    order = torch.argsort(torch.logsumexp(log_a[group[0]], dim=0))
    c_sorted = torch.empty_like(c)
    c_sorted[order] = torch.sort(c).values
    log_c = c_sorted.log().view(1, 1, k)

    log_delta = math.log(denom_eps) if denom_eps > 0 else -math.inf
    log_delta_t = torch.tensor(log_delta, **like)

    def log_denominator(log_sum: Tensor) -> Tensor:  # log(sum + delta)
        return torch.logaddexp(log_sum, log_delta_t)

    # 3. Alternate the three scalings.
    for _ in range(iterations):
        log_a = log_a + (log_c - log_denominator(torch.logsumexp(log_a, dim=1, keepdim=True)))
        log_a = log_a - log_denominator(torch.logsumexp(log_a + log_count, dim=0, keepdim=True))
        log_a = log_a - log_denominator(torch.logsumexp(log_a, dim=2, keepdim=True))
    # 4. Final row normalisation of every copy.
    log_a = log_a - torch.logsumexp(log_a, dim=2, keepdim=True)
    return log_a, group, counts


@torch.no_grad()
def multi_sinkhorn(
    scores: Tensor,
    eps: float = 0.07,
    iterations: int = 20,
    required: int | None = None,
    *,
    class_dist: Tensor | None = None,
    discrete: bool = True,
    denom_eps: float = DENOM_EPS,
    group_copies: bool = True,
) -> Tensor:
    """The per-copy transport plan ``A`` of the code's ``multi_sinkhorn``: shape ``[M = K, N, K]``.

    ``required`` is ``r`` (a count, the code's ``required_properties`` argument); ``None`` means ``K // 2``.
    Every row of every copy sums to 1; after convergence every (sample, anchor) cell sums to 1 over the copies
    and every copy's column ``k`` sums to the (re-sorted) target ``c_k``.
    """
    r = scores.shape[-1] // 2 if required is None else required
    log_a, group, _ = _solve_log(scores, eps, iterations, r, class_dist, discrete, denom_eps, group_copies)
    return log_a.exp()[group]


@torch.no_grad()
def multi_assignment(
    scores: Tensor,
    eps: float = 0.07,
    iterations: int = 20,
    required_fraction: float = 0.5,
    *,
    class_dist: Tensor | None = None,
    discrete: bool = True,
    denom_eps: float = DENOM_EPS,
    group_copies: bool = True,
) -> Tensor:
    """Soft multi-hot assignment ``[N, K]`` in ``[0, 1]`` (the code's ``calculate_sk``): per row min 0, max 1.

    Sum of the last ``r = int(K * required_fraction)`` copies of the Multi-SK plan, min-max normalised per row.
    Returned in the scores' dtype (float32 for half-precision scores); computed without gradient.
    """
    k = scores.shape[-1]
    r = required_count(k, required_fraction)
    log_a, group, _ = _solve_log(scores, eps, iterations, r, class_dist, discrete, denom_eps, group_copies)
    # How many of the last r copies each distinct matrix stands for.
    last = torch.bincount(group[k - r :], minlength=log_a.shape[0]).to(log_a.dtype)
    summed = torch.einsum("g,gnk->nk", last, log_a.exp())  # entries <= 1 per copy: no overflow
    return minmax_rows(summed)


def minmax_rows(x: Tensor) -> Tensor:
    """``(x - min) / (max - min)`` per row; a constant row gives zeros (the code would give NaN)."""
    lo = x.amin(dim=1, keepdim=True)
    span = x.amax(dim=1, keepdim=True) - lo
    return (x - lo) / torch.where(span > 0, span, torch.ones_like(span))
