"""Indexing a run's dataset (:mod:`engine.indexing`): an index with nothing new to encode is kept, empty ones too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from engine.catalog import ItemRecord
from engine.indexing import index_run
from engine.train.zero_shot import create_pretrained_run
from engine.workspace import Workspace


def test_indexing_again_keeps_every_index_up_to_date_even_the_empty_caption_one(tmp_path: Path) -> None:
    """A folder without captions has an empty text index: indexing it again reports it up to date, as the others,
    rather than building it again (so "Open a folder…" twice re-does nothing)."""
    import open_clip
    import torch

    import engine.models  # noqa: F401 - registers cf-rn-tiny-64 with open_clip

    ws = Workspace.open(tmp_path / "ws")
    catalog = ws.catalog()
    dataset = catalog.create_dataset("pics", "image-text", "test")
    records = []
    for i, colour in enumerate([(200, 20, 20), (20, 200, 20), (20, 20, 200)]):
        pixels = np.zeros((64, 64, 3), np.uint8)
        pixels[:] = colour
        Image.fromarray(pixels).save(tmp_path / f"p{i}.png")
        records.append(ItemRecord(f"p{i}.png", images=[str(tmp_path / f"p{i}.png")]))  # no captions
    catalog.add_records(dataset.id, records)
    torch.manual_seed(0)
    weights = tmp_path / "weights.pt"
    torch.save(open_clip.create_model("cf-rn-tiny-64").state_dict(), weights)
    run = create_pretrained_run(ws, catalog, "cf-rn-tiny-64", str(weights), "pics", device="cpu").name

    first = index_run(ws, catalog, run, "pics", device="cpu")
    assert {m: (d["action"], d["count"]) for m, d in first.modalities.items()} == {"text": ("built", 0),
                                                                                   "image": ("built", 3)}
    again = index_run(ws, catalog, run, "pics", device="cpu")
    assert {m: (d["action"], d["count"]) for m, d in again.modalities.items()} == {"text": ("up-to-date", 0),
                                                                                   "image": ("up-to-date", 3)}
