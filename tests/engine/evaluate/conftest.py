"""Labelled toy data for by-category evaluation: drawings of three kinds of furniture, as a folder import of
``<category>/<file>`` would give them (the category is the sub-folder).

``furniture`` (shape-text): two views per item, captions that name the category; 30 items per category, split
3:1:1 (train, val, test) within each. ``photos`` (image-text, the same drawings as single images): no captions in
its test split (plus items without a category), half its val items captioned. ``mono``: one category only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from engine.catalog import ItemRecord
from engine.workspace import Workspace

#: category (as a folder names it) -> (colour, outline drawn)
FURNITURE = {"office_chair": ((220, 40, 40), "square"), "table": ((40, 190, 60), "bar"),
             "floor-lamp": ((40, 60, 220), "pole")}
#: What the category names say in words (the test's own spelling of :func:`category_label`).
LABELS = {"office_chair": "office chair", "table": "table", "floor-lamp": "floor lamp"}
PER_CATEGORY = 30
SPLITS = ("train", "train", "train", "val", "test")


def draw(outline: str, colour: tuple[int, int, int], rng: np.random.Generator, grow: int = 0) -> Image.Image:
    im = Image.new("RGB", (32, 32), (128, 128, 128))
    cx, cy = 16 + int(rng.integers(-3, 4)), 16 + int(rng.integers(-3, 4))
    s = int(rng.integers(5, 9)) + grow
    box = {"square": (cx - s, cy - s, cx + s, cy + s), "bar": (cx - 2 * s, cy - 3, cx + 2 * s, cy + 3),
           "pole": (cx - 3, cy - 2 * s, cx + 3, cy + 2 * s)}[outline]
    ImageDraw.Draw(im).rectangle(box, fill=colour)
    return im


def make_furniture_workspace(root: Path) -> Workspace:
    ws = Workspace.open(root)
    cat = ws.catalog()
    ds = cat.create_dataset("furniture", "shape-text", "test", str(root))
    rng = np.random.default_rng(0)
    records = []
    for name, (colour, outline) in FURNITURE.items():
        folder = root / "furniture" / name
        folder.mkdir(parents=True, exist_ok=True)
        label = LABELS[name]
        for i in range(PER_CATEGORY):
            views = []
            for v in range(2):
                path = folder / f"{i:03d}_{v}.png"
                draw(outline, colour, rng, v).save(path)
                views.append(str(path))
            records.append(ItemRecord(f"{name}/{i:03d}", split=SPLITS[i % len(SPLITS)], category=name, views=views,
                                      captions=[f"a {label}", f"a 3D model of a {label}",
                                                f"the {label}, seen from the side"]))
    cat.add_records(ds.id, records)
    return ws


def add_photos(ws: Workspace) -> None:
    """``photos``: test items without captions (four per category and two without a category), val items of which
    half have a caption; ``mono``: items of one category."""
    cat = ws.catalog()
    rng = np.random.default_rng(1)
    folder = ws.root / "photos"
    folder.mkdir(parents=True, exist_ok=True)

    def image(key: str, outline: str, colour: tuple[int, int, int]) -> list[str]:
        path = folder / f"{key.replace('/', '_')}.png"
        draw(outline, colour, rng).save(path)
        return [str(path)]

    records = []
    for name, (colour, outline) in FURNITURE.items():
        for i in range(4):
            key = f"{name}/{i}"
            records.append(ItemRecord(key, split="test", category=name, images=image(key, outline, colour)))
        for i in range(2):
            key = f"{name}/val{i}"
            captions = [f"a {LABELS[name]}"] if i == 0 else []
            records.append(ItemRecord(key, split="val", category=name, images=image(key, outline, colour),
                                      captions=captions))
    for i in range(2):
        records.append(ItemRecord(f"loose/{i}", split="test", category="", images=image(f"loose/{i}", "square",
                                                                                         (120, 120, 40))))
    cat.add_records(cat.create_dataset("photos", "image-text", "test", str(folder)).id, records)
    mono = [ItemRecord(f"m{i}", split="test", category="table", images=image(f"m{i}", "bar", (40, 190, 60)))
            for i in range(3)]
    cat.add_records(cat.create_dataset("mono", "image-text", "test", str(folder)).id, mono)
