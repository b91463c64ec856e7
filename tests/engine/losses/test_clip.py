"""``clip``: open_clip equality, a hand-computed value, and what it keeps of a multifold batch."""

from __future__ import annotations

import math

import open_clip
import pytest
import torch
from torch.nn import functional as F

from engine.losses import ClipLoss, Embeddings, LossError


def unit(*shape: int, seed: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=g, dtype=dtype), dim=-1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scale", [1.0, 14.285, 100.0])
def test_equals_open_clip_cliploss(dtype: torch.dtype, scale: float) -> None:
    image, text = unit(7, 16, seed=1, dtype=dtype), unit(7, 16, seed=2, dtype=dtype)
    logit_scale = torch.tensor(scale, dtype=dtype)
    expected = open_clip.loss.ClipLoss()(image, text, logit_scale)
    ids = torch.tensor([40, 3, 17, 9, 1000, 2, 5])  # arbitrary catalogue ids: only equality matters
    out = ClipLoss()(Embeddings({"image": image, "text": text}, {"image": ids, "text": ids}), logit_scale)
    assert out.total.dtype == dtype
    # relative: float32 sums of ~50 terms differ by a few ulps between BLAS kernels (CPUs), and the loss here is ~43
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-12}
    torch.testing.assert_close(out.total, expected, **tol)


def test_hand_computed_two_items() -> None:
    # a1=(1,0), a2=(0,1); t1=(0.6,0.8), t2=(0,1); logit_scale 2.
    # sims: a1.t1=0.6, a1.t2=0, a2.t1=0.8, a2.t2=1 -> logits [[1.2, 0], [1.6, 2]]
    row1 = -1.2 + math.log(math.exp(1.2) + math.exp(0.0))  # image 1 -> text 1
    row2 = -2.0 + math.log(math.exp(1.6) + math.exp(2.0))  # image 2 -> text 2
    col1 = -1.2 + math.log(math.exp(1.2) + math.exp(1.6))  # text 1 -> image 1
    col2 = -2.0 + math.log(math.exp(0.0) + math.exp(2.0))  # text 2 -> image 2
    expected = ((row1 + row2) / 2 + (col1 + col2) / 2) / 2

    image = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    text = torch.tensor([[0.6, 0.8], [0.0, 1.0]], dtype=torch.float64)
    ids = torch.tensor([0, 1])
    out = ClipLoss()(
        Embeddings({"image": image, "text": text}, {"image": ids, "text": ids}), torch.tensor(2.0, dtype=torch.float64)
    )
    assert out.total.item() == pytest.approx(expected, abs=1e-12)
    assert out.parts["image_text"].item() == pytest.approx((row1 + row2) / 2, abs=1e-12)
    assert out.parts["text_image"].item() == pytest.approx((col1 + col2) / 2, abs=1e-12)


def test_multifold_batch_uses_first_view_and_first_caption() -> None:
    views, captions = unit(6, 8, seed=3), unit(9, 8, seed=4)
    view_items = torch.tensor([5, 5, 7, 7, 9, 9])
    caption_items = torch.tensor([5, 7, 9, 5, 7, 9, 5, 7, 9])
    scale = torch.tensor(10.0)
    out = ClipLoss()(
        Embeddings({"image": views, "text": captions}, {"image": view_items, "text": caption_items}), scale
    )
    first_views, first_captions = views[[0, 2, 4]], captions[[0, 1, 2]]
    expected = open_clip.loss.ClipLoss()(first_views, first_captions, scale)
    torch.testing.assert_close(out.total, expected, rtol=1e-5, atol=1e-6)


def test_shape_embedding_is_the_visual_side_when_present() -> None:
    views, shapes, captions = unit(4, 8, seed=5), unit(2, 8, seed=6), unit(2, 8, seed=7)
    batch = Embeddings(
        {"image": views, "shape": shapes, "text": captions},
        {"image": torch.tensor([0, 0, 1, 1]), "shape": torch.tensor([0, 1]), "text": torch.tensor([0, 1])},
    )
    scale = torch.tensor(5.0)
    torch.testing.assert_close(ClipLoss()(batch, scale).total, open_clip.loss.ClipLoss()(shapes, captions, scale))
    first_views = open_clip.loss.ClipLoss()(views[[0, 2]], captions, scale)
    torch.testing.assert_close(ClipLoss(visual="image")(batch, scale).total, first_views)


def test_bad_visual_option_and_missing_modality() -> None:
    with pytest.raises(LossError):
        ClipLoss(visual="voxels")
    batch = Embeddings({"image": unit(2, 4, seed=8)}, {"image": torch.tensor([0, 1])})
    with pytest.raises(LossError, match="text"):
        ClipLoss()(batch, torch.tensor(1.0))
