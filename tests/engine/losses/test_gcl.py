"""``gcl``: six directional terms over visual, text and fused embeddings — hand values and a loop reference."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from engine.losses import ClipLoss, Embeddings, GCLLoss, LossError

TERMS = ["image_text", "image_fused", "text_image", "text_fused", "fused_image", "fused_text"]


def unit(*shape: int, seed: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=g, dtype=dtype), dim=-1)


def dot(x: list[float], y: list[float]) -> float:
    return sum(u * v for u, v in zip(x, y, strict=True))


def normalize(x: list[float]) -> list[float]:
    n = math.sqrt(dot(x, x))
    return [u / n for u in x]


def reference(
    visual: dict[int, list[float]],
    captions: list[tuple[int, list[float]]],
    s: float,
    softmax: str,
    decouple: bool,
    weights: dict[str, float],
) -> dict[str, float]:
    """G1-G3 with loops: observations are (modality, index, item, vector)."""
    count = {i: sum(1 for j, _ in captions if j == i) for i in visual}
    obs = [("image", i, i, v) for i, v in visual.items()]
    obs += [("text", c, i, t) for c, (i, t) in enumerate(captions)]
    obs += [
        ("fused", c, i, normalize([a + b for a, b in zip(visual[i], t, strict=True)]))
        for c, (i, t) in enumerate(captions)
    ]

    def excluded(x, y) -> bool:
        return decouple and {x[0], y[0]} == {"text", "fused"} and x[1] == y[1] and count[x[2]] >= 2

    terms = {}
    for m in ("image", "text", "fused"):
        for n in ("image", "text", "fused"):
            if m == n:
                continue
            rows = []
            for x in (o for o in obs if o[0] == m):
                cands = [y for y in obs if (y[0] == n if softmax == "pair" else y[0] != m) and not excluded(x, y)]
                pos = [y for y in cands if y[0] == n and y[2] == x[2]]
                if not pos:
                    continue
                lse = math.log(sum(math.exp(s * dot(x[3], y[3])) for y in cands))
                rows.append(-sum(s * dot(x[3], y[3]) - lse for y in pos) / len(pos))
            terms[f"{m}_{n}"] = sum(rows) / len(rows)
    w = {t: weights.get(t, 1.0) for t in terms}
    terms["total"] = sum(w[t] * terms[t] for t in w) / sum(w.values())
    return terms


def gcl_batch(
    visual: torch.Tensor, visual_items: list[int], text: torch.Tensor, text_items: list[int], key: str = "image"
) -> Embeddings:
    return Embeddings({key: visual, "text": text}, {key: torch.tensor(visual_items), "text": torch.tensor(text_items)})


def test_hand_computed_visual_queries_two_items() -> None:
    # V1=(1,0), V2=(0,1); T1=(0.6,0.8), T2=(-0.6,0.8); F1=(1.6,0.8)/|.|=(2,1)/sqrt5, F2=(-0.6,1.8)/|.|=(-1,3)/sqrt10
    r5, r10 = math.sqrt(5), math.sqrt(10)
    v1 = {"T1": 0.6, "T2": -0.6, "F1": 2 / r5, "F2": -1 / r10}
    v2 = {"T1": 0.8, "T2": 0.8, "F1": 1 / r5, "F2": 3 / r10}
    lse1 = math.log(sum(math.exp(x) for x in v1.values()))  # union: texts and fused together, logit_scale 1
    lse2 = math.log(sum(math.exp(x) for x in v2.values()))
    union_image_text = (-(v1["T1"] - lse1) - (v2["T2"] - lse2)) / 2
    union_image_fused = (-(v1["F1"] - lse1) - (v2["F2"] - lse2)) / 2
    pair_image_text = (
        -(v1["T1"] - math.log(math.exp(v1["T1"]) + math.exp(v1["T2"])))
        - (v2["T2"] - math.log(math.exp(v2["T1"]) + math.exp(v2["T2"])))
    ) / 2
    pair_image_fused = (
        -(v1["F1"] - math.log(math.exp(v1["F1"]) + math.exp(v1["F2"])))
        - (v2["F2"] - math.log(math.exp(v2["F1"]) + math.exp(v2["F2"])))
    ) / 2

    visual = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    text = torch.tensor([[0.6, 0.8], [-0.6, 0.8]], dtype=torch.float64)
    b, one = gcl_batch(visual, [0, 1], text, [0, 1]), torch.tensor(1.0, dtype=torch.float64)
    union, pair = GCLLoss(softmax="union")(b, one), GCLLoss(softmax="pair")(b, one)
    assert union.parts["image_text"].item() == pytest.approx(union_image_text, abs=1e-12)
    assert union.parts["image_fused"].item() == pytest.approx(union_image_fused, abs=1e-12)
    assert pair.parts["image_text"].item() == pytest.approx(pair_image_text, abs=1e-12)
    assert pair.parts["image_fused"].item() == pytest.approx(pair_image_fused, abs=1e-12)
    assert union.total.item() == pytest.approx(sum(union.parts.values()).item() / 6, abs=1e-12)


@pytest.mark.parametrize("softmax", ["union", "pair"])
@pytest.mark.parametrize("decouple", [True, False])
def test_matches_loop_reference_with_several_captions(softmax: str, decouple: bool) -> None:
    visual_items, text_items = [3, 8, 1, 6], [8, 3, 3, 1, 8, 3, 6]  # 1-3 captions per item
    visual, text = unit(4, 5, seed=1), unit(7, 5, seed=2)
    weights = {"image_text": 2.0, "fused_text": 0.5, "text_fused": 0.0}
    out = GCLLoss(weights=weights, softmax=softmax, decouple_fused=decouple)(
        gcl_batch(visual, visual_items, text, text_items), torch.tensor(6.0, dtype=torch.float64)
    )
    expected = reference(
        dict(zip(visual_items, visual.tolist(), strict=True)),
        list(zip(text_items, text.tolist(), strict=True)),
        6.0,
        softmax,
        decouple,
        weights,
    )
    for name in TERMS:
        assert out.parts[name].item() == pytest.approx(expected[name], abs=1e-10), name
    assert out.total.item() == pytest.approx(expected["total"], abs=1e-10)


def test_pair_softmax_with_only_the_image_text_terms_equals_clip() -> None:
    visual, text = unit(5, 8, seed=3), unit(5, 8, seed=4)
    ids = [7, 1, 4, 9, 2]
    b, scale = gcl_batch(visual, ids, text, ids), torch.tensor(12.0, dtype=torch.float64)
    only = {t: 0.0 for t in TERMS if t not in ("image_text", "text_image")}
    gcl = GCLLoss(weights=only, softmax="pair")(b, scale)
    assert abs(gcl.total.item() - ClipLoss()(b, scale).total.item()) < 1e-12
    assert gcl.weights["image_text"] == gcl.weights["text_image"] == 0.5


def test_fused_embedding_is_the_normalised_sum_and_a_given_fused_is_used() -> None:
    visual_items, text_items = [0, 1, 2], [0, 0, 1, 2, 2]
    visual, text = unit(3, 6, seed=5), unit(5, 6, seed=6)
    fused = F.normalize(visual[text_items] + text, dim=-1)
    scale = torch.tensor(4.0, dtype=torch.float64)
    internal = GCLLoss(decouple_fused=False)(gcl_batch(visual, visual_items, text, text_items), scale)
    given = Embeddings(
        {"image": visual, "text": text, "fused": fused},
        {"image": torch.tensor(visual_items), "text": torch.tensor(text_items), "fused": torch.tensor(text_items)},
    )
    torch.testing.assert_close(GCLLoss()(given, scale).total, internal.total)


# pair: only the T<->VT softmaxes lose a candidate; union: text and fused queries each have one softmax over
# both other modalities, so all four of their terms see the change.
UNCHANGED_BY_DECOUPLING = {
    "pair": {"image_text", "image_fused", "text_image", "fused_image"},
    "union": {"image_text", "image_fused"},
}


@pytest.mark.parametrize(("softmax", "unchanged"), list(UNCHANGED_BY_DECOUPLING.items()))
def test_decoupling_touches_only_caption_and_fused_queries_and_only_with_several_captions(
    softmax: str, unchanged: set[str]
) -> None:
    scale = torch.tensor(8.0, dtype=torch.float64)
    several = gcl_batch(unit(3, 6, seed=7), [0, 1, 2], unit(6, 6, seed=8), [0, 0, 1, 1, 2, 2])
    on = GCLLoss(softmax=softmax, decouple_fused=True)(several, scale)
    off = GCLLoss(softmax=softmax, decouple_fused=False)(several, scale)
    for name in TERMS:
        assert torch.allclose(on.parts[name], off.parts[name]) == (name in unchanged), name
    one = gcl_batch(unit(3, 6, seed=9), [0, 1, 2], unit(3, 6, seed=10), [0, 1, 2])
    torch.testing.assert_close(
        GCLLoss(softmax=softmax, decouple_fused=True)(one, scale).total,
        GCLLoss(softmax=softmax, decouple_fused=False)(one, scale).total,
    )


def test_with_one_caption_fused_is_equally_close_to_its_image_and_text() -> None:
    # The leakage GCL accepts: normalize(e_V + e_T) bisects e_V and e_T, so with one caption per item the two
    # fused-query terms of the union softmax are equal whatever the encoders do.
    out = GCLLoss()(
        gcl_batch(unit(4, 6, seed=11), [0, 1, 2, 3], unit(4, 6, seed=12), [0, 1, 2, 3]),
        torch.tensor(10.0, dtype=torch.float64),
    )
    torch.testing.assert_close(out.parts["fused_image"], out.parts["fused_text"])


def test_shape_is_the_visual_and_views_are_pooled_without_it() -> None:
    views, text = unit(4, 6, seed=13), unit(2, 6, seed=14)
    pooled = F.normalize(views.view(2, 2, 6).sum(1), dim=-1)
    scale = torch.tensor(5.0, dtype=torch.float64)
    from_views = GCLLoss()(gcl_batch(views, [0, 0, 1, 1], text, [0, 1]), scale).total
    from_shape = GCLLoss()(gcl_batch(pooled, [0, 1], text, [0, 1], key="shape"), scale).total
    torch.testing.assert_close(from_views, from_shape)


def test_caption_without_visual_and_bad_options_raise() -> None:
    with pytest.raises(LossError, match="visual"):
        GCLLoss()(gcl_batch(unit(1, 4, seed=15), [0], unit(2, 4, seed=16), [0, 1]), torch.tensor(1.0))
    for options in (
        {"weights": {"image_image": 1.0}},
        {"weights": {"image_text": -1.0}},
        {"weights": dict.fromkeys(TERMS, 0.0)},
        {"softmax": "all"},
        {"visual": "mesh"},
    ):
        with pytest.raises(LossError):
            GCLLoss(**options)
