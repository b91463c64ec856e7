"""``mxm``: MXM-CLR's hybrid loss — reduction to ``clip``, hand-computed values, a loop reference."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from engine.losses import ClipLoss, Embeddings, LossError, MXMLoss


def unit(*shape: int, seed: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=g, dtype=dtype), dim=-1)


def batch(image: torch.Tensor, image_items: list[int], text: torch.Tensor, text_items: list[int]) -> Embeddings:
    return Embeddings(
        {"image": image, "text": text}, {"image": torch.tensor(image_items), "text": torch.tensor(text_items)}
    )


def reference(
    a: list[list[float]], ia: list[int], t: list[list[float]], it: list[int], s: float, lam: float, sigma: float
) -> float:
    """M1-M6 with Python loops and the math module (independent of the vectorised code)."""

    def direction(q_emb, q_items, c_emb, c_items) -> tuple[float, float]:
        hard_rows, soft_rows = [], []
        for x, ix in zip(q_emb, q_items, strict=True):
            sims = [sum(u * v for u, v in zip(x, y, strict=True)) for y in c_emb]
            lse = math.log(sum(math.exp(s * v) for v in sims))
            pos = [j for j, iy in enumerate(c_items) if iy == ix]
            if not pos:
                continue
            hard_rows.append(-sum(s * sims[j] - lse for j in pos) / len(pos))
            z = sum(math.exp(sigma * sims[j]) for j in pos)
            soft_rows.append(-sum(math.exp(sigma * sims[j]) / z * (s * sims[j] - lse) for j in pos))
        return sum(hard_rows) / len(hard_rows), sum(soft_rows) / len(soft_rows)

    h1, s1 = direction(a, ia, t, it)
    h2, s2 = direction(t, it, a, ia)
    return (1 - lam) * (h1 + h2) / 2 + lam * (s1 + s2) / 2


@pytest.mark.parametrize("soft_weight", [0.0, 0.3, 0.5, 1.0])
@pytest.mark.parametrize("soft_scale", [None, 0.0, 7.5])
def test_one_view_one_caption_equals_clip(soft_weight: float, soft_scale: float | None) -> None:
    image, text = unit(6, 12, seed=1), unit(6, 12, seed=2)
    ids = [11, 4, 97, 3, 8, 50]
    b = batch(image, ids, text, ids)
    scale = torch.tensor(17.0, dtype=torch.float64)
    mxm = MXMLoss(soft_weight=soft_weight, soft_scale=soft_scale)(b, scale)
    clip = ClipLoss()(b, scale)
    assert abs(mxm.total.item() - clip.total.item()) < 1e-6
    assert abs(mxm.parts["hard"].item() - clip.total.item()) < 1e-12
    assert abs(mxm.parts["soft"].item() - clip.total.item()) < 1e-12


def test_hand_computed_two_views_one_caption() -> None:
    # views a1=(1,0), a2=(0,1) of item 0 and a3=(-1,0) of item 1; captions t1=(1,0) of item 0, t2=(0,-1) of item 1.
    # logit_scale 1, so logits = sims: a1 -> (1, 0), a2 -> (0, -1), a3 -> (-1, 0).
    rows = [
        -1 + math.log(math.e + 1),  # a1: positive t1
        -0 + math.log(1 + math.exp(-1)),  # a2: positive t1
        -0 + math.log(math.exp(-1) + 1),  # a3: positive t2
    ]
    lse_t1 = math.log(math.e + 1 + math.exp(-1))  # t1 over the views (1, 0, -1)
    lse_t2 = math.log(1 + math.exp(-1) + 1)  # t2 over the views (0, -1, 0)
    hard_t1 = -((1 - lse_t1) + (0 - lse_t1)) / 2  # two positives, uniform weights
    col_t2 = -(0 - lse_t2)
    q1, q2 = math.e / (math.e + 1), 1 / (math.e + 1)  # soft targets of t1 over a1, a2 (sigma = logit_scale = 1)
    soft_t1 = -(q1 * (1 - lse_t1) + q2 * (0 - lse_t1))
    hard = (sum(rows) / 3 + (hard_t1 + col_t2) / 2) / 2
    soft = (sum(rows) / 3 + (soft_t1 + col_t2) / 2) / 2

    image = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype=torch.float64)
    text = torch.tensor([[1.0, 0.0], [0.0, -1.0]], dtype=torch.float64)
    out = MXMLoss(soft_weight=0.25)(batch(image, [0, 0, 1], text, [0, 1]), torch.tensor(1.0, dtype=torch.float64))
    assert out.parts["hard"].item() == pytest.approx(hard, abs=1e-12)
    assert out.parts["soft"].item() == pytest.approx(soft, abs=1e-12)
    assert out.total.item() == pytest.approx(0.75 * hard + 0.25 * soft, abs=1e-12)
    assert out.weights == {"hard": 0.75, "soft": 0.25}


@pytest.mark.parametrize("soft_scale", [None, 3.0])
def test_matches_loop_reference_on_a_ragged_multifold_batch(soft_scale: float | None) -> None:
    # items with 1..3 views and 1..4 captions, one item with views only (its views have no positive caption)
    ia = [2, 2, 2, 5, 9, 9, 13]
    it = [9, 2, 5, 5, 5, 5, 9, 2]
    image, text = unit(len(ia), 6, seed=3), unit(len(it), 6, seed=4)
    s = 9.0
    out = MXMLoss(soft_weight=0.4, soft_scale=soft_scale)(
        batch(image, ia, text, it), torch.tensor(s, dtype=torch.float64)
    )
    expected = reference(image.tolist(), ia, text.tolist(), it, s, 0.4, s if soft_scale is None else soft_scale)
    assert out.total.item() == pytest.approx(expected, abs=1e-10)
    assert torch.isfinite(out.total)


def test_soft_part_has_the_gradient_of_the_sum_inside_the_log() -> None:
    ia, it = [0, 0, 0, 1, 1, 2], [0, 1, 1, 2, 2, 0, 2]
    image = unit(len(ia), 5, seed=5).requires_grad_()
    text = unit(len(it), 5, seed=6).requires_grad_()
    log_scale = torch.tensor(math.log(6.0), dtype=torch.float64, requires_grad=True)
    out = MXMLoss(soft_weight=1.0)(batch(image, ia, text, it), log_scale.exp())
    grads = torch.autograd.grad(out.total, (image, text, log_scale))

    logits = log_scale.exp() * image @ text.T
    pos = torch.tensor(ia).view(-1, 1) == torch.tensor(it).view(1, -1)

    def sum_inside(lg: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        return (torch.logsumexp(lg, 1) - torch.logsumexp(lg.masked_fill(~p, float("-inf")), 1)).mean()

    inside = (sum_inside(logits, pos) + sum_inside(logits.T, pos.T)) / 2
    for g, h in zip(grads, torch.autograd.grad(inside, (image, text, log_scale)), strict=True):
        torch.testing.assert_close(g, h, rtol=1e-9, atol=1e-12)


def test_every_cross_modal_pair_of_an_item_is_a_positive() -> None:
    # Two views of item 0 that are both aligned with both captions of item 0 give a lower loss than the
    # same batch where the second caption points away from the views: all four pairs count as positives.
    image = torch.tensor([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    aligned = torch.tensor([[0.96, 0.28, 0.0], [0.9, 0.43589, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    off = aligned.clone()
    off[1] = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    scale = torch.tensor(10.0, dtype=torch.float64)
    loss = MXMLoss(soft_weight=0.0)
    good = loss(batch(image, [0, 0, 1], F.normalize(aligned, dim=-1), [0, 0, 1]), scale).total
    bad = loss(batch(image, [0, 0, 1], F.normalize(off, dim=-1), [0, 0, 1]), scale).total
    assert good < bad


def test_uses_views_when_present_and_the_shape_otherwise() -> None:
    views, shapes, text = unit(4, 6, seed=7), unit(2, 6, seed=8), unit(3, 6, seed=9)
    items = {"image": torch.tensor([0, 0, 1, 1]), "shape": torch.tensor([0, 1]), "text": torch.tensor([0, 1, 1])}
    full = Embeddings({"image": views, "shape": shapes, "text": text}, items)
    scale = torch.tensor(5.0, dtype=torch.float64)
    views_only = MXMLoss()(Embeddings({"image": views, "text": text}, items), scale).total
    shapes_only = MXMLoss()(Embeddings({"shape": shapes, "text": text}, items), scale).total
    torch.testing.assert_close(MXMLoss()(full, scale).total, views_only)
    torch.testing.assert_close(MXMLoss(visual="shape")(full, scale).total, shapes_only)
    assert not torch.allclose(views_only, shapes_only)


@pytest.mark.parametrize(
    "options", [{"soft_weight": 1.5}, {"soft_weight": -0.1}, {"soft_scale": -1.0}, {"visual": "points"}]
)
def test_bad_options(options: dict) -> None:
    with pytest.raises(LossError):
        MXMLoss(**options)
