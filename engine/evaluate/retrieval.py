"""Cross-modal retrieval evaluation from embeddings, one direction at a time.

Inputs are two dicts keyed by modality: ``emb[m]`` ``[N_m, d]`` L2-normalised embeddings and ``items[m]``
``[N_m]`` the item id of each row. Usual modalities: ``text`` (captions, several per item), ``shape``
(item-level: a shape's views pooled into one embedding), ``view`` (one row per rendered view), ``image``,
and fused item-level ones named ``<visual>_text`` (``shape_text``, ``image_text``).

A direction ``(query, candidate)`` is named ``<query>_to_<candidate>``. Every row of the query modality is a
query; it is ranked over every row of the candidate modality by dot product; its ground truth is every
candidate row of the same item (several when the candidate modality is multifold, e.g. the captions of a
shape in ``shape_to_text``: the query is a hit when any of them is in the top k).

Item-level folding: with ``fold="max"`` (or ``fold={"view": "max"}``) the candidate rows are folded into
items first, an item scoring as its best row (max-fold), and the direction is named
``<query>_to_<candidate>_maxfold`` whenever that changed the candidate set (some item had several rows).

Metric names follow open_clip's eval naming: ``text_to_shape_R@1``, ``text_to_shape_RR@1``,
``text_to_shape_NDCG@5``, ``text_to_shape_median_rank``, ``text_to_shape_mean_rank``, and over all
directions ``mean_R@1``, ``mean_RR@1``, ``mean_NDCG@5``. Rates are fractions in [0, 1]; ranks are 1-based.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from engine.evaluate.metrics import Ranking, chunk_rows, fold_max_inverse, rank_chunk, rank_chunks
from engine.metric_keys import direction_means, direction_name, metric_key, split_direction

TEXT = "text"
FOLD_MODES = ("none", "max")

Direction = tuple[str, str]


def parse_direction(direction: Direction | str) -> Direction:
    """``("text", "shape")`` or ``"text_to_shape"`` -> ``("text", "shape")``."""
    if isinstance(direction, str):
        return split_direction(direction)
    query, candidate = direction
    return str(query), str(candidate)


def is_fused(modality: str) -> bool:
    """Fused (item-level, two-modality) embeddings are named ``<visual>_text``."""
    return modality.endswith("_" + TEXT) and modality != TEXT


def default_directions(modalities: Iterable[str]) -> list[Direction]:
    """Every text <-> visual pair present (both ways), then each fused modality ``V_text`` as a target of
    ``text`` and of ``V`` when those are present. Order follows ``modalities``. Without ``text`` (a split without
    captions) there is no caption-based direction: only ``V -> V_text`` pairs remain, if any."""
    present = list(dict.fromkeys(modalities))
    visual = [m for m in present if m != TEXT and not is_fused(m)]
    fused = [m for m in present if is_fused(m)]
    out: list[Direction] = []
    if TEXT in present:
        for v in visual:
            out += [(TEXT, v), (v, TEXT)]
    for f in fused:
        if TEXT in present:
            out.append((TEXT, f))
        base = f[: -len(TEXT) - 1]
        if base in present:
            out.append((base, f))
    return out


def _fold_mode(fold: str | Mapping[str, str], candidate: str) -> str:
    mode = fold.get(candidate, "none") if isinstance(fold, Mapping) else fold
    if mode not in FOLD_MODES:
        raise ValueError(f"fold must be one of {FOLD_MODES}, got {mode!r} for {candidate!r}")
    return mode


@dataclass
class _Pair:
    """One direction, ready to be scored chunk by chunk."""

    name: str
    queries: Tensor  # [Q, d] float
    query_ids: Tensor  # [Q]
    candidates: Tensor  # [C_obs, d] float
    candidate_obs_ids: Tensor  # [C_obs] item id of each candidate row
    candidate_ids: Tensor  # [C] ids of ranked candidates (items when folded, else = candidate_obs_ids)
    inverse: Tensor | None  # [C_obs] -> column of candidate_ids when folded, else None

    @property
    def folded(self) -> bool:
        return self.inverse is not None

    def chunks(self, rows: int) -> Iterator[tuple[int, Tensor, Tensor, Tensor]]:
        """``(start, raw observation scores, ranked scores, relevant)`` per chunk of query rows."""
        for start in range(0, self.queries.shape[0], rows):
            raw = self.queries[start:start + rows] @ self.candidates.T
            ranked = raw if self.inverse is None else fold_max_inverse(raw, self.inverse, self.candidate_ids.numel())
            relevant = self.query_ids[start:start + rows, None] == self.candidate_ids[None, :]
            yield start, raw, ranked, relevant


def _as_ids(ids: Tensor | Sequence[int], device: torch.device) -> Tensor:
    return torch.as_tensor(ids, device=device).flatten()


def _prepare(
    emb: Mapping[str, Tensor],
    items: Mapping[str, Tensor | Sequence[int]],
    direction: Direction | str,
    fold: str | Mapping[str, str],
) -> _Pair:
    query, candidate = parse_direction(direction)
    for m in (query, candidate):
        if m not in emb or m not in items:
            raise ValueError(f"modality {m!r} needs both embeddings and item ids (have emb: {sorted(emb)}, "
                             f"items: {sorted(items)})")
    q = torch.as_tensor(emb[query])
    c = torch.as_tensor(emb[candidate]).to(q.device)
    for m, x in ((query, q), (candidate, c)):
        if x.dim() != 2:
            raise ValueError(f"emb[{m!r}] must be [N, d], got shape {tuple(x.shape)}")
    if q.shape[1] != c.shape[1]:
        raise ValueError(f"emb[{query!r}] has dimension {q.shape[1]} but emb[{candidate!r}] has {c.shape[1]}")
    if c.shape[0] == 0:
        raise ValueError(f"emb[{candidate!r}] has no rows to rank")
    q_ids = _as_ids(items[query], q.device)
    c_ids = _as_ids(items[candidate], q.device)
    for m, x, ids in ((query, q, q_ids), (candidate, c, c_ids)):
        if ids.numel() != x.shape[0]:
            raise ValueError(f"items[{m!r}] has {ids.numel()} ids for {x.shape[0]} embeddings")
    q, c = q.float(), c.float()
    inverse = None
    ranked_ids = c_ids
    if _fold_mode(fold, candidate) == "max":
        unique, inv = torch.unique(c_ids, sorted=True, return_inverse=True)
        if unique.numel() < c_ids.numel():
            ranked_ids, inverse = unique, inv
    return _Pair(direction_name(query, candidate, inverse is not None), q, q_ids, c, c_ids, ranked_ids, inverse)


def rank_direction(
    emb: Mapping[str, Tensor],
    items: Mapping[str, Tensor | Sequence[int]],
    direction: Direction | str,
    *,
    ndcg_ks: Sequence[int] = (5,),
    topk: int = 0,
    fold: str | Mapping[str, str] = "none",
    chunk_size: int | None = None,
) -> tuple[str, Ranking, Tensor]:
    """Rank one direction. Returns ``(name, ranking, candidate_ids)`` where ``candidate_ids`` ``[C]`` are the
    item ids of the ranked candidates (the folded items when max-folded, else one per candidate row)."""
    pair = _prepare(emb, items, direction, fold)
    rows = chunk_rows(pair.candidate_ids.numel(), chunk_size)
    stream = ((ranked, relevant) for _, _, ranked, relevant in pair.chunks(rows))
    ranking = rank_chunks(stream, pair.candidate_ids.numel(), ndcg_ks, topk)
    return pair.name, ranking, pair.candidate_ids.cpu()


def evaluate_retrieval(
    emb: Mapping[str, Tensor],
    items: Mapping[str, Tensor | Sequence[int]],
    directions: Sequence[Direction | str] | None = None,
    ks: Sequence[int] = (1, 5, 10),
    ndcg_k: int | Sequence[int] = 5,
    *,
    rr_ks: Sequence[int] = (1, 5),
    fold: str | Mapping[str, str] = "none",
    chunk_size: int | None = None,
) -> dict[str, float]:
    """Retrieval metrics for every direction, from per-modality embeddings and their item ids.

    ``directions``: ``[("text", "shape"), ...]`` or names like ``"text_to_shape"``; ``None`` =
    :func:`default_directions` of the modalities in ``emb``. ``fold``: ``"none"`` (rank candidate rows; all
    rows of the query's item are its ground truth), ``"max"`` (fold multifold candidate modalities into items
    by their best row; the direction gets the ``_maxfold`` suffix), or a per-candidate-modality mapping.

    Keys per direction ``<dir>``: ``<dir>_R@k`` for ``k`` in ``ks`` and ``<dir>_RR@k`` for ``k`` in ``rr_ks``
    — the **same** quantity under two names: 1 when any ground truth of the query is in the top k (Text2Shape
    calls it recall rate, RR; open_clip calls it R@k) —, ``<dir>_NDCG@k`` (binary relevance over the
    ground-truth set, ideal DCG over ``min(|G|, k)`` hits), ``<dir>_median_rank`` and ``<dir>_mean_rank``
    (of the first correct candidate, 1-based), ``<dir>_num_queries`` (queries with a ground truth; others are
    left out with a warning) and ``<dir>_num_candidates``. Summary over directions: ``mean_R@k``,
    ``mean_RR@k``, ``mean_NDCG@k``. Scores are dot products computed ``chunk_size`` query rows at a time; the
    similarity matrix of a direction is never held whole.
    """
    if directions is None:  # a modality without rows (a split without captions) is in no direction
        directions = default_directions(m for m, e in emb.items() if len(e))
        if not directions:
            raise ValueError(f"no retrieval direction among modalities {sorted(emb)}")
    ndcg_ks = (ndcg_k,) if isinstance(ndcg_k, int) else tuple(ndcg_k)
    metrics: dict[str, float] = {}
    for direction in directions:
        name, ranking, candidate_ids = rank_direction(emb, items, direction, ndcg_ks=ndcg_ks, fold=fold,
                                                      chunk_size=chunk_size)
        if metric_key(name, "mean_rank") in metrics:
            raise ValueError(f"direction {name!r} is listed twice")
        for key, value in ranking.summary(ks, rr_ks).items():
            metrics[metric_key(name, key)] = value
        metrics[metric_key(name, "num_queries")] = float(ranking.valid.sum())
        metrics[metric_key(name, "num_candidates")] = float(candidate_ids.numel())
    metrics.update(direction_means(metrics, skip_nan=True))
    return metrics


@dataclass(frozen=True)
class RetrievalFailure:
    """A query whose first correct candidate ranked below k, for the failure browser.

    ``query_index``: row of the query in ``emb[query]``; ``rank``: 1-based rank of its first correct
    candidate; ``correct_score``: that candidate's score. ``candidate_items`` / ``scores``: the top-k
    candidates' item ids and scores, best first; ``candidate_indices``: their rows in ``emb[candidate]``
    (for max-folded candidates: the item's best-scoring row).
    """

    direction: str
    query_index: int
    query_item: int
    rank: int
    num_relevant: int
    correct_score: float
    candidate_indices: list[int]
    candidate_items: list[int]
    scores: list[float]


def rank_failures(
    emb: Mapping[str, Tensor],
    items: Mapping[str, Tensor | Sequence[int]],
    direction: Direction | str,
    k: int = 5,
    *,
    fold: str | Mapping[str, str] = "none",
    chunk_size: int | None = None,
    limit: int | None = None,
) -> list[RetrievalFailure]:
    """Queries of one direction whose first correct candidate ranked below ``k`` (rank > k), in query order
    (at most ``limit``), each with its top-``k`` candidates and the rank of the right item. Queries with no
    ground truth among the candidates are not failures (they are not evaluated)."""
    if k < 1:
        raise ValueError(f"k must be positive, got {k}")
    pair = _prepare(emb, items, direction, fold)
    if limit is not None and limit <= 0:
        return []
    rows = chunk_rows(pair.candidate_ids.numel(), chunk_size)
    out: list[RetrievalFailure] = []
    for start, raw, ranked, relevant in pair.chunks(rows):
        first_rank, num_relevant, _, top_idx, top_scores = rank_chunk(ranked, relevant, (), topk=k)
        assert top_idx is not None and top_scores is not None
        failed = torch.nonzero((num_relevant > 0) & (first_rank > k)).flatten()
        if failed.numel() == 0:
            continue
        if limit is not None:
            failed = failed[: max(0, limit - len(out))]
        correct = ranked[failed].masked_fill(~relevant[failed], -math.inf).amax(dim=1)
        top_idx, top_scores = top_idx[failed], top_scores[failed]
        rows_idx = top_idx if pair.inverse is None else _best_rows(raw[failed], pair.inverse, top_idx)
        top_items = pair.candidate_ids[top_idx]
        for j, i in enumerate(failed.tolist()):
            out.append(RetrievalFailure(
                direction=pair.name,
                query_index=start + i,
                query_item=int(pair.query_ids[start + i]),
                rank=int(first_rank[i]),
                num_relevant=int(num_relevant[i]),
                correct_score=float(correct[j]),
                candidate_indices=[int(x) for x in rows_idx[j].tolist()],
                candidate_items=[int(x) for x in top_items[j].tolist()],
                scores=[float(x) for x in top_scores[j].tolist()],
            ))
        if limit is not None and len(out) >= limit:
            break
    return out


def _best_rows(raw: Tensor, inverse: Tensor, top_items: Tensor) -> Tensor:
    """For folded candidates: the best-scoring row (lowest index among ties) of each top item, ``[n, k]``."""
    cols = []
    for j in range(top_items.shape[1]):
        own = inverse[None, :] == top_items[:, j:j + 1]
        masked = raw.masked_fill(~own, -math.inf)
        best = masked.amax(dim=1, keepdim=True)
        positions = torch.arange(raw.shape[1], device=raw.device)
        cols.append(torch.where(own & (masked == best), positions, raw.shape[1]).amin(dim=1))
    return torch.stack(cols, dim=1) if cols else top_items.new_zeros((raw.shape[0], 0))
