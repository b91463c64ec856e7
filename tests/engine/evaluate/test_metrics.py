"""Ranking metrics with multiple ground truths: hand-computed values on a few queries, ties, chunking."""

from __future__ import annotations

from math import log2

import numpy as np
import pytest
import torch

from engine.evaluate.metrics import fold_max, rank, ranking_metrics, stable_topk


def _reference(scores: np.ndarray, relevant: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Full stable sort (score desc, then index): first correct rank and NDCG@k, one query at a time."""
    ranks, ndcgs = [], []
    for s, r in zip(scores, relevant, strict=True):
        order = np.lexsort((np.arange(s.size), -s))
        rel = r[order]
        ranks.append(int(np.argmax(rel)) + 1 if rel.any() else 0)
        dcg = sum(1.0 / log2(i + 2) for i in range(min(k, s.size)) if rel[i])
        ideal = sum(1.0 / log2(i + 2) for i in range(min(int(r.sum()), k)))
        ndcgs.append(dcg / ideal if ideal else 0.0)
    return np.array(ranks), np.array(ndcgs)


def test_one_correct_item_per_query_by_hand() -> None:
    # 3 queries over 4 candidates; query i's item is query_ids[i], candidate j's item is j.
    scores = torch.tensor([
        [0.9, 0.1, 0.2, 0.3],  # item 0 first -> rank 1
        [0.8, 0.1, 0.7, 0.3],  # item 1 last -> rank 4
        [0.1, 0.2, 0.3, 0.4],  # item 2 second -> rank 2
    ])
    ranking = rank(scores, query_ids=[0, 1, 2], candidate_ids=[0, 1, 2, 3], ndcg_ks=(5,))
    assert ranking.first_rank.tolist() == [1, 4, 2]
    m = ranking.summary(ks=(1, 2, 5))
    assert m["R@1"] == pytest.approx(1 / 3)
    assert m["R@2"] == pytest.approx(2 / 3)
    assert m["R@5"] == pytest.approx(1.0)
    assert m["RR@1"] == m["R@1"] and m["RR@2"] == m["R@2"]
    # single relevant item: NDCG = 1 / log2(rank + 1)
    expected_ndcg = (1.0 + 1 / log2(5) + 1 / log2(3)) / 3
    assert m["NDCG@5"] == pytest.approx(expected_ndcg)
    assert m["median_rank"] == 2.0
    assert m["mean_rank"] == pytest.approx(7 / 3)


def test_item_with_several_captions_hits_when_any_is_in_top_k() -> None:
    # shape -> text: two shapes (items 0, 1), captions 0..5 with items [0, 0, 0, 1, 1, 1].
    caption_items = torch.tensor([0, 0, 0, 1, 1, 1])
    scores = torch.tensor([
        [0.1, 0.5, 0.3, 0.9, 0.8, 0.7],  # item 0: its best caption (0.5) is 4th -> rank 4
        [0.6, 0.2, 0.1, 0.3, 0.9, 0.4],  # item 1: caption 4 first -> rank 1
    ])
    ranking = rank(scores, query_ids=[0, 1], candidate_ids=caption_items, ndcg_ks=(5,))
    assert ranking.first_rank.tolist() == [4, 1]
    assert ranking.num_relevant.tolist() == [3, 3]
    m = ranking.summary(ks=(1, 3, 5))
    assert m["R@1"] == pytest.approx(0.5)
    assert m["R@3"] == pytest.approx(0.5)
    assert m["R@5"] == pytest.approx(1.0)
    # query 0: its captions at ranks 4, 5, 6 -> DCG@5 = 1/log2(5) + 1/log2(6); ideal: 3 hits
    ideal = 1 + 1 / log2(3) + 1 / log2(4)
    ndcg0 = (1 / log2(5) + 1 / log2(6)) / ideal
    # query 1: order 4, 0, 5, 3, 1, 2 -> relevant at ranks 1, 3, 4
    ndcg1 = (1 + 1 / log2(4) + 1 / log2(5)) / ideal
    assert ranking.ndcg[5].tolist() == pytest.approx([ndcg0, ndcg1])


def test_ndcg_two_relevant_at_ranks_1_and_3() -> None:
    scores = torch.tensor([[0.9, 0.8, 0.7, 0.6, 0.5, 0.4]])
    relevant = torch.tensor([[True, False, True, False, False, False]])
    m = ranking_metrics(scores, relevant, ks=(1,), ndcg_k=5)
    dcg = 1 / log2(2) + 1 / log2(4)  # 1.5
    ideal = 1 / log2(2) + 1 / log2(3)  # 1.6309
    assert m["NDCG@5"] == pytest.approx(dcg / ideal)
    assert m["NDCG@5"] == pytest.approx(0.919720, abs=1e-6)


def test_ndcg_ideal_uses_min_of_ground_truth_and_k() -> None:
    scores = torch.tensor([[0.9, 0.8, 0.7, 0.6, 0.5], [0.9, 0.8, 0.7, 0.6, 0.5]])
    relevant = torch.tensor([
        [True, False, True, True, False],  # |G| = 3 > k = 2, hits at ranks 1, 3, 4
        [True, True, False, True, False],  # |G| = 3 > k = 2, hits at ranks 1, 2: perfect within k
    ])
    ranking = rank(scores, relevant, ndcg_ks=(2,))
    ideal = 1 + 1 / log2(3)  # two hits, not three
    assert ranking.ndcg[2].tolist() == pytest.approx([1 / ideal, 1.0])


def test_ties_are_broken_by_candidate_index() -> None:
    scores = torch.tensor([
        [0.5, 0.5, 0.5, 0.5],  # all tied, the right one (index 2) comes after indices 0 and 1
        [0.2, 0.5, 0.5, 0.1],  # right ones 1 and 2 tied: index 1 counts, rank 1
        [0.5, 0.2, 0.5, 0.5],  # right one index 3 tied with 0 and 2 -> rank 3
    ])
    relevant = torch.tensor([
        [False, False, True, False],
        [False, True, True, False],
        [False, False, False, True],
    ])
    for _ in range(3):  # same answer every time
        ranking = rank(scores, relevant, ndcg_ks=(1, 2), topk=4)
        assert ranking.first_rank.tolist() == [3, 1, 3]
        assert ranking.topk_indices is not None
        assert ranking.topk_indices.tolist() == [[0, 1, 2, 3], [1, 2, 0, 3], [0, 2, 3, 1]]
        assert ranking.ndcg[1].tolist() == pytest.approx([0.0, 1.0, 0.0])
        assert ranking.ndcg[2].tolist() == pytest.approx([0.0, 1.0, 0.0])


def test_stable_topk_equals_a_full_stable_sort() -> None:
    gen = torch.Generator().manual_seed(3)
    scores = torch.randint(0, 4, (64, 40), generator=gen).float()  # many ties
    scores[0] = 1.0  # a row that is one big tie
    for k in (1, 3, 7, 40, 50):
        idx, val = stable_topk(scores, k)
        full = torch.sort(scores, dim=1, descending=True, stable=True)
        assert torch.equal(idx, full.indices[:, :k])
        assert torch.equal(val, full.values[:, :k])


def test_matches_a_full_sort_reference_on_tied_scores() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 6, size=(30, 25)).astype(np.float32)
    relevant = rng.random((30, 25)) < 0.15
    relevant[0] = False
    relevant[1] = True
    with pytest.warns(UserWarning, match="no ground truth"):
        ranking = rank(torch.from_numpy(scores), torch.from_numpy(relevant), ndcg_ks=(5,))
    ref_rank, ref_ndcg = _reference(scores, relevant, 5)
    assert ranking.first_rank.tolist() == ref_rank.tolist()
    assert ranking.ndcg[5].numpy() == pytest.approx(ref_ndcg)


def test_queries_without_ground_truth_are_left_out() -> None:
    scores = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9]])
    with pytest.warns(UserWarning, match="1 of 3 queries"):
        ranking = rank(scores, query_ids=[0, 7, 0], candidate_ids=[0, 1])
    assert ranking.first_rank.tolist() == [1, 0, 2]
    assert ranking.valid.tolist() == [True, False, True]
    assert ranking.recall(1) == pytest.approx(0.5)  # over the two queries with ground truth
    assert ranking.failures(1).tolist() == [2]


def test_chunked_equals_unchunked() -> None:
    rng = np.random.default_rng(1)
    scores = torch.from_numpy(np.round(rng.normal(size=(37, 53)), 1).astype(np.float32))  # some ties
    query_ids = torch.from_numpy(rng.integers(0, 10, size=37))
    candidate_ids = torch.from_numpy(rng.integers(0, 10, size=53))
    candidate_ids[:10] = torch.arange(10)  # every query has ground truth
    whole = rank(scores, query_ids=query_ids, candidate_ids=candidate_ids, ndcg_ks=(5, 10), topk=5,
                 chunk_size=1000)
    relevant = query_ids[:, None] == candidate_ids[None, :]
    for chunk in (1, 4, 36, None):
        part = rank(scores, query_ids=query_ids, candidate_ids=candidate_ids, ndcg_ks=(5, 10), topk=5,
                    chunk_size=chunk)
        by_matrix = rank(scores, relevant, ndcg_ks=(5, 10), topk=5, chunk_size=chunk)
        for other in (part, by_matrix):
            assert torch.equal(other.first_rank, whole.first_rank)
            assert torch.equal(other.num_relevant, whole.num_relevant)
            assert torch.equal(other.topk_indices, whole.topk_indices)
            for k in (5, 10):
                assert torch.equal(other.ndcg[k], whole.ndcg[k])


def test_median_and_mean_rank_follow_open_clip() -> None:
    # ranks 1, 2, 3, 10: median 2.5 -> floor 2 (open_clip: floor(median(preds)) + 1 with 0-based preds)
    scores = torch.tensor([[10.0, 9, 8, 7, 6, 5, 4, 3, 2, 1]]).repeat(4, 1)
    m = ranking_metrics(scores, query_ids=[0, 1, 2, 9], candidate_ids=list(range(10)), ks=(1,))
    assert m["median_rank"] == 2.0
    assert m["mean_rank"] == pytest.approx(4.0)


def test_fold_max_scores_an_item_by_its_best_observation() -> None:
    scores = torch.tensor([[0.1, 0.9, 0.3, 0.4], [0.5, 0.2, 0.8, 0.1]])
    folded, items = fold_max(scores, torch.tensor([7, 3, 7, 3]))
    assert items.tolist() == [3, 7]
    torch.testing.assert_close(folded, torch.tensor([[0.9, 0.3], [0.2, 0.8]]))


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="NaN"):
        rank(torch.tensor([[0.1, float("nan")]]), torch.tensor([[True, False]]))
    with pytest.raises(ValueError, match="shape"):
        rank(torch.zeros(2, 3), torch.zeros(2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="match scores"):
        rank(torch.zeros(2, 3), query_ids=[0, 1], candidate_ids=[0, 1])
    with pytest.raises(ValueError, match="either"):
        rank(torch.zeros(1, 1), torch.ones(1, 1, dtype=torch.bool), query_ids=[0], candidate_ids=[0])
