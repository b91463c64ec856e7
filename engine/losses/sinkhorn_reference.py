"""Loop-based Multi-SK: the baseline for ``engine/losses/sinkhorn.py`` (tests and ``bench/multisk.py`` only).

Written for clarity, in float64 numpy, following the public code's ``multi_sinkhorn`` / ``calculate_sk`` /
``normalize_matrix`` (``everything_at_once/loss/combinatorial_loss.py`` of Swetha5/Multi_Sinkhorn_Knopp)
step by step: all ``K`` copies are materialised, ``exp`` is taken in the linear domain, and every marginal
constraint is one turn of a plain Python loop (each column of each copy, each (sample, anchor) cell across the
copies, each row of each copy). The code's ``replace_inf`` (each ``inf`` set to 0, then to the largest entry,
element by element) is applied where the code applies it. Only difference: a constant row of the final
assignment gives zeros instead of NaN, as in the vectorised solver.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .sinkhorn import DENOM_EPS, LOW_WEIGHT


def replace_inf(a: np.ndarray) -> np.ndarray:
    """The code's ``replace_inf``, in place: every ``inf`` becomes the largest remaining entry."""
    found = np.argwhere(np.isinf(a))
    if len(found) > 0:
        for index in found:
            a[tuple(index)] = 0.0
        largest = a.max()
        for index in found:
            a[tuple(index)] = largest
    return a


def multi_sinkhorn_reference(
    scores: ArrayLike,
    eps: float,
    iterations: int,
    required: int,
    class_dist: ArrayLike | None = None,
    discrete: bool = True,
    denom_eps: float = DENOM_EPS,
) -> np.ndarray:
    """The per-copy plan ``[K, N, K]`` (float64)."""
    p = np.array(scores, dtype=np.float64)
    n, k = p.shape
    m_copies = k

    weights = []
    for m in range(m_copies):
        if discrete:
            weights.append(LOW_WEIGHT if m < m_copies - required else 1.0)
        else:
            weights.append((m + 1) / m_copies * 0.9 + 0.1)

    a = np.empty((m_copies, n, k), dtype=np.float64)
    for m in range(m_copies):
        a[m] = np.exp(p * weights[m] / eps)
    replace_inf(a)
    a /= a.sum()

    target = np.ones(k) if class_dist is None else np.array(class_dist, dtype=np.float64)
    target = target / target.sum() * n
    target = np.maximum(target, 1.0)
    target = target / target.sum() * n
    # Re-sort: the anchor with the smallest column mass in copy 0 gets the smallest target.
    column_mass = a[0].sum(axis=0)
    target[np.argsort(column_mass)] = np.sort(target)

    for _ in range(iterations):
        for m in range(m_copies):  # columns of every copy -> target
            for j in range(k):
                a[m, :, j] *= target[j] / (a[m, :, j].sum() + denom_eps)
        replace_inf(a)
        for i in range(n):  # each (sample, anchor) cell sums to 1 over the copies
            for j in range(k):
                a[:, i, j] /= a[:, i, j].sum() + denom_eps
        replace_inf(a)
        for m in range(m_copies):  # rows of every copy -> 1
            for i in range(n):
                a[m, i, :] /= a[m, i, :].sum() + denom_eps
        replace_inf(a)

    for m in range(m_copies):
        for i in range(n):
            a[m, i, :] /= a[m, i, :].sum()
    return a


def multi_assignment_reference(
    scores: ArrayLike,
    eps: float,
    iterations: int,
    required_fraction: float,
    class_dist: ArrayLike | None = None,
    discrete: bool = True,
    denom_eps: float = DENOM_EPS,
) -> np.ndarray:
    """Soft multi-hot ``[N, K]``: sum of the last ``r = int(K * rho)`` copies, min-max normalised per row."""
    p = np.array(scores, dtype=np.float64)
    n, k = p.shape
    required = int(k * required_fraction)
    a = multi_sinkhorn_reference(p, eps, iterations, required, class_dist, discrete, denom_eps)
    summed = np.zeros((n, k))
    for m in range(k - required, k):
        summed += a[m]
    out = np.zeros((n, k))
    for i in range(n):
        lo, hi = summed[i].min(), summed[i].max()
        if hi > lo:
            out[i] = (summed[i] - lo) / (hi - lo)
    return out
