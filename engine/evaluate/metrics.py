"""Ranking metrics with multiple ground truths, vectorised over queries and computed in chunks of rows.

A query has a ground-truth set ``G`` among ``C`` candidates (a caption has one correct item; an item has
several correct captions). Candidates are ranked by score, highest first; ties are broken deterministically
by candidate index (the order a stable sort by descending score gives). For one query:

- ``R@k`` (the Text2Shape papers' ``RR@k``, "recall rate"): 1 if any candidate of ``G`` is in the top ``k``.
- ``NDCG@k``: binary relevance over ``G``; ``DCG@k = sum_{r <= k} rel_r / log2(r + 1)`` and the ideal DCG
  has ``min(|G|, k)`` hits at ranks ``1..min(|G|, k)``.
- the rank (1-based) of the first correct candidate; ``R@k`` is ``first_rank <= k``, so a failure browser
  can show where a missed ground truth landed.

Ground truth comes either as a boolean matrix ``[Q, C]`` or as item ids of queries ``[Q]`` and candidates
``[C]`` (relevant = same item), in which case the boolean matrix is only ever built one chunk at a time.
Queries without any ground truth get ``first_rank == 0`` and are left out of every average.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from engine.errors import CrossfoldError
from engine.metric_keys import rate_name

#: Default number of score cells (rows x candidates) handled at once; the temporary int64 and bool
#: matrices of one chunk then stay around 32 MiB each.
DEFAULT_CHUNK_CELLS = 1 << 22


class NonFiniteScores(CrossfoldError, ValueError):
    """Scores with NaN: the encoder's weights (a diverged run's checkpoint) are not finite."""


def chunk_rows(num_candidates: int, chunk_size: int | None = None) -> int:
    """Rows per chunk: ``chunk_size`` when given, else enough rows for about ``DEFAULT_CHUNK_CELLS`` cells."""
    if chunk_size is not None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        return int(chunk_size)
    return max(1, DEFAULT_CHUNK_CELLS // max(1, num_candidates))


def stable_topk(scores: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Top ``k`` candidates of each row by descending score, ties broken by lower candidate index.

    Equal to the first ``k`` columns of ``torch.sort(scores, descending=True, stable=True)`` without sorting
    whole rows: ``torch.topk`` finds the ``k``-th value, everything strictly above it is in, and the ties at
    that value are filled in index order. Returns ``(indices [N, k] int64, scores [N, k])``.
    """
    if scores.dim() != 2:
        raise ValueError(f"scores must be [N, C], got shape {tuple(scores.shape)}")
    n, c = scores.shape
    k = min(int(k), c)
    if k <= 0 or n == 0:
        return scores.new_zeros((n, 0), dtype=torch.long), scores.new_zeros((n, 0))
    top = torch.topk(scores, k, dim=1, largest=True, sorted=True)
    indices = top.indices
    # topk's choice among candidates tied at the k-th value is unspecified: redo the rows that have such ties.
    threshold = top.values[:, -1:]
    ambiguous = torch.nonzero((scores >= threshold).sum(dim=1, dtype=torch.int32) > k).flatten()
    if ambiguous.numel():
        sub, thr = scores[ambiguous], threshold[ambiguous]
        above = sub > thr
        tied = sub == thr
        selected = above | (tied & (tied.cumsum(dim=1) <= k - above.sum(dim=1, keepdim=True)))
        indices = indices.index_copy(0, ambiguous, selected.nonzero()[:, 1].view(-1, k))
    # Order the k chosen candidates by (score desc, index asc).
    indices = indices.sort(dim=1).values
    values = scores.gather(1, indices)
    order = torch.sort(values, dim=1, descending=True, stable=True).indices
    return indices.gather(1, order), values.gather(1, order)


def fold_max(scores: Tensor, candidate_ids: Tensor) -> tuple[Tensor, Tensor]:
    """Fold observation-level candidates into items: an item scores as its best observation.

    ``scores`` is ``[N, C]`` over observations whose item ids are ``candidate_ids`` ``[C]``. Returns
    ``(item_scores [N, I], item_ids [I])`` with the item ids sorted ascending.
    """
    item_ids, inverse = torch.unique(candidate_ids.to(scores.device), sorted=True, return_inverse=True)
    return fold_max_inverse(scores, inverse, item_ids.numel()), item_ids


def fold_max_inverse(scores: Tensor, inverse: Tensor, num_items: int) -> Tensor:
    """``[N, num_items]``: column ``inverse[c]`` of row ``n`` holds the max of ``scores[n, c]`` over its ``c``."""
    out = scores.new_full((scores.shape[0], num_items), -math.inf)
    return out.scatter_reduce_(1, inverse.unsqueeze(0).expand_as(scores), scores, reduce="amax", include_self=True)


def _discounts(k: int, device: torch.device) -> Tensor:
    return 1.0 / torch.log2(torch.arange(2, k + 2, device=device, dtype=torch.float64))


@dataclass(frozen=True, eq=False)
class Ranking:
    """Per-query results of ranking ``Q`` queries over ``num_candidates`` candidates (tensors on the CPU).

    ``first_rank``: 1-based rank of the first correct candidate, 0 when the query has no ground truth.
    ``num_relevant``: ``|G|`` per query. ``ndcg``: ``{k: [Q] float64}``. ``topk_indices`` / ``topk_scores``:
    ``[Q, t]`` best candidates (stable order) when asked for, else ``None``.
    """

    first_rank: Tensor
    num_relevant: Tensor
    ndcg: dict[int, Tensor]
    num_candidates: int
    topk_indices: Tensor | None = None
    topk_scores: Tensor | None = None
    _valid: Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_valid", self.num_relevant > 0)

    @property
    def num_queries(self) -> int:
        return int(self.first_rank.numel())

    @property
    def valid(self) -> Tensor:
        """Queries with at least one ground truth (the ones every average is taken over)."""
        return self._valid

    def hits(self, k: int) -> Tensor:
        """``[Q]`` bool: the first correct candidate is in the top ``k`` (False where there is no ground truth)."""
        return self._valid & (self.first_rank <= k)

    def recall(self, k: int) -> float:
        """``R@k`` = ``RR@k``: fraction of queries (with ground truth) having any ground truth in the top ``k``."""
        return _mean(self.hits(k)[self._valid].double())

    def mean_ndcg(self, k: int) -> float:
        if k not in self.ndcg:
            raise KeyError(f"NDCG@{k} was not computed (computed: {sorted(self.ndcg)})")
        return _mean(self.ndcg[k][self._valid])

    def median_rank(self) -> float:
        """open_clip's convention: ``floor(median(rank))`` with 1-based ranks."""
        ranks = self.first_rank[self._valid].numpy()
        return float(np.floor(np.median(ranks))) if ranks.size else math.nan

    def mean_rank(self) -> float:
        return _mean(self.first_rank[self._valid].double())

    def failures(self, k: int) -> Tensor:
        """Indices of queries (with ground truth) whose first correct candidate ranked below ``k`` (rank > k)."""
        return torch.nonzero(self._valid & (self.first_rank > k)).flatten()

    def summary(self, ks: Sequence[int] = (1, 5, 10), rr_ks: Sequence[int] | None = None, prefix: str = "") -> dict:
        """Metric dict: ``{prefix}R@k`` for ``ks``, ``{prefix}RR@k`` for ``rr_ks`` (default: ``ks``; the same
        quantity as ``R@k``, under Text2Shape's name), ``{prefix}NDCG@k`` for every computed ``k``, and
        ``{prefix}median_rank`` / ``{prefix}mean_rank``. Values are fractions in [0, 1], ranks 1-based."""
        out: dict[str, float] = {}
        for k in ks:
            out[prefix + rate_name("R", k)] = self.recall(k)
        for k in ks if rr_ks is None else rr_ks:
            out[prefix + rate_name("RR", k)] = self.recall(k)
        for k in sorted(self.ndcg):
            out[prefix + rate_name("NDCG", k)] = self.mean_ndcg(k)
        out[f"{prefix}median_rank"] = self.median_rank()
        out[f"{prefix}mean_rank"] = self.mean_rank()
        return out


def _mean(values: Tensor) -> float:
    return float(values.mean()) if values.numel() else math.nan


def rank_chunk(
    scores: Tensor, relevant: Tensor, ndcg_ks: Sequence[int] = (5,), topk: int = 0
) -> tuple[Tensor, Tensor, dict[int, Tensor], Tensor | None, Tensor | None]:
    """Rank one chunk: ``scores`` ``[N, C]`` float, ``relevant`` ``[N, C]`` bool.

    Returns ``(first_rank [N], num_relevant [N], {k: ndcg [N]}, topk_indices, topk_scores)`` on the scores'
    device; the last two are ``None`` when ``topk`` is 0.
    """
    if scores.shape != relevant.shape or scores.dim() != 2:
        raise ValueError(f"scores {tuple(scores.shape)} and relevant {tuple(relevant.shape)} must both be [N, C]")
    if not scores.is_floating_point():
        scores = scores.float()
    if torch.isnan(scores.sum()) and torch.isnan(scores).any():  # the cheap test first
        raise NonFiniteScores("scores contain NaN: the model's weights are not finite (did its training diverge? "
                              "evaluate an earlier checkpoint)")
    relevant = relevant.to(device=scores.device, dtype=torch.bool)
    n, c = scores.shape
    if c == 0:
        raise ValueError("there are no candidates to rank")
    num_relevant = relevant.sum(dim=1)

    # First correct candidate: the best-scoring relevant one, lowest index among equal scores. Its rank is
    # 1 + (candidates scoring higher) + (candidates with the same score and a lower index).
    best = scores.masked_fill(~relevant, -math.inf).amax(dim=1, keepdim=True)
    ahead = (scores > best).sum(dim=1, dtype=torch.int32).long()
    tied_rows = torch.nonzero((scores == best).sum(dim=1, dtype=torch.int32) > 1).flatten()
    if tied_rows.numel():  # rare with real scores: count the tied candidates that come before by index
        sub, sub_best = scores[tied_rows], best[tied_rows]
        at_best = sub == sub_best
        positions = torch.arange(c, device=scores.device)
        best_index = torch.where(relevant[tied_rows] & at_best, positions, c).amin(dim=1, keepdim=True)
        ahead = ahead.index_add(0, tied_rows, (at_best & (positions < best_index)).sum(dim=1))
    first_rank = torch.where(num_relevant > 0, ahead + 1, 0)

    ndcg: dict[int, Tensor] = {}
    ks = sorted({int(k) for k in ndcg_ks})
    if any(k < 1 for k in ks) or topk < 0:
        raise ValueError(f"k must be positive (ndcg_ks={list(ndcg_ks)}, topk={topk})")
    depth = min(max([*ks, topk, 0]), c)
    top_idx, top_scores = stable_topk(scores, depth)
    if ks:
        gains = relevant.gather(1, top_idx).double()
        disc = _discounts(max(ks), scores.device)
        ideal_cum = torch.cat([disc.new_zeros(1), disc.cumsum(0)])  # ideal_cum[h] = DCG of h hits at the top
        for k in ks:
            kk = min(k, depth)
            dcg = (gains[:, :kk] * disc[:kk]).sum(dim=1)
            ideal = ideal_cum[num_relevant.clamp(max=k)]
            ndcg[k] = torch.where(num_relevant > 0, dcg / ideal.clamp(min=1e-12), torch.zeros_like(dcg))
    if topk:
        return first_rank, num_relevant, ndcg, top_idx[:, :topk], top_scores[:, :topk]
    return first_rank, num_relevant, ndcg, None, None


def rank_chunks(
    chunks: Iterable[tuple[Tensor, Tensor]], num_candidates: int, ndcg_ks: Sequence[int] = (5,), topk: int = 0
) -> Ranking:
    """Rank a stream of ``(scores [n, C], relevant [n, C])`` row chunks and gather the per-query results."""
    parts: list[tuple] = [rank_chunk(s, r, ndcg_ks, topk) for s, r in chunks]
    ks = sorted({int(k) for k in ndcg_ks})
    if not parts:
        empty = torch.zeros(0, dtype=torch.long)
        return Ranking(empty, empty.clone(), {k: torch.zeros(0, dtype=torch.float64) for k in ks}, num_candidates)

    def cat(i: int) -> Tensor:
        return torch.cat([p[i].cpu() for p in parts])

    ranking = Ranking(
        first_rank=cat(0),
        num_relevant=cat(1),
        ndcg={k: torch.cat([p[2][k].cpu() for p in parts]) for k in ks},
        num_candidates=num_candidates,
        topk_indices=cat(3) if topk else None,
        topk_scores=cat(4) if topk else None,
    )
    missing = ranking.num_queries - int(ranking.valid.sum())
    if missing:
        warnings.warn(f"{missing} of {ranking.num_queries} queries have no ground truth among the candidates; "
                      "they are left out of the metrics", stacklevel=2)
    return ranking


def _score_chunks(
    scores: Tensor, relevant: Tensor | None, query_ids: Tensor | None, candidate_ids: Tensor | None, rows: int
) -> Iterator[tuple[Tensor, Tensor]]:
    for start in range(0, scores.shape[0], rows):
        block = scores[start:start + rows]
        if relevant is not None:
            yield block, relevant[start:start + rows].to(block.device)
        else:
            assert query_ids is not None and candidate_ids is not None
            yield block, query_ids[start:start + rows, None] == candidate_ids[None, :]


def rank(
    scores: Tensor,
    relevant: Tensor | None = None,
    *,
    query_ids: Tensor | Sequence[int] | None = None,
    candidate_ids: Tensor | Sequence[int] | None = None,
    ndcg_ks: Sequence[int] = (5,),
    topk: int = 0,
    chunk_size: int | None = None,
) -> Ranking:
    """Rank queries over candidates from a similarity matrix ``scores`` ``[Q, C]`` (higher = better).

    Ground truth: ``relevant`` ``[Q, C]`` bool, or ``query_ids`` ``[Q]`` and ``candidate_ids`` ``[C]`` (a
    candidate is relevant when its id equals the query's). Rows are processed ``chunk_size`` at a time (by
    default about ``DEFAULT_CHUNK_CELLS`` cells per chunk); the result does not depend on the chunking.
    """
    scores = torch.as_tensor(scores)
    if scores.dim() != 2:
        raise ValueError(f"scores must be [Q, C], got shape {tuple(scores.shape)}")
    q, c = scores.shape
    if relevant is not None:
        if query_ids is not None or candidate_ids is not None:
            raise ValueError("give either relevant or query_ids/candidate_ids, not both")
        relevant = torch.as_tensor(relevant)
        if relevant.shape != scores.shape:
            raise ValueError(f"relevant {tuple(relevant.shape)} must have the shape of scores {(q, c)}")
    else:
        if query_ids is None or candidate_ids is None:
            raise ValueError("give relevant, or both query_ids and candidate_ids")
        query_ids = torch.as_tensor(query_ids, device=scores.device).flatten()
        candidate_ids = torch.as_tensor(candidate_ids, device=scores.device).flatten()
        if query_ids.numel() != q or candidate_ids.numel() != c:
            raise ValueError(f"query_ids ({query_ids.numel()}) and candidate_ids ({candidate_ids.numel()}) "
                             f"must match scores {(q, c)}")
    rows = chunk_rows(c, chunk_size)
    return rank_chunks(_score_chunks(scores, relevant, query_ids, candidate_ids, rows), c, ndcg_ks, topk)


def ranking_metrics(
    scores: Tensor,
    relevant: Tensor | None = None,
    *,
    query_ids: Tensor | Sequence[int] | None = None,
    candidate_ids: Tensor | Sequence[int] | None = None,
    ks: Sequence[int] = (1, 5, 10),
    ndcg_k: int | Sequence[int] = 5,
    chunk_size: int | None = None,
) -> dict[str, float]:
    """``R@k``, ``RR@k`` (same value as ``R@k``, Text2Shape's name), ``NDCG@k``, ``median_rank`` and
    ``mean_rank`` for one score matrix; see :func:`rank` for the arguments."""
    ndcg_ks = (ndcg_k,) if isinstance(ndcg_k, int) else tuple(ndcg_k)
    ranking = rank(scores, relevant, query_ids=query_ids, candidate_ids=candidate_ids, ndcg_ks=ndcg_ks,
                   chunk_size=chunk_size)
    return ranking.summary(ks)
