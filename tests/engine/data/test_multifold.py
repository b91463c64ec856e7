from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.catalog import ItemRecord
from engine.data.multifold import (
    EmptySplitError,
    MultifoldBatchSampler,
    MultifoldDataset,
    choose,
    collate,
    load_items,
)
from engine.workspace import Workspace


def _preprocess(im: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(im, dtype=np.float32)).permute(2, 0, 1) / 255


def _tokenize(texts: list[str]) -> torch.Tensor:
    return torch.tensor([[ord(t[-1]), ord(t[0])] for t in texts])


@pytest.fixture()
def shape_items(tmp_path: Path):
    ws = Workspace.open(tmp_path / "w")
    cat = ws.catalog()
    ds = cat.create_dataset("toy", "shape-text", "test")
    records = []
    for i in range(6):
        views = []
        for v in range(3 if i else 1):
            p = tmp_path / f"i{i}v{v}.png"
            Image.new("RGB", (4, 4), (i * 40, v * 80, 0)).save(p)
            views.append(str(p))
        records.append(ItemRecord(f"k{i}", split="train", captions=[f"c{i}-{j}" for j in range(4)], views=views))
    records.append(ItemRecord("noviews", split="train", captions=["x"]))
    cat.add_records(ds.id, records)
    return cat


def test_load_items_skips_items_without_views(shape_items) -> None:
    kind, items = load_items(shape_items, "toy", "train")
    assert kind == "shape-text"
    assert [i.key for i in items] == [f"k{i}" for i in range(6)]
    with pytest.raises(EmptySplitError, match="no test items"):
        load_items(shape_items, "toy", "test")


def test_choose_without_replacement_when_possible() -> None:
    rng = np.random.default_rng(0)
    assert sorted(choose(rng, 5, 5)) == [0, 1, 2, 3, 4]
    few = choose(rng, 2, 4)
    assert set(few[:2]) == {0, 1} and len(few) == 4


def test_dataset_shapes_item_ids_and_determinism(shape_items) -> None:
    _, items = load_items(shape_items, "toy", "train")
    ds = MultifoldDataset(items, 2, 3, _preprocess, _tokenize, seed=1)
    batch = collate([ds[i] for i in range(4)])
    assert batch["images"].shape == (4, 2, 3, 4, 4)
    assert batch["tokens"].shape == (4, 3, 2)
    assert batch["item"].tolist() == [it.item_id for it in items[:4]]
    # captions of item 1 are distinct (no replacement), and they are that item's own
    firsts = {chr(int(c)) for c in batch["tokens"][1, :, 1]}
    assert firsts == {"c"}
    assert len(set(batch["tokens"][1, :, 0].tolist())) == 3
    again = collate([ds[i] for i in range(4)])
    assert torch.equal(batch["images"], again["images"]) and torch.equal(batch["tokens"], again["tokens"])
    ds.set_epoch(1)
    other = [ds[i]["tokens"] for i in range(6)]
    ds.set_epoch(0)
    assert any(not torch.equal(a, ds[i]["tokens"]) for i, a in enumerate(other))


def test_sampler_distinct_items_resume_and_shards() -> None:
    s = MultifoldBatchSampler(10, 3, seed=0)
    s.set_epoch(2)
    batches = list(s)
    assert len(batches) == 3 and all(len(set(b)) == 3 for b in batches)
    assert len({i for b in batches for i in b}) == 9
    s.set_epoch(2, start_batch=1)
    assert list(s) == batches[1:]
    r0 = MultifoldBatchSampler(10, 2, seed=0, rank=0, world_size=2)
    r1 = MultifoldBatchSampler(10, 2, seed=0, rank=1, world_size=2)
    g = MultifoldBatchSampler(10, 4, seed=0)
    for a, b, whole in zip(r0, r1, g, strict=True):
        assert a + b == whole
    with pytest.raises(EmptySplitError, match="lower --batch-size"):
        MultifoldBatchSampler(3, 4)
