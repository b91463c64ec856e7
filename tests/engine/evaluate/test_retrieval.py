"""Per-direction retrieval evaluation from embeddings, failures for the browser, and the metrics table."""

from __future__ import annotations

import math
from math import log2

import pytest
import torch

from engine.evaluate import (
    default_directions,
    direction_name,
    evaluate_retrieval,
    format_table,
    parse_direction,
    rank_failures,
)


def _at(*degrees: float) -> torch.Tensor:
    """Unit vectors in the plane at the given angles: the score of two of them is the cosine of the gap."""
    rad = torch.tensor(degrees, dtype=torch.float64) * math.pi / 180
    return torch.stack([rad.cos(), rad.sin()], dim=1).float()


def _hand_case() -> tuple[dict, dict]:
    # Shapes: item 0 at 0 deg, item 1 at 90 deg. Captions: three of item 0 (80, 30, 60 deg), one of item 1 (20).
    #   shape 0 scores captions: c3 .94 > c1 .87 > c2 .50 > c0 .17 -> its captions at ranks 2, 3, 4
    #   shape 1 scores captions: c0 .98 > c2 .87 > c1 .50 > c3 .34 -> its caption at rank 4
    #   c0 (item 0): shape 1 first -> rank 2; c1: rank 1; c2: rank 2; c3 (item 1): rank 2
    emb = {"text": _at(80, 30, 60, 20), "shape": _at(0, 90)}
    items = {"text": torch.tensor([0, 0, 0, 1]), "shape": torch.tensor([0, 1])}
    return emb, items


def test_multiple_ground_truth_both_directions_by_hand() -> None:
    emb, items = _hand_case()
    m = evaluate_retrieval(emb, items, ks=(1, 2, 3, 5), ndcg_k=5)
    # text -> shape: one correct shape per caption, ranks [2, 1, 2, 2]
    assert m["text_to_shape_R@1"] == pytest.approx(0.25)
    assert m["text_to_shape_R@2"] == pytest.approx(1.0)
    assert m["text_to_shape_RR@1"] == m["text_to_shape_R@1"]
    assert m["text_to_shape_RR@5"] == m["text_to_shape_R@5"] == pytest.approx(1.0)
    assert m["text_to_shape_median_rank"] == 2.0
    assert m["text_to_shape_mean_rank"] == pytest.approx(1.75)
    assert m["text_to_shape_NDCG@5"] == pytest.approx((1.0 + 3 / log2(3)) / 4)
    # shape -> text: shape 0 is a hit from k = 2 on (any of its 3 captions), shape 1 only from k = 4
    assert m["shape_to_text_R@1"] == pytest.approx(0.0)
    assert m["shape_to_text_R@2"] == pytest.approx(0.5)
    assert m["shape_to_text_R@3"] == pytest.approx(0.5)
    assert m["shape_to_text_R@5"] == pytest.approx(1.0)
    ndcg0 = (1 / log2(3) + 1 / log2(4) + 1 / log2(5)) / (1 + 1 / log2(3) + 1 / log2(4))
    ndcg1 = 1 / log2(5)
    assert m["shape_to_text_NDCG@5"] == pytest.approx((ndcg0 + ndcg1) / 2)
    assert m["shape_to_text_mean_rank"] == pytest.approx(3.0)
    assert m["shape_to_text_num_queries"] == 2 and m["shape_to_text_num_candidates"] == 4
    assert m["mean_R@1"] == pytest.approx(0.125)
    assert m["mean_NDCG@5"] == pytest.approx((m["text_to_shape_NDCG@5"] + m["shape_to_text_NDCG@5"]) / 2)


def test_metric_names_follow_open_clip_style() -> None:
    emb, items = _hand_case()
    m = evaluate_retrieval(emb, items)
    for d in ("text_to_shape", "shape_to_text"):
        for suffix in ("R@1", "R@5", "R@10", "RR@1", "RR@5", "NDCG@5", "median_rank", "mean_rank"):
            assert f"{d}_{suffix}" in m
        assert f"{d}_RR@10" not in m  # Text2Shape reports RR@1 and RR@5
    assert {"mean_R@1", "mean_R@5", "mean_R@10", "mean_RR@1", "mean_RR@5", "mean_NDCG@5"} <= set(m)
    assert not any(k.startswith("mean_") and "rank" in k for k in m)


def test_perfect_embeddings_score_one_everywhere() -> None:
    n = 6
    basis = torch.eye(n)
    caption_items = torch.tensor([0, 0, 0, 1, 2, 2, 3, 4, 4, 5, 5, 5])
    view_items = torch.arange(n).repeat_interleave(4)
    emb = {
        "text": basis[caption_items],
        "shape": basis,
        "view": basis[view_items],
        "image": basis,
        "shape_text": basis,
        "image_text": basis,
    }
    items = {"text": caption_items, "shape": torch.arange(n), "view": view_items, "image": torch.arange(n),
             "shape_text": torch.arange(n), "image_text": torch.arange(n)}
    for fold in ("none", "max"):
        m = evaluate_retrieval(emb, items, fold=fold)
        rates = {k: v for k, v in m.items() if "@" in k}
        assert rates and all(v == pytest.approx(1.0) for v in rates.values()), rates
        assert all(v == 1.0 for k, v in m.items() if k.endswith("_rank"))
    assert {"text_to_view_maxfold_R@1", "shape_to_text_maxfold_R@1", "image_to_image_text_R@1"} <= set(m)


def test_default_directions() -> None:
    mods = ["text", "shape", "image", "shape_text", "image_text"]
    assert default_directions(mods) == [
        ("text", "shape"), ("shape", "text"), ("text", "image"), ("image", "text"),
        ("text", "shape_text"), ("shape", "shape_text"), ("text", "image_text"), ("image", "image_text"),
    ]
    assert default_directions(["shape", "text"]) == [("text", "shape"), ("shape", "text")]
    assert parse_direction("text_to_shape_text") == ("text", "shape_text")
    assert parse_direction("text_to_view_maxfold") == ("text", "view")
    assert direction_name("text", "view", folded=True) == "text_to_view_maxfold"


def test_without_captions_the_caption_directions_are_skipped_not_scored_zero() -> None:
    emb, items = _hand_case()
    no_text = {"text": torch.empty(0, 2), "shape": emb["shape"], "shape_text": emb["shape"]}
    no_text_items = {"text": torch.empty(0, dtype=torch.long), "shape": items["shape"], "shape_text": items["shape"]}
    metrics = evaluate_retrieval(no_text, no_text_items)
    assert {k for k in metrics if "text_to" in k or k.startswith("text")} == set()  # no text <-> shape rows
    assert metrics["shape_to_shape_text_R@1"] == 1.0 and metrics["mean_R@1"] == 1.0
    with pytest.raises(ValueError, match="no retrieval direction"):
        evaluate_retrieval({"text": torch.empty(0, 2), "shape": emb["shape"]},
                           {"text": torch.empty(0, dtype=torch.long), "shape": items["shape"]})


def test_ties_between_candidates_are_broken_by_row_order() -> None:
    # Two different items with the same embedding: the one in the lower row always ranks first.
    emb = {"text": _at(10, 10), "shape": _at(0, 0, 90)}
    items = {"text": torch.tensor([5, 3]), "shape": torch.tensor([5, 3, 8])}
    for _ in range(3):
        m = evaluate_retrieval(emb, items, directions=[("text", "shape")], ks=(1, 2))
        assert m["text_to_shape_R@1"] == pytest.approx(0.5)  # item 5 (row 0) first, item 3 (row 1) second
        assert m["text_to_shape_mean_rank"] == pytest.approx(1.5)
    failures = rank_failures(emb, items, "text_to_shape", k=1)
    assert [(f.query_item, f.rank, f.candidate_items) for f in failures] == [(3, 2, [5])]


def test_max_fold_ranks_items_by_their_best_view() -> None:
    # Query at 0 deg; item 1 has views at 25, 35, 45 deg, item 0 one view at 50 deg.
    emb = {"text": _at(0), "view": _at(25, 35, 45, 50)}
    items = {"text": torch.tensor([0]), "view": torch.tensor([1, 1, 1, 0])}
    plain = evaluate_retrieval(emb, items, directions=[("text", "view")], ks=(1, 2, 4))
    assert plain["text_to_view_R@2"] == 0.0 and plain["text_to_view_R@4"] == 1.0  # view rank 4
    folded = evaluate_retrieval(emb, items, directions=[("text", "view")], ks=(1, 2, 4), fold={"view": "max"})
    assert set(folded) == {k.replace("text_to_view", "text_to_view_maxfold") for k in plain}
    assert folded["text_to_view_maxfold_R@1"] == 0.0 and folded["text_to_view_maxfold_R@2"] == 1.0
    assert folded["text_to_view_maxfold_num_candidates"] == 2
    # folding a modality with one row per item changes nothing, so the name stays
    emb2, items2 = _hand_case()
    assert "text_to_shape_R@1" in evaluate_retrieval(emb2, items2, fold="max")
    failures = rank_failures(emb, items, ("text", "view"), k=1, fold="max")
    assert len(failures) == 1
    f = failures[0]
    assert f.direction == "text_to_view_maxfold" and f.rank == 2
    assert f.candidate_items == [1] and f.candidate_indices == [0]  # item 1 through its best view, row 0
    assert f.scores == pytest.approx([math.cos(math.radians(25))])
    assert f.correct_score == pytest.approx(math.cos(math.radians(50)))


def test_chunked_equals_unchunked() -> None:
    gen = torch.Generator().manual_seed(7)
    n_items, d = 30, 8
    shape = torch.nn.functional.normalize(torch.randn(n_items, d, generator=gen), dim=1)
    caption_items = torch.randint(0, n_items, (90,), generator=gen)
    caption_items[:n_items] = torch.arange(n_items)
    text = torch.nn.functional.normalize(shape[caption_items] + torch.randn(90, d, generator=gen), dim=1)
    emb, items = {"text": text, "shape": shape}, {"text": caption_items, "shape": torch.arange(n_items)}
    whole = evaluate_retrieval(emb, items, chunk_size=10_000)
    for chunk in (1, 7, None):
        assert evaluate_retrieval(emb, items, chunk_size=chunk) == whole
    fails = [(f.query_index, f.rank, f.candidate_indices) for f in rank_failures(emb, items, "shape_to_text", k=3)]
    assert fails and fails == [(f.query_index, f.rank, f.candidate_indices)
                               for f in rank_failures(emb, items, "shape_to_text", k=3, chunk_size=4)]


def test_random_embeddings_give_chance_level() -> None:
    gen = torch.Generator().manual_seed(0)
    n_items, per_item, d = 500, 4, 32
    emb = {
        "text": torch.nn.functional.normalize(torch.randn(n_items * per_item, d, generator=gen), dim=1),
        "shape": torch.nn.functional.normalize(torch.randn(n_items, d, generator=gen), dim=1),
    }
    items = {"text": torch.arange(n_items).repeat_interleave(per_item), "shape": torch.arange(n_items)}
    m = evaluate_retrieval(emb, items, ks=(1, 10, 50))
    # text -> shape: one right shape among 500
    assert m["text_to_shape_R@1"] == pytest.approx(1 / n_items, abs=0.004)
    assert m["text_to_shape_R@10"] == pytest.approx(10 / n_items, abs=0.01)
    assert m["text_to_shape_R@50"] == pytest.approx(50 / n_items, abs=0.03)
    assert m["text_to_shape_mean_rank"] == pytest.approx((n_items + 1) / 2, rel=0.08)
    # shape -> text: four right captions among 2000; P(hit in top 50) = 1 - C(1996, 50) / C(2000, 50)
    p50 = 1 - math.comb(n_items * per_item - per_item, 50) / math.comb(n_items * per_item, 50)
    assert m["shape_to_text_R@50"] == pytest.approx(p50, abs=0.04)
    assert m["shape_to_text_R@1"] < 0.02


def test_failures_list_the_rank_of_the_right_item() -> None:
    emb, items = _hand_case()
    failures = rank_failures(emb, items, "shape_to_text", k=1)
    assert [(f.query_index, f.query_item, f.rank, f.num_relevant) for f in failures] == [(0, 0, 2, 3), (1, 1, 4, 1)]
    assert failures[0].candidate_indices == [3] and failures[0].candidate_items == [1]
    assert failures[0].scores == pytest.approx([math.cos(math.radians(20))])
    assert failures[0].correct_score == pytest.approx(math.cos(math.radians(30)))
    top3 = rank_failures(emb, items, "shape_to_text", k=3)
    assert [(f.query_index, f.rank) for f in top3] == [(1, 4)]
    assert top3[0].candidate_indices == [0, 2, 1] and top3[0].candidate_items == [0, 0, 0]
    assert top3[0].scores == pytest.approx([math.cos(math.radians(a)) for a in (10, 30, 60)])
    assert rank_failures(emb, items, "shape_to_text", k=4) == []
    assert len(rank_failures(emb, items, "shape_to_text", k=1, limit=1)) == 1
    t2s = rank_failures(emb, items, ("text", "shape"), k=1)
    assert [(f.query_index, f.rank) for f in t2s] == [(0, 2), (2, 2), (3, 2)]


def test_bad_inputs_are_refused() -> None:
    emb, items = _hand_case()
    with pytest.raises(ValueError, match="ids for"):
        evaluate_retrieval(emb, {**items, "text": torch.tensor([0, 1])})
    with pytest.raises(ValueError, match="image"):
        evaluate_retrieval(emb, items, directions=[("text", "image")])
    with pytest.raises(ValueError, match="dimension"):
        evaluate_retrieval({**emb, "shape": torch.ones(2, 3)}, items)
    with pytest.raises(ValueError, match="fold"):
        evaluate_retrieval(emb, items, fold="mean")
    with pytest.raises(ValueError, match="_to_"):
        parse_direction("textshape")


def test_format_table_one_row_per_direction() -> None:
    emb, items = _hand_case()
    emb["view"], items["view"] = _at(0, 5, 90), torch.tensor([0, 0, 1])
    metrics = evaluate_retrieval(emb, items, directions=["text_to_shape", "shape_to_text", "text_to_view"],
                                 fold={"view": "max"})
    table = format_table(metrics)
    lines = table.splitlines()
    header = lines[0].split()
    assert header[:7] == ["direction", "R@1", "R@5", "R@10", "RR@1", "RR@5", "NDCG@5"]
    rows = {line.split()[0]: line.split() for line in lines[2:] if line.split()
            and line.split()[0] in {"text_to_shape", "shape_to_text", "text_to_view_maxfold", "mean"}}
    assert list(rows) == ["text_to_shape", "shape_to_text", "text_to_view_maxfold", "mean"]
    assert rows["text_to_shape"][1:7] == ["25.0", "100.0", "100.0", "25.0", "100.0",
                                          f"{100 * (1 + 3 / log2(3)) / 4:.1f}"]
    assert rows["shape_to_text"][1] == "0.0"
    assert "R@k = RR@k" in table and "max-fold" in table
    assert format_table({}) == "(no retrieval metrics)"
