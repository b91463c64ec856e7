"""``trainer index`` of a Flickr8k-sized dataset with a real-size model on the CPU: time and memory (issue 23).

    .venv/bin/python bench/index_build.py [--quick] [--repeats N] [--json FILE] [--workdir DIR --keep]

Made here, in a temporary folder (no network, no hub):

* ``vit-b-32-random.pt``: a ViT-B-32 with random weights (seed 0) saved as a user's file is
  (``{"state_dict": clip.state_dict()}``);
* ``data/images``: 1,000 JPEG photos (``--quick``: 100) of Flickr8k's sizes (500x375, one in four 375x500, others
  500x333/500x400), each a noisy gradient with drawn shapes of its own, and ``data/Flickr8k.token.txt`` with five
  captions each (5,000), imported by the real CLI (``trainer import flickr-token``) into a fresh workspace.

Then ``trainer index --model ViT-B-32 --pretrained FILE --dataset flickr8k --device cpu`` as a child process (the
real CLI, Python's start-up and the pretrained run it makes included), on the exact path (``--exact``, eager fp32)
and the default fast CPU path, interleaved (exact, fast, exact, fast, ... for ``--repeats``): wall time (median)
and peak memory, polled every 100 ms by ``big_folders.MemoryPoll``: the largest sum of RSS over the child's
process tree (decode workers included; ``peak RSS``) and the largest VmHWM of one process (``max RSS``).

Then one more fast-path build with ``CROSSFOLD_MEMORY_TRACE`` set (:mod:`engine.memory`): the command marks
its stages (imports, pretrained run made, checkpoint read, model built, weights loaded, inference path ready,
every encoded batch, each index built, calibrated); each mark gives the process's RSS then, its peak since the
previous mark (VmHWM, reset at each mark) and its children's RSS: the memory breakdown, measured in the real
command (not timed: the trace reads /proc at each mark).

Prints a table, the breakdown, then JSON (``exact_s``, ``fast_s``, ``speedup``, ``exact_peak_rss_mib``,
``fast_peak_rss_mib``, ``exact_max_rss_mib``, ``fast_max_rss_mib``, ``breakdown``, ``machine``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from big_folders import Cli  # noqa: E402
from machine import describe, machine, print_json  # noqa: E402

MODEL = "ViT-B-32"
DATASET = "flickr8k"
TRACE_ENV = "CROSSFOLD_MEMORY_TRACE"  # engine.memory.ENV (not imported: it would load psutil only)
SIZES = ((500, 375), (500, 375), (375, 500), (500, 333), (500, 400))
COLOURS = ("red", "green", "blue", "yellow", "white", "black", "brown", "orange")
THINGS = ("dog", "child", "man", "woman", "ball", "bike", "car", "boat")
PLACES = ("on the grass", "in the water", "on a street", "in the snow", "near a wall", "on the beach")


# ---- the data (timed, not measured) -------------------------------------------------------------------------
def photo(i: int, rng: np.random.Generator) -> Image.Image:
    """A Flickr8k-sized picture: a noisy colour gradient (textured, as photos are for JPEG) and a few shapes."""
    w, h = SIZES[i % len(SIZES)]
    a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0.0, 1.0, h)[:, None, None]
    pixels = a * (1 - t) + b * t + rng.normal(0, 18, (h, w, 3))
    im = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(2, 7))):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        s = int(rng.integers(15, 120))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x - s, y - s // 2, x + s, y + s // 2), fill=fill)
    return im


def caption(rng: np.random.Generator) -> str:
    return (f"a {rng.choice(COLOURS)} {rng.choice(THINGS)} {rng.choice(('runs', 'sits', 'plays', 'stands'))} "
            f"{rng.choice(PLACES)} with a {rng.choice(COLOURS)} {rng.choice(THINGS)}")


def make_dataset(folder: Path, photos: int, seed: int = 0) -> Path:
    """``folder/images/NNNNNN.jpg`` and ``folder/Flickr8k.token.txt`` (five captions a photo); the token file."""
    images = folder / "images"
    images.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(photos):
        name = f"{i:06d}.jpg"
        photo(i, rng).save(images / name, quality=90)
        lines += [f"{name}#{n}\t{caption(rng)}" for n in range(5)]
    token = folder / "Flickr8k.token.txt"
    token.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return token


def save_weights(path: Path) -> None:
    """ViT-B-32 with random weights (seed 0), saved as a user's weights file is."""
    import torch

    from engine.models import build_encoder

    torch.manual_seed(0)
    torch.save({"state_dict": build_encoder(MODEL)[0].clip.state_dict()}, path)


# ---- the measurements -----------------------------------------------------------------------------------------
def index(cli: Cli, weights: Path, name: str, exact: bool, trace: Path | None = None) -> dict[str, Any]:
    args = ["index", "--model", MODEL, "--pretrained", str(weights), "--dataset", DATASET, "--name", name,
            "--device", "cpu", "--json", *(["--exact"] if exact else [])]
    if trace is not None:
        os.environ[TRACE_ENV] = str(trace)
    try:
        done = cli.run(args)
    finally:
        os.environ.pop(TRACE_ENV, None)
    out = done.pop("output")
    done["counts"] = {m: d["count"] for m, d in out["modalities"].items()}
    done["inference"] = out["inference"]
    shutil.rmtree(cli.workspace / "runs" / name, ignore_errors=True)  # its 600 MB checkpoint: disk, not memory
    return done


def breakdown(trace: Path) -> list[dict[str, Any]]:
    """The trace's marks, each batch stage folded into one row (its largest RSS, peak and children)."""
    rows: list[dict[str, Any]] = []
    for line in trace.read_text().splitlines():
        mark = json.loads(line)
        if rows and rows[-1]["stage"] == mark["stage"]:
            last = rows[-1]
            last.update(batches=last["batches"] + 1, t_s=mark["t_s"], done=mark.get("done"),
                        **{k: max(last[k], mark[k]) for k in ("rss_mib", "peak_mib", "children_mib")})
        else:
            rows.append({**mark, "batches": 1})
    return rows


def print_breakdown(rows: list[dict[str, Any]]) -> None:
    print(f"\nfast path, stage by stage ({TRACE_ENV}; MiB; peak: the largest RSS since the previous mark)")
    print(f"{'stage':<34} {'t (s)':>7} {'RSS':>7} {'peak':>7} {'workers':>8}")
    for r in rows:
        what = r["stage"] + (f" x{r['batches']}" if r["batches"] > 1 else "")
        print(f"{what:<34} {r['t_s']:>7.1f} {r['rss_mib']:>7.0f} {r['peak_mib']:>7.0f} {r['children_mib']:>8.0f}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="100 photos, 500 captions: a check (about 2 minutes)")
    p.add_argument("--photos", type=int, default=None, help="photos (default 1,000; --quick 100)")
    p.add_argument("--repeats", type=int, default=1, help="interleaved builds on each path (default 1)")
    p.add_argument("--no-trace", action="store_true", help="leave out the stage-by-stage build")
    p.add_argument("--workdir", type=Path, default=None, help="work here (default: a temporary folder)")
    p.add_argument("--keep", action="store_true", help="keep --workdir afterwards")
    p.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    photos = args.photos or (100 if args.quick else 1000)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="index-build-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return measure(args, photos, workdir)
    finally:
        if not (args.keep and args.workdir):
            shutil.rmtree(workdir, ignore_errors=True)


def measure(args: argparse.Namespace, photos: int, workdir: Path) -> int:
    info = machine("cpu")
    print(f"machine: {describe(info)}")
    t = time.perf_counter()
    weights = workdir / "vit-b-32-random.pt"
    save_weights(weights)
    token = make_dataset(workdir / "data", photos)
    print(f"made {MODEL} weights and {photos} photos, {5 * photos} captions in {time.perf_counter() - t:.0f} s")
    cli = Cli(workdir / "ws")
    cli.run(["import", "flickr-token", str(token), "--name", DATASET, "--images-root", str(token.parent / "images"),
             "--json"])

    builds: dict[str, list[dict[str, Any]]] = {"exact": [], "fast": []}
    for i in range(args.repeats):
        for path in ("exact", "fast"):
            done = index(cli, weights, f"{path}-{i}", exact=path == "exact")
            builds[path].append(done)
            print(f"  {path:<5} #{i + 1}: {done['seconds']:.1f} s, peak RSS {done['peak_rss_mib']:.0f} MiB (tree), "
                  f"max RSS {done['max_rss_mib']:.0f} MiB, {done['inference']}, {done['counts']}")
    rows = []
    if not args.no_trace:
        trace = workdir / "trace.jsonl"
        index(cli, weights, "fast-traced", exact=False, trace=trace)
        rows = breakdown(trace)

    def summary(path: str) -> dict[str, float]:
        b = builds[path]
        return {"s": statistics.median(d["seconds"] for d in b), "cpu_s": statistics.median(d["cpu_s"] for d in b),
                "peak_rss_mib": max(d["peak_rss_mib"] for d in b), "max_rss_mib": max(d["max_rss_mib"] for d in b)}

    exact, fast = summary("exact"), summary("fast")
    print(f"\n{'path':<22} {'seconds':>8} {'CPU s':>8} {'peak RSS (tree)':>16} {'max RSS':>8}")
    for label, r in (("exact (--exact, fp32)", exact), (f"fast ({builds['fast'][0]['inference']})", fast)):
        print(f"{label:<22} {r['s']:>8.1f} {r['cpu_s']:>8.1f} {r['peak_rss_mib']:>12.0f} MiB {r['max_rss_mib']:>8.0f}")
    print(f"speedup {exact['s'] / fast['s']:.2f}x ({photos} photos, {5 * photos} captions, {MODEL}; median of "
          f"{args.repeats}, memory the largest)")
    if rows:
        print_breakdown(rows)
    out = {
        "exact_s": round(exact["s"], 2), "fast_s": round(fast["s"], 2), "speedup": round(exact["s"] / fast["s"], 3),
        "exact_peak_rss_mib": round(exact["peak_rss_mib"]), "fast_peak_rss_mib": round(fast["peak_rss_mib"]),
        "exact_max_rss_mib": round(exact["max_rss_mib"]), "fast_max_rss_mib": round(fast["max_rss_mib"]),
        "exact_cpu_s": round(exact["cpu_s"], 1), "fast_cpu_s": round(fast["cpu_s"], 1),
        "model": MODEL, "photos": photos, "captions": 5 * photos, "repeats": args.repeats, "quick": args.quick,
        "fast_path": builds["fast"][0]["inference"],
        "builds": {p: [{k: round(v, 2) if isinstance(v, float) else v for k, v in d.items()} for d in b]
                   for p, b in builds.items()},
        "breakdown": rows,
        "machine": {**info, "load_average_1min_end": round(os.getloadavg()[0], 2)},
    }
    print_json(out, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
