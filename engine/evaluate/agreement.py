"""Whether two inference paths rank alike (:mod:`engine.models.inference`): the same queries against the same
candidates, encoded once on each path.

* ``top_k_overlap``: per query, the share of the reference path's top ``k`` candidates that the other path's top
  ``k`` also holds, averaged over queries (1.0: the same neighbours, in any order).
* ``max_recall_delta_points``: the largest difference of any ``R@k`` metric between the paths' retrieval metrics,
  in percentage points.

``bench/cpu_inference.py`` reports both for a real-size model, ``tests/engine/index/test_inference_path.py``
checks them on the test run (overlap >= 0.95, every R@k within 0.5 point).
"""

from __future__ import annotations

import torch
from torch import Tensor


def top_k_overlap(ref_queries: Tensor, ref_candidates: Tensor, queries: Tensor, candidates: Tensor,
                  k: int = 10) -> float:
    """Mean share of each query's reference top ``k`` kept by the other path (rows: L2-normalised embeddings)."""
    k = min(k, ref_candidates.shape[0])
    if k == 0 or ref_queries.shape[0] == 0:
        return 1.0
    ref = (ref_queries.float() @ ref_candidates.float().T).topk(k, dim=1).indices
    other = (queries.float() @ candidates.float().T).topk(k, dim=1).indices
    kept = (ref.unsqueeze(2) == other.unsqueeze(1)).any(dim=2).float().sum(dim=1) / k
    return float(kept.mean())


def max_recall_delta_points(reference: dict[str, float], other: dict[str, float]) -> float:
    """The largest ``|R@k|`` difference over the metrics both have, in points (0-100 scale)."""
    keys = [key for key in reference if "_R@" in key and key in other]
    return max((abs(reference[key] - other[key]) * 100.0 for key in keys), default=0.0)


def encoded_overlap(reference: dict[str, Tensor], other: dict[str, Tensor], query: str, candidate: str,
                    k: int = 10) -> float:
    """:func:`top_k_overlap` of two encodings of a split (``emb`` dicts by modality) in one direction."""
    with torch.no_grad():
        return top_k_overlap(reference[query], reference[candidate], other[query], other[candidate], k)
