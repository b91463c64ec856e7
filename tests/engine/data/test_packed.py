"""The packed store: same tensors as the PNG path, written whole, invalidated when a view changes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from engine.data.multifold import MultifoldBatchSampler, MultifoldDataset, RunBatchSampler, collate, load_items
from engine.data.packed import (
    STORE_CHOICES,
    PackedStore,
    StoreUnavailable,
    choose_store,
    dataset_visuals,
    pack_dataset,
    split_preprocess,
    store_path,
    write_store,
)
from engine.models import build_encoder
from engine.run.config import STORE_CHOICES as CONFIG_STORE_CHOICES
from engine.workspace import Workspace
from tests.engine.train.conftest import make_toy_workspace

MODEL = "cf-vit-tiny-64"


@pytest.fixture(scope="module")
def model_parts():
    _, preprocess_train, preprocess, tokenizer = build_encoder(MODEL, device="cpu")
    return preprocess_train, preprocess, tokenizer


@pytest.fixture()
def ws(tmp_path: Path) -> Workspace:
    return make_toy_workspace(tmp_path / "ws", n_items=24)


def _batches(dataset: MultifoldDataset, start: int, total: int) -> list[dict[str, torch.Tensor]]:
    sampler = RunBatchSampler(MultifoldBatchSampler(len(dataset), 4, seed=3), start, total)
    return list(DataLoader(dataset, batch_sampler=sampler, num_workers=0, collate_fn=collate))


def test_store_batches_equal_file_batches(ws: Workspace, model_parts) -> None:
    _, preprocess, tokenizer = model_parts
    catalog = ws.catalog()
    report = pack_dataset(catalog, ws.packed, "toy-shapes", preprocess)
    assert report.action == "built" and report.images == 48 and report.size == (64, 64)
    assert report.path == store_path(ws.packed, "toy-shapes", (64, 64)) == ws.renders / "packed" / "toy-shapes-64.u8"
    assert pack_dataset(catalog, ws.packed, "toy-shapes", preprocess).action == "up to date"

    _, items = load_items(catalog, "toy-shapes", "train")
    store, normalize = choose_store("auto", catalog, ws.packed, "toy-shapes", MODEL, preprocess,
                                    [p for i in items for p in i.visuals])
    assert store is not None and normalize is not None
    files = MultifoldDataset(items, 2, 2, preprocess, tokenizer, seed=3, decode_size=64)  # as the loop makes it
    packed = MultifoldDataset(items, 2, 2, preprocess, tokenizer, seed=3, store=store)
    # 16 train items, batch 4: 4 steps per epoch; steps 2..9 cross two epoch boundaries
    a, b = _batches(files, 2, 10), _batches(packed, 2, 10)
    assert len(a) == len(b) == 8
    for x, y in zip(a, b, strict=True):
        assert y["images"].dtype == torch.uint8 and y["images"].shape == (4, 2, 64, 64, 3)
        assert torch.equal(normalize(y["images"]), x["images"])  # bit for bit
        assert torch.equal(x["tokens"], y["tokens"]) and torch.equal(x["item"], y["item"])
    # a run resumed at step 5 sees the batches of the straight run from step 5
    resumed = _batches(packed, 5, 10)
    for x, y in zip(b[3:], resumed, strict=True):
        assert torch.equal(x["images"], y["images"]) and torch.equal(x["item"], y["item"])
    # the same keys as one fresh per-epoch sampler (the loader the loop used before)
    per_epoch = MultifoldBatchSampler(len(files), 4, seed=3)
    per_epoch.set_epoch(1, 0)
    assert [[(1, i) for i in batch] for batch in per_epoch] == list(RunBatchSampler(per_epoch, 4, 8))


def test_changed_view_makes_the_store_stale(ws: Workspace, model_parts) -> None:
    _, preprocess, _ = model_parts
    catalog = ws.catalog()
    pack_dataset(catalog, ws.packed, "toy-shapes", preprocess)
    _, items = load_items(catalog, "toy-shapes", "train")
    needed = [p for i in items for p in i.visuals]
    pixel, _ = split_preprocess(preprocess)
    path = store_path(ws.packed, "toy-shapes", pixel.size)
    assert PackedStore.open(path, pixel, needed).count == 48

    changed = items[0].visuals[0]
    Image.new("RGB", (32, 32), (0, 255, 0)).save(changed)
    st = os.stat(changed)
    os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    with pytest.raises(StoreUnavailable, match="out of date"):
        PackedStore.open(path, pixel, needed)
    notes: list[str] = []
    assert choose_store("auto", catalog, ws.packed, "toy-shapes", MODEL, preprocess, needed,
                        on_note=notes.append) == (None, None)
    assert len(notes) == 1 and f"trainer pack toy-shapes --model {MODEL}" in notes[0]
    assert choose_store("files", catalog, ws.packed, "toy-shapes", MODEL, preprocess, needed) == (None, None)
    # --store packed rebuilds it, with the new pixels
    store, _ = choose_store("packed", catalog, ws.packed, "toy-shapes", MODEL, preprocess, needed)
    assert store is not None
    assert np.array_equal(store.read([changed])[0], pixel.pixels(changed))
    assert store.read([changed])[0, 32, 32].tolist() == [0, 255, 0]


def test_re_rendered_views_make_the_store_stale(ws: Workspace, model_parts, tmp_path: Path) -> None:
    _, preprocess, _ = model_parts
    catalog = ws.catalog()
    pack_dataset(catalog, ws.packed, "toy-shapes", preprocess)
    _, items = load_items(catalog, "toy-shapes", "train")
    # a new render of item 0 lands in new cache files: the catalogue points at paths the store does not hold
    new = []
    for k, old in enumerate(items[0].visuals):
        p = tmp_path / f"rerender_{k}.png"
        Image.open(old).save(p)
        new.append(str(p))
    catalog.replace_views({items[0].item_id: new})
    _, items = load_items(catalog, "toy-shapes", "train")
    pixel, _ = split_preprocess(preprocess)
    with pytest.raises(StoreUnavailable, match="2 files not packed"):
        PackedStore.open(store_path(ws.packed, "toy-shapes", pixel.size), pixel, [p for i in items for p in i.visuals])
    assert pack_dataset(catalog, ws.packed, "toy-shapes", preprocess).action == "built"


def test_a_failed_pack_leaves_the_good_store(ws: Workspace, model_parts, tmp_path: Path) -> None:
    _, preprocess, _ = model_parts
    catalog = ws.catalog()
    report = pack_dataset(catalog, ws.packed, "toy-shapes", preprocess)
    before = report.path.read_bytes()
    _, paths = dataset_visuals(catalog, "toy-shapes")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    pixel, _ = split_preprocess(preprocess)
    with pytest.raises(Exception, match="broken.png|cannot identify"):
        write_store(report.path, [*paths, str(broken)], pixel, threads=2)
    assert report.path.read_bytes() == before
    assert [p.name for p in report.path.parent.iterdir()] == [report.path.name]  # no temp file left


def test_preprocessing_the_store_cannot_reproduce(model_parts) -> None:
    preprocess_train, _, _ = model_parts
    with pytest.raises(StoreUnavailable, match="random"):
        split_preprocess(preprocess_train)
    with pytest.raises(StoreUnavailable, match="ToTensor"):
        split_preprocess(lambda im: im)
    assert STORE_CHOICES == CONFIG_STORE_CHOICES


def test_a_damaged_store_is_never_read_in_silence(ws: Workspace, model_parts) -> None:
    """An index that does not add up is refused whole; a block of pixels that fails its checksum is read from the
    image files instead (the same pixels the store held), with a warning."""
    import json
    import struct

    _, preprocess, _ = model_parts
    catalog = ws.catalog()
    pixel, _ = split_preprocess(preprocess)
    report = pack_dataset(catalog, ws.packed, "toy-shapes", preprocess)
    _, paths = dataset_visuals(catalog, "toy-shapes")
    good = PackedStore.open(report.path, pixel, paths).read(paths[:3]).copy()
    data = report.path.read_bytes()
    length = struct.unpack("<Q", data[-16:-8])[0]
    pixels, index = data[: -16 - length], json.loads(data[-16 - length : -16])

    def with_index(value: object) -> None:
        blob = json.dumps(value).encode()
        report.path.write_bytes(pixels + blob + struct.pack("<Q8s", len(blob), b"CFPACK01"))

    rows = list(index["rows"])
    for damaged in ([index], {**index, "count": 1e9}, {**index, "rows": {p: -1 - i for i, p in enumerate(rows)}},
                    {**index, "rows": {p: i + 1 for i, p in enumerate(rows)}}, {**index, "crc32": []},
                    {k: v for k, v in index.items() if k != "crc32"} | {"version": 1}):
        with_index(damaged)
        with pytest.raises(StoreUnavailable):
            PackedStore.open(report.path, pixel, paths)
    garbled = bytearray(pixels)
    garbled[100:200] = bytes(b ^ 0xFF for b in garbled[100:200])  # inside row 0: block 0
    report.path.write_bytes(bytes(garbled) + data[len(pixels):])
    store = PackedStore.open(report.path, pixel, paths)
    assert np.array_equal(store.read(paths[:3]), good)  # from the files, as packed
    assert store.checked == {0: False} and store.damaged_blocks() == [0]
    assert pack_dataset(catalog, ws.packed, "toy-shapes", preprocess).action == "built"  # pack mends it
    assert PackedStore.open(report.path, pixel, paths).damaged_blocks() == []
