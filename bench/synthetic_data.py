"""A synthetic shape-text dataset for the data-loading benchmarks: PNG views drawn with PIL, no renderer needed.

    .venv/bin/python bench/synthetic_data.py --workspace /tmp/wsyn --items 2048 --views 4 --size 256

Items ``synth-00000 ...`` (all in the train split) with ``--views`` PNG views of ``--size`` pixels (a coloured
ellipse or rectangle on a noisy background, so PNG decoding costs what real renders cost) and ``--captions``
captions each, in dataset ``--name`` (default ``synth``) of the workspace. Views are written with several
threads; an existing dataset of that name is left as it is (delete the workspace to regenerate).
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220), "yellow": (230, 220, 30),
           "purple": (140, 40, 200), "orange": (250, 140, 20)}


def draw_view(path: Path, item: int, view: int, size: int) -> None:
    rng = np.random.default_rng((item, view))
    background = rng.integers(90, 140, size=(size, size, 3), dtype=np.uint8)
    image = Image.fromarray(background)
    colour = list(COLOURS.values())[item % len(COLOURS)]
    d = ImageDraw.Draw(image)
    lo, hi = int(size * (0.15 + 0.05 * (view % 3))), int(size * (0.85 - 0.03 * (item % 5)))
    (d.ellipse if item % 2 else d.rectangle)((lo, lo, hi, hi), fill=colour)
    image.save(path, format="PNG", compress_level=1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workspace", required=True)
    p.add_argument("--name", default="synth")
    p.add_argument("--items", type=int, default=2048)
    p.add_argument("--views", type=int, default=4)
    p.add_argument("--captions", type=int, default=5)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--threads", type=int, default=8)
    args = p.parse_args(argv)

    from engine.catalog import ItemRecord
    from engine.workspace import Workspace

    t0 = time.perf_counter()
    ws = Workspace.open(args.workspace)
    catalog = ws.catalog()
    if catalog.dataset(args.name) is not None:
        print(f"dataset {args.name!r} already in {ws.root}")
        return 0
    folder = ws.datasets / args.name
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(folder / f"{i:05d}_{v}.png", i, v) for i in range(args.items) for v in range(args.views)]
    with ThreadPoolExecutor(args.threads) as pool:
        list(pool.map(lambda j: draw_view(j[0], j[1], j[2], args.size), jobs))
    names = list(COLOURS)
    records = []
    for i in range(args.items):
        colour, shape = names[i % len(names)], ("ellipse" if i % 2 else "box")
        captions = [f"a {colour} {shape}", f"{shape}, {colour}", f"the {colour} one", f"{colour} {shape} number {i}",
                    f"something {colour}"][: args.captions]
        records.append(ItemRecord(f"synth-{i:05d}", split="train", category=colour,
                                  views=[str(folder / f"{i:05d}_{v}.png") for v in range(args.views)],
                                  captions=captions))
    ds = catalog.create_dataset(args.name, "shape-text", "synthetic (bench/synthetic_data.py)", str(folder))
    catalog.add_records(ds.id, records)
    print(f"dataset {args.name!r}: {args.items} items x {args.views} views of {args.size} px in {ws.root} "
          f"({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
