"""The ``k`` nearest labels of query vectors in one index, optionally only among allowed catalogue ids.

:func:`query` returns ``(labels [Q, k] int64, scores [Q, k] float32)``, each row by score descending, ties by
label ascending. With ``allowed`` (catalogue ids), only those labels come back: the index is asked for
``k * factor`` neighbours, filtered with ``np.isin``, and asked again with a larger factor for the rows that found
fewer than ``k`` (no Python filter callback: it drops hnswlib from ~500k to ~5-15k queries/s, hnswlib PR 417). A
small allowed set, or one so sparse that the over-fetch would cover most of the index, is searched exactly (a
product with its vectors, gathered from the mapped file), which is faster there. ``k`` is clipped to the number
of candidates (the index size, or the allowed ids present in it).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.index.inputs import thread_count, unit_rows
from engine.index.labels import to_ids

if TYPE_CHECKING:
    from engine.index.ann import AnnIndex

EXACT_BELOW = 4096  # a filtered query with at most this many allowed ids present is searched exactly
EXACT_RATIO = 8  # ... and so is one whose allowed set is under EXACT_RATIO x the over-fetch (fewer products
#                  than the graph search would compute; needs the file map for a fast gather of the vectors)
OVERFETCH_MARGIN = 2.0  # fetch this many times the neighbours the allowed fraction predicts are needed
OVERFETCH_GROWTH = 4  # then grow the fetch by this factor for the rows still short of k
EXACT_CHUNK = 65536  # vectors per block of an exact search


def _order(labels: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: score descending, then label ascending; the first ``k``. ``-inf`` scores mark holes."""
    if labels.shape[1] <= k and (scores[:, 1:] < scores[:, :-1]).all():
        return labels, scores  # hnswlib's order, and no ties to break (the common case)
    order = np.lexsort((labels, -scores), axis=-1)[:, :k]
    return np.take_along_axis(labels, order, 1), np.take_along_axis(scores, order, 1)


def _topk(labels: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_order` of a wide candidate list without sorting all of it: partition out the ``k`` best, widened
    to every candidate tied with the k-th (so ties are still broken by label), then order those."""
    width = scores.shape[1]
    if width <= 2 * k or scores.shape[0] == 0:
        return _order(labels, scores, k)
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    kth = np.take_along_axis(scores, part, 1).min(1)
    widest = int((scores >= kth[:, None]).sum(1).max())
    if widest > k:
        part = np.argpartition(-scores, widest - 1, axis=1)[:, :widest]
    return _order(np.take_along_axis(labels, part, 1), np.take_along_axis(scores, part, 1), k)


def _knn(index: AnnIndex, q: np.ndarray, fetch: int, num_threads: int) -> tuple[np.ndarray, np.ndarray]:
    """hnswlib's ``fetch`` nearest (searching with ef >= fetch: hnswlib uses max(ef, k)); None if it cannot
    return that many for every row (a disconnected graph)."""
    try:
        labels, dist = index.hnsw.knn_query(q, k=fetch, num_threads=num_threads)
    except RuntimeError:
        return None, None  # type: ignore[return-value]
    return to_ids(labels), (np.float32(1) - dist).astype(np.float32, copy=False)


def _exact(index: AnnIndex, q: np.ndarray, candidates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top ``k`` over ``candidates`` (ids present in the index), in blocks."""
    best_l = np.empty((q.shape[0], 0), np.int64)
    best_s = np.empty((q.shape[0], 0), np.float32)
    for start in range(0, candidates.size, EXACT_CHUNK):
        ids = candidates[start : start + EXACT_CHUNK]
        vecs = index.vectors(ids)
        # hnswlib scores 1 - (1 - dot) in float32: round the same way so both paths agree on ties.
        s = np.float32(1) - (np.float32(1) - q @ vecs.T)
        lab = np.broadcast_to(ids, s.shape)
        if best_l.shape[1]:
            lab, s = np.concatenate([best_l, lab], 1), np.concatenate([best_s, s], 1)
        best_l, best_s = _topk(lab, s, k)
    return best_l, best_s


def query(
    index: AnnIndex,
    vectors: Any,
    k: int,
    ef: int | None = None,
    allowed: Any = None,
    num_threads: int = 1,
    exact_below: int = EXACT_BELOW,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest labels of each query: ``(labels [Q, k'] int64, scores [Q, k'] float32)``, with
    ``k' = min(k, candidates)``, scores are inner products of unit vectors (higher = better), each row by score
    descending then label ascending.

    ``ef``: search effort for this call, at least the index's ``ef`` and ``k`` (thread-safe: passed through
    hnswlib's ``k``, the shared object is not changed). ``allowed``: catalogue ids the results must come from.
    ``num_threads``: hnswlib threads over the queries (1: lowest latency for a few queries)."""
    if k < 0:
        raise ValueError(f"k must be >= 0, not {k}")
    q = unit_rows(vectors, index.dim, "queries")
    threads = thread_count(num_threads)
    search_ef = max(int(ef or 0), index.ef)
    if allowed is None:
        return _nearest(index, q, k, search_ef, threads)
    return _nearest_allowed(index, q, k, allowed, search_ef, threads, exact_below)


def _empty(nq: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.empty((nq, k), np.int64), np.empty((nq, k), np.float32)


def _nearest(index: AnnIndex, q: np.ndarray, k: int, search_ef: int, threads: int
             ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`query` over the whole index."""
    nq, n = q.shape[0], index.count
    k_eff = min(k, n)
    if k_eff == 0 or nq == 0:
        return _empty(nq, k_eff)
    # hnswlib searches with max(its ef, k): ask for k + 1 (to see whether the k-th score is tied with what
    # follows) unless this call wants a deeper search than the object's.
    width = min(n, k_eff + 1 if search_ef <= index.ef else max(k_eff + 1, search_ef))
    out_l, out_s = _empty(nq, k_eff)
    todo = np.arange(nq)
    while todo.size:
        labels, scores = _knn(index, q[todo], width, threads)
        if labels is None:
            break
        # A row is settled when everything tied with its k-th score came back (ties are broken by label).
        settled = np.ones(todo.size, bool) if width >= n else scores[:, k_eff - 1] > scores[:, -1]
        out_l[todo[settled]], out_s[todo[settled]] = _topk(labels[settled], scores[settled], k_eff)
        todo = todo[~settled]
        width = min(n, width * OVERFETCH_GROWTH)
    if todo.size:
        out_l[todo], out_s[todo] = _exact(index, q[todo], index.ids(), k_eff)
    return out_l, out_s


def _nearest_allowed(index: AnnIndex, q: np.ndarray, k: int, allowed: Any, search_ef: int, threads: int,
                     exact_below: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`query` among the ``allowed`` ids: exact for a small or sparse set, else over-fetch and filter."""
    nq, n = q.shape[0], index.count
    want = np.unique(np.asarray(allowed, dtype=np.int64).ravel())
    ids = index.ids()
    pos = np.searchsorted(ids, want).clip(max=max(ids.size - 1, 0))
    present = want[ids[pos] == want] if ids.size else want[:0]
    k_eff = min(k, present.size)
    if k_eff == 0 or nq == 0:
        return _empty(nq, k_eff)
    # The allowed hits of an unfiltered list of length L are about L * m / n: fetch enough for k of them with a
    # margin, and search as deep as an unfiltered query of the same quality would (ef scaled by n / m).
    fetch = math.ceil(n / present.size * max(OVERFETCH_MARGIN * k_eff, search_ef))
    gather_fast = index.mapped
    if present.size <= exact_below or (gather_fast and present.size <= EXACT_RATIO * fetch) or 2 * fetch >= n:
        return _exact(index, q, present, k_eff)

    out_l, out_s = _empty(nq, k_eff)
    todo = np.arange(nq)
    while todo.size:
        labels, scores = _knn(index, q[todo], fetch, threads)
        if labels is None:
            break
        ok = np.isin(labels, present, assume_unique=False)
        full = ok.sum(1) >= k_eff
        if full.any():
            s = np.where(ok[full], scores[full], -np.inf).astype(np.float32)
            out_l[todo[full]], out_s[todo[full]] = _topk(labels[full], s, k_eff)
        todo = todo[~full]
        fetch *= OVERFETCH_GROWTH
        if 2 * fetch >= n:  # the over-fetch would cover most of the index: exact is as fast and exact
            break
    if todo.size:
        out_l[todo], out_s[todo] = _exact(index, q[todo], present, k_eff)
    return out_l, out_s
