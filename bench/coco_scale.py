"""A COCO-sized catalogue end to end: import, list/show, index build, search latency, the Datasets page.

    .venv/bin/python bench/coco_scale.py                      # 120,000 images, 600,000 captions (COCO-sized)
    .venv/bin/python bench/coco_scale.py --images 12000       # a tenth
    .venv/bin/python bench/coco_scale.py --smoke              # 200 images: the test runs this
    .venv/bin/python bench/coco_scale.py --workspace /tmp/wcoco --keep --skip-gui
    .venv/bin/python bench/coco_scale.py --workspace /tmp/wcoco --reuse --skip-index   # the page only, again

The source (not measured) is a Karpathy split file ``dataset_coco.json`` of ``--images`` images with
``--captions`` captions each (generated sentences of COCO's length, seeded), the images hard links to eight
real 640x480 JPEGs (so every file is a real JPEG to verify and decode, at a COCO file's size, without
``--images`` distinct files on disk). Karpathy's splits: 5,000 val and 5,000 test images at full size (the
same shares when smaller), the rest train.

Measured, in order:

* **import**: ``run_import(..., "karpathy", ...)`` in this process (every image's header is verified, every
  caption cleaned, records batched into SQLite), and the catalogue's size on disk;
* **list / show**: ``trainer datasets list --json`` and ``trainer datasets show NAME --json`` as child
  processes (what a user waits for, Python's start-up included), the same commands' ``main()`` in this process
  (their own work: opening the catalogue, the queries, the JSON), the median of three runs each, and
  ``Catalog.summary`` in this process;
* **index**: a run of ``cf-rn-tiny-64`` (64 px images; trained for one step, not measured) indexes the
  dataset: ``index_run`` encodes every image and caption (``--images`` x (1 + ``--captions``) observations,
  720,000 at full size; no dedup: each hard link is decoded like a distinct file) and builds the hnswlib
  indexes; seconds per modality and the index files' size;
* **search**: ``Searcher.search()`` p50/p99 over ``--queries`` text queries, per target (captions, images),
  after a warm-up query (the checkpoint and indexes load then);
* **Datasets page** (``--skip-gui`` to leave out): the real ``DatasetsPage`` under ``QT_QPA_PLATFORM=offscreen``,
  its event loop watched by ``bench/gui_responsiveness.py``'s ``StallProbe`` (a 5 ms precise timer; a stall
  is a tick's lateness): from showing the page to its dataset table (**open**), from selecting the dataset to a
  filled first screen of the grid, cards and thumbnails (**first grid**), and from ``scrollToBottom()`` to the
  last screen filled (**scroll to end**; scrolled to the bottom again while the batched layout still grows, as a
  user holding End would): seconds and the longest stall of each.

Prints the machine and a table; writes JSON (``--json``, default ``bench/results/coco_scale.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe, machine  # noqa: E402

DATASET = "coco-scale"
RUN = "coco-tiny"
MODEL = "cf-rn-tiny-64"
BASE_JPEGS = 8
QUERIES = ("a man riding a wave on a surfboard", "two dogs playing in the snow", "a plate of food on a table",
           "a red double decker bus", "people walking on a city street", "a cat sleeping on a couch",
           "a giraffe standing in a field", "a kitchen with a white refrigerator", "a baseball player swinging",
           "a train at the station")
WORDS = {
    "det": ("a", "the", "two", "three", "some", "an old", "a young", "a small", "a large"),
    "noun": ("man", "woman", "dog", "cat", "bus", "train", "plate", "pizza", "bicycle", "horse", "giraffe",
             "surfer", "skateboarder", "kitchen", "table", "clock", "elephant", "boat", "bird", "child"),
    "verb": ("standing", "sitting", "riding", "walking", "lying", "eating", "parked", "flying", "playing",
             "waiting", "holding a frisbee", "looking at the camera"),
    "prep": ("on", "in", "next to", "near", "under", "in front of", "behind"),
    "place": ("a beach", "the street", "a field", "a table", "the snow", "a kitchen counter", "a wooden bench",
              "a grassy hill", "the water", "a busy road", "a living room", "an airport runway"),
}


# ---- the source (not measured) ------------------------------------------------------------------------------
def base_jpegs(folder: Path, seed: int) -> list[Path]:
    """Eight real 640x480 JPEGs (coloured blocks and gradients: they compress like photos, ~60-120 KB)."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(BASE_JPEGS):
        y, x = np.mgrid[0:480, 0:640]
        base = rng.integers(40, 215, size=3)
        pixels = np.stack([(base[c] + 40 * np.sin(x / (30 + 9 * c) + i) + 30 * np.cos(y / (25 + 7 * c))) for c in
                           range(3)], axis=2)
        pixels += rng.normal(0, 12, pixels.shape)  # sensor noise: a photo's entropy
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        for _ in range(12):
            x0, y0 = int(rng.integers(0, 560)), int(rng.integers(0, 400))
            draw.ellipse((x0, y0, x0 + int(rng.integers(20, 200)), y0 + int(rng.integers(20, 200))),
                         fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
        path = folder / f"base_{i}.jpg"
        image.save(path, quality=90)
        paths.append(path)
    return paths


def caption(rng: random.Random) -> str:
    w = {k: rng.choice(v) for k, v in WORDS.items()}
    return f"{w['det']} {w['noun']} {w['verb']} {w['prep']} {w['place']}".capitalize() + rng.choice((".", "", " ."))


def make_source(root: Path, images: int, captions: int, seed: int) -> Path:
    """``root/dataset_coco.json`` and ``root/val2014/*.jpg`` (hard links); reused when already there."""
    source = root / "dataset_coco.json"
    marker = root / "params.json"
    params = {"images": images, "captions": captions, "seed": seed, "version": 1}
    if source.is_file() and marker.is_file() and json.loads(marker.read_text()) == params:
        return source
    shutil.rmtree(root, ignore_errors=True)
    bases = base_jpegs(root / "base", seed)
    folder = root / "val2014"
    folder.mkdir(parents=True)
    rng = random.Random(seed)
    held_out = max(1, round(images * 5000 / 123287))  # Karpathy: 5,000 val and 5,000 test of 123,287
    entries = []
    for i in range(images):
        name = f"COCO_val2014_{i:012d}.jpg"
        os.link(bases[i % BASE_JPEGS], folder / name)
        split = "val" if i < held_out else "test" if i < 2 * held_out else "train"
        entries.append({"filepath": "val2014", "filename": name, "split": split, "cocoid": i,
                        "sentences": [{"raw": caption(rng)} for _ in range(captions)]})
    source.write_text(json.dumps({"dataset": "coco", "images": entries}))
    marker.write_text(json.dumps(params))
    return source


# ---- measurements -------------------------------------------------------------------------------------------
def trainer_cli(args: list[str], workspace: Path) -> float:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "trainer", *args, "--workspace", str(workspace)], cwd=REPO,
                          env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"error: trainer {' '.join(args)} exited with {done.returncode}: {done.stderr.strip()}")
    return seconds


def size_of(paths: list[Path]) -> int:
    return sum(p.stat().st_size for p in paths if p.is_file())


def measure_import(workspace: Path, source: Path) -> dict[str, Any]:
    from engine.data.importers import run_import
    from engine.workspace import Workspace

    ws = Workspace.open(workspace)
    catalog = ws.catalog()
    if catalog.dataset(DATASET) is not None:
        raise SystemExit(f"error: {workspace} already has {DATASET}: use a fresh --workspace (--source reuses "
                         "the generated source)")
    start = time.perf_counter()
    report = run_import(catalog, ws, "karpathy", source, DATASET)
    seconds = time.perf_counter() - start
    db = ws.catalog_path
    catalog_bytes = size_of([db, db.with_name(db.name + "-wal")])
    return {"seconds": seconds, "items": report.items_added, "observations": report.observations_added,
            "skipped": report.skipped, "catalog_bytes": catalog_bytes}


def measure_list_show(workspace: Path, repeats: int = 3) -> dict[str, Any]:
    """The commands as child processes (start-up included) and their own work in this process (``main()``), the
    median of ``repeats`` runs each; and ``Catalog.summary``."""
    import contextlib
    import io
    import statistics

    from engine.workspace import Workspace
    from trainer.cli import main as trainer_main

    def own_time(args: list[str]) -> float:
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            code = trainer_main([*args, "--workspace", str(workspace)])
        seconds = time.perf_counter() - start
        if code != 0:
            raise SystemExit(f"error: trainer {' '.join(args)} exited with {code}")
        return seconds

    def median(measure: Any, args: list[str]) -> float:
        return statistics.median(measure(args) for _ in range(repeats))

    catalog = Workspace.open(workspace).catalog()
    start = time.perf_counter()
    summary = catalog.summary(DATASET)
    in_process = time.perf_counter() - start
    list_args, show_args = ["datasets", "list", "--json"], ["datasets", "show", DATASET, "--json"]
    return {"list_cli_s": median(lambda a: trainer_cli(a, workspace), list_args),
            "show_cli_s": median(lambda a: trainer_cli(a, workspace), show_args),
            "list_main_s": median(own_time, list_args), "show_main_s": median(own_time, show_args),
            "summary_s": in_process, "observations": summary.observations, "repeats": repeats}


def train_tiny_run(workspace: Path) -> float:
    import torch

    from engine.run.config import TrainConfig
    from engine.train.loop import train
    from engine.workspace import Workspace

    ws = Workspace.open(workspace)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    start = time.perf_counter()
    train(TrainConfig(dataset=DATASET, loss="clip", model=MODEL, max_steps=1, batch_size=8, views_per_item=1,
                      captions_per_item=1, workers=0, device="cpu", name=RUN, val_frequency=1_000_000,
                      save_frequency=1, warmup=0), ws)
    return time.perf_counter() - start


def measure_index(workspace: Path) -> dict[str, Any]:
    from engine.indexing import index_run
    from engine.workspace import Workspace

    ws = Workspace.open(workspace)
    stages: dict[str, float] = {}
    started: dict[str, float] = {}
    last = [time.perf_counter()]

    def progress(stage: str, done: int, total: int) -> None:
        """A stage runs from the previous progress event (of any stage) before its first to its last event."""
        now = time.perf_counter()
        started.setdefault(stage, last[0])
        stages[stage] = now - started[stage]
        last[0] = now

    start = last[0]
    report = index_run(ws, ws.catalog(), RUN, device="cpu", on_progress=progress)
    seconds = time.perf_counter() - start
    modalities = {m: {"count": d["count"], "action": d["action"],
                      "bytes": size_of([Path(d["path"])]) if d.get("path") else 0}
                  for m, d in report.modalities.items()}
    return {"seconds": seconds, "encode_s": stages, "modalities": modalities,
            "observations": sum(d["count"] for d in modalities.values())}


def measure_search(workspace: Path, queries: int) -> dict[str, Any]:
    import torch

    from engine.search import Searcher
    from engine.workspace import Workspace

    torch.set_num_threads(1)  # as the app's search worker
    searcher = Searcher(Workspace.open(workspace), RUN, device="cpu")
    out: dict[str, Any] = {}
    for target in ("captions", "images"):
        start = time.perf_counter()
        searcher.search(text=QUERIES[0], target=target, k=10)
        first = time.perf_counter() - start
        times = []
        for i in range(queries):
            start = time.perf_counter()
            searcher.search(text=QUERIES[i % len(QUERIES)] + ("" if i < len(QUERIES) else f" {i}"), target=target,
                            k=10)
            times.append((time.perf_counter() - start) * 1e3)
        out[target] = {"first_s": first, "p50_ms": float(np.percentile(times, 50)),
                       "p99_ms": float(np.percentile(times, 99)), "queries": queries}
    return out


def measure_gui(workspace: Path, timeout_s: float) -> dict[str, Any]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from gui_responsiveness import StallProbe
    from PySide6.QtWidgets import QApplication

    from app.heap import freeze_long_lived
    from app.pages.datasets import DatasetsPage
    from app.thumbnails import ThumbnailCache
    from app.widgets.item_grid import ItemGridModel
    from engine.workspace import Workspace

    app = QApplication.instance() or QApplication(sys.argv[:1])
    probe = StallProbe(5, Path(tempfile.mkstemp(prefix="coco-scale-dump-")[1]))
    page = DatasetsPage(Workspace.open(workspace), thumbnails=ThumbnailCache())
    page.resize(1400, 900)
    grid, model = page.grid, page.model
    freeze_long_lived()  # as MainWindow does once its pages are built (app/heap.py)

    def visible_rows(from_end: bool = False) -> list[int]:
        """The rows of the cards on screen when the first row (or the last) is among them, else none. The grid lays
        its cards out in reading order, so they are those met walking from that row until a card lies a row past
        the viewport. ``visualRect`` is a look-up; probing the viewport with ``indexAt`` (as this did before)
        searches the layout once per point, and in ``IconMode`` that was a walk of its BSP tree (~0.5 ms at 120,000
        cards, 540 points per check): the bench's own work, on the GUI thread it measures, between every two
        batches of the layout."""
        viewport = grid.viewport().rect()
        slack = max(grid.gridSize().height(), 1)
        count = model.rowCount()
        rows = []
        for r in range(count - 1, -1, -1) if from_end else range(count):
            rect = grid.visualRect(model.index(r))
            if rect.intersects(viewport):
                rows.append(r)
            elif not rows or (rect.bottom() < viewport.top() - slack if from_end
                              else rect.top() > viewport.bottom() + slack):
                break  # the first card walked is not on screen (or not laid out yet), or this one is a row past it
        return sorted(rows)

    def filled(rows: list[int]) -> bool:
        return bool(rows) and all(model.data(model.index(r), ItemGridModel.ThumbnailReadyRole) for r in rows)

    def phase(name: str, action: Any, done: Any) -> dict[str, Any]:
        probe.start()
        start = time.perf_counter()
        action()
        while not done():
            app.processEvents()
            if time.perf_counter() - start > timeout_s:
                probe.stop()
                raise SystemExit(f"error: the Datasets page's {name} took longer than {timeout_s:g} s")
            time.sleep(0.002)
        seconds = time.perf_counter() - start
        probe.stop()
        gaps = np.diff(np.array(probe.ticks)) * 1e3 - probe.interval_ms
        measured = {"seconds": seconds, "max_stall_ms": float(gaps.max()) if len(gaps) else 0.0,
                    "stalls_over_50ms": int((gaps > 50).sum())}
        print(f"  Datasets page {name}: {json.dumps(measured)}", flush=True)  # kept if a later phase fails
        return measured

    result: dict[str, Any] = {"open": phase("open", page.show, lambda: page.table.rowCount() > 0)}
    result["first_grid"] = phase(
        "first grid", lambda: page.select_dataset(DATASET),
        lambda: page.facets is not None and page.facets.name == DATASET and not page.filtering
        and model.rowCount() > 0 and filled(visible_rows()))
    result["rows"] = model.rowCount()
    def at_end() -> bool:
        """The last row on screen and filled; until then scrolled to the bottom again: the grid lays its cards out
        in batches (``LayoutMode.Batched``), so at 100k rows the bottom moves for a while after the first call."""
        rows = visible_rows(from_end=True)
        if model.rowCount() - 1 in rows:
            return filled(rows)
        grid.scrollToBottom()
        return False

    result["scroll_to_end"] = phase("scroll to end", grid.scrollToBottom, at_end)
    page.close()
    probe.close()
    os.unlink(probe.dump_path)
    return result


def reused_counts(workspace: Path) -> tuple[int, int, int]:
    """(images, captions, observations) of the dataset an earlier run imported into ``workspace``."""
    from engine.workspace import Workspace

    catalog = Workspace.open(workspace).catalog()
    if catalog.dataset(DATASET) is None:
        raise SystemExit(f"error: --reuse: {workspace} has no {DATASET} (run once with --keep first)")
    summary = catalog.summary(DATASET)
    images, observations = summary.items, summary.observations
    catalog.close()
    return images, observations - images, observations


# ---- report -------------------------------------------------------------------------------------------------
def print_table(r: dict[str, Any]) -> None:
    print(f"\n{describe(r['machine'])}")
    print(f"{r['images']:,} images, {r['captions']:,} captions ({r['observations']:,} observations)\n")
    rows = []
    if "import" in r:
        rows.append(("import (karpathy, in process)", f"{r['import']['seconds']:.2f} s",
                     f"catalogue {r['import']['catalog_bytes'] / 2**20:.1f} MiB"))
    ls = r.get("list_show")
    rows += [] if ls is None else [("trainer datasets list --json", f"{ls['list_cli_s']:.2f} s", "child process, start-up included"),
             ("trainer datasets show --json", f"{ls['show_cli_s']:.2f} s", "child process, start-up included"),
             ("datasets list: main() in process", f"{ls['list_main_s'] * 1e3:.0f} ms", "the command's own work"),
             ("datasets show: main() in process", f"{ls['show_main_s'] * 1e3:.0f} ms", "the command's own work"),
             ("Catalog.summary", f"{ls['summary_s'] * 1e3:.0f} ms", "in process")]
    if "index" in r:
        ix = r["index"]
        enc = ", ".join(f"{k} {v:.1f} s" for k, v in ix["encode_s"].items())
        size = sum(m["bytes"] for m in ix["modalities"].values()) / 2**20
        rows.append((f"index {ix['observations']:,} observations ({MODEL})", f"{ix['seconds']:.1f} s",
                     f"{enc}; files {size:.1f} MiB"))
    for target, s in r.get("search", {}).items():
        rows.append((f"search() {target}", f"p50 {s['p50_ms']:.1f} / p99 {s['p99_ms']:.1f} ms",
                     f"first query {s['first_s']:.1f} s (loads the run)"))
    for name, key in (("Datasets page: open", "open"), ("Datasets page: first grid", "first_grid"),
                      ("Datasets page: scroll to end", "scroll_to_end")):
        if "gui" in r:
            g = r["gui"][key]
            rows.append((name, f"{g['seconds']:.2f} s", f"max stall {g['max_stall_ms']:.0f} ms, "
                         f"{g['stalls_over_50ms']} over 50 ms"))
    width = max(len(a) for a, _, _ in rows)
    print(f"| {'what'.ljust(width)} | time | notes |\n|{'-' * (width + 2)}|---|---|")
    for a, b, c in rows:
        print(f"| {a.ljust(width)} | {b} | {c} |")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/coco_scale.py", description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=120_000)
    p.add_argument("--captions", type=int, default=5, help="captions per image (default 5)")
    p.add_argument("--smoke", action="store_true", help="a tiny catalogue (200 images, 5 queries): a quick check")
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--workspace", type=Path, default=None, help="a fresh one; default: a temp dir, removed unless "
                   "--keep")
    p.add_argument("--source", type=Path, default=None, help="where the generated source goes (reused when its "
                   "parameters match; default: inside the workspace)")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--reuse", action="store_true", help="--workspace already holds the dataset (kept by an earlier "
                   "--keep run): skip the source, the import and list/show")
    p.add_argument("--skip-index", action="store_true", help="leave out the index build and search")
    p.add_argument("--skip-gui", action="store_true", help="leave out the Datasets page")
    p.add_argument("--gui-timeout", type=float, default=600.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=str(REPO / "bench" / "results" / "coco_scale.json"))
    args = p.parse_args(argv)
    if args.smoke:
        args.images, args.queries = 200, 5
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.reuse and args.workspace is None:
        p.error("--reuse needs --workspace")
    return args


def measure_all(args: argparse.Namespace, workspace: Path, result: dict[str, Any]) -> None:
    """Every measured phase ``args`` asks for, into ``result``: the source and import (or the reused counts),
    list/show, the index and search, the Datasets page."""
    if args.reuse:
        result["images"], result["captions"], result["observations"] = reused_counts(workspace)
        print(f"reusing {workspace}: {result['images']:,} images", flush=True)
    else:
        print(f"source: {args.images:,} images x {args.captions} captions", flush=True)
        start = time.perf_counter()
        source = make_source(args.source or workspace / "source", args.images, args.captions, args.seed)
        result["source_s"] = time.perf_counter() - start
        print("import…", flush=True)
        result["import"] = measure_import(workspace, source)
        result["list_show"] = measure_list_show(workspace)
    if not args.skip_index:
        print("training one step of the run (not measured)…", flush=True)
        result["train_s"] = train_tiny_run(workspace)
        print("index…", flush=True)
        result["index"] = measure_index(workspace)
        print("search…", flush=True)
        result["search"] = measure_search(workspace, args.queries)
    if not args.skip_gui:
        print("Datasets page…", flush=True)
        result["gui"] = measure_gui(workspace, args.gui_timeout)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workspace = args.workspace or Path(tempfile.mkdtemp(prefix="coco-scale-"))
    workspace.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"machine": machine(), "images": args.images, "captions": args.images * args.captions,
                              "observations": args.images * (1 + args.captions), "smoke": args.smoke}
    try:
        measure_all(args, workspace, result)
    finally:
        if args.workspace is None and not args.keep:
            shutil.rmtree(workspace, ignore_errors=True)
    print_table(result)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
