"""Fused embeddings (GCL): normalize(a + b), per item pair."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.models.fusion import fuse, fuse_first, fuse_pairs


def _unit(n: int, d: int = 6, seed: int = 0) -> torch.Tensor:
    return F.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_fuse_is_the_normalised_sum() -> None:
    a, b = _unit(4), _unit(4, seed=1)
    f = fuse(a, b)
    torch.testing.assert_close(f, (a + b) / (a + b).norm(dim=-1, keepdim=True))
    torch.testing.assert_close(f.norm(dim=-1), torch.ones(4))
    torch.testing.assert_close(fuse(a, a), a)  # fusing an embedding with itself changes nothing
    torch.testing.assert_close(fuse(a, b), fuse(b, a))
    # score-level fusion: <q, fuse(a, b)> is proportional to <q, a> + <q, b>
    q = _unit(1, seed=2)
    torch.testing.assert_close(q @ f.T, (q @ a.T + q @ b.T) / (a + b).norm(dim=-1))


def test_fuse_pairs_fuses_every_same_item_pair() -> None:
    a, b = _unit(4), _unit(5, seed=1)
    items_a = torch.tensor([0, 0, 1, 2])  # two views of item 0
    items_b = torch.tensor([1, 0, 0, 1, 3])  # item 3 has no view, item 2 has no caption
    fused, items, ia, ib = fuse_pairs(a, items_a, b, items_b)
    pairs = list(zip(ia.tolist(), ib.tolist(), strict=True))
    assert pairs == [(0, 1), (0, 2), (1, 1), (1, 2), (2, 0), (2, 3)]
    assert items.tolist() == [0, 0, 0, 0, 1, 1]
    torch.testing.assert_close(fused, fuse(a[ia], b[ib]))


def test_fuse_first_gives_one_per_row() -> None:
    shapes, captions = _unit(3), _unit(6, seed=1)
    items_s, items_c = torch.tensor([7, 8, 9]), torch.tensor([7, 7, 8, 8, 9, 9])
    fused, items = fuse_first(shapes, items_s, captions, items_c)
    torch.testing.assert_close(fused, fuse(shapes, captions[[0, 2, 4]]))
    assert items.tolist() == [7, 8, 9]
