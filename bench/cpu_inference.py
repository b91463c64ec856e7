"""Inference paths on the CPU for index builds and queries (issue 23), each against eager fp32 in the same run.

    .venv/bin/python bench/cpu_inference.py [--quick] [--threads N] [--json FILE]

A real-size model, ViT-B-32, with random weights saved to its own file and loaded from it as a user's file is
(``build_encoder(model, FILE)``; no hub here), encoded on each path of ``engine.models.inference`` plus bf16
autocast (a candidate this CPU may run natively: ``avx512_bf16``/AMX), in interleaved rounds (path A, path B, A,
B, ...) so a machine shared with other work slows every path alike and the ratios stay fair:

* images/s of the image tower (a batch of preprocessed 224 px images) and captions/s of the text tower (a batch of
  captions of COCO-like length, run to their last end-of-text token), medians over the rounds;
* end-to-end text search: one query (tokenize, encode, hnswlib query over a flickr-sized image index: 1,000 images
  encoded on the same path), p50 and p99 over distinct queries;
* ranks: a fixed retrieval set (drawn shapes, each another colour, kind, place, size and background, two captions
  saying all five: no duplicates, whose ties rounding would break) encoded on each path:
  top-10 overlap with fp32 (captions -> images and images -> captions) and the largest R@k difference in points.
  With random weights the recalls are near chance; what matters is that the paths agree.
* ranks on the ``trainer demo`` runs (trained models, their own datasets, every split), where a workspace with them
  is given (``--demo-workspace``; default: the user's workspace when it holds them): the same two figures.

Prints a table, then JSON whose top-level ``image_speedup``, ``text_speedup``, ``e2e_p50_ms``, ``e2e_p99_ms``,
``top10_overlap`` and ``max_recall_delta_points`` are the default CPU path's, each against eager fp32 of this run.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe, machine, print_json

from engine.evaluate.agreement import max_recall_delta_points, top_k_overlap
from engine.evaluate.retrieval import evaluate_retrieval
from engine.index import ann
from engine.models import build_encoder
from engine.models.inference import FAST_CPU, InferencePath, prepare_for_inference
from engine.models.int8_attention import cpu_flags

MODEL = "ViT-B-32"
COLOURS = {"red": (220, 40, 40), "green": (40, 190, 60), "blue": (40, 60, 220), "yellow": (230, 210, 40),
           "purple": (150, 50, 180), "orange": (240, 140, 30), "white": (245, 245, 245), "black": (20, 20, 20)}
SHAPES = ("square", "bar", "pole", "disc")
WORDS = ("small", "large", "wooden", "metal", "old", "new", "shiny", "round", "tall", "low")


def captions(n: int, seed: int) -> list[str]:
    """COCO-like captions (10-16 words)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        colour, shape = rng.choice(list(COLOURS)), rng.choice(SHAPES)
        extra = " ".join(rng.choice(WORDS, size=int(rng.integers(3, 8))))
        out.append(f"a photo of a {extra} {colour} {shape} standing on a table in a room")
    return out


def drawing(colour: str, shape: str, rng: np.random.Generator, size: int = 224,
            place: tuple[float, float] | None = None, scale: float | None = None,
            background: int | None = None) -> Image.Image:
    """A shape of a colour on grey; ``place`` (centre as fractions of the side), ``scale`` (half-size in pixels)
    and ``background`` (grey level) where given, else drawn at random."""
    grey = tuple(int(v) for v in rng.integers(90, 160, 3)) if background is None else (background,) * 3
    im = Image.new("RGB", (size, size), grey)
    if place is None:
        cx = cy = size // 2 + int(rng.integers(-20, 21))
    else:
        cx, cy = int(place[0] * size), int(place[1] * size)
    s = int(rng.integers(30, 60)) if scale is None else int(scale)
    box = {"square": (cx - s, cy - s, cx + s, cy + s), "bar": (cx - 2 * s, cy - 12, cx + 2 * s, cy + 12),
           "pole": (cx - 12, cy - 2 * s, cx + 12, cy + 2 * s), "disc": (cx - s, cy - s, cx + s, cy + s)}[shape]
    draw = ImageDraw.Draw(im)
    (draw.ellipse if shape == "disc" else draw.rectangle)(box, fill=COLOURS[colour])
    return im


PLACES = {"on the left": (0.3, 0.5), "on the right": (0.7, 0.5), "at the top": (0.5, 0.3), "at the bottom": (0.5, 0.7),
          "in the middle": (0.5, 0.5)}
SIZES = {"small": 24, "large": 44}
BACKGROUNDS = {"light grey": 185, "dark grey": 80}


def retrieval_set(n_items: int, preprocess: Callable, seed: int = 0) -> tuple[torch.Tensor, list[str], torch.Tensor]:
    """``n_items`` drawings (preprocessed), two captions each, and the caption rows' item ids. Every item is
    another (colour, shape, place, size, background) and its captions say all five, so no two items, and no two
    captions, are the same: a tie between duplicates would be broken by rounding and read as a moved rank."""
    rng = np.random.default_rng(seed)
    combos = [(c, s, p, z, b) for b in BACKGROUNDS for z in SIZES for p in PLACES for s in SHAPES for c in COLOURS]
    if n_items > len(combos):
        raise ValueError(f"at most {len(combos)} distinct items, not {n_items}")
    images, texts, ids = [], [], []
    for i, (colour, shape, place, size, background) in enumerate(combos[:n_items]):
        images.append(preprocess(drawing(colour, shape, rng, place=PLACES[place], scale=SIZES[size],
                                         background=BACKGROUNDS[background])))
        texts.append(f"a {size} {colour} {shape} {place} on {background}")
        texts.append(f"a drawing of a {size} {colour} {shape} {place}, the background {background}")
        ids.append(i)
        ids.append(i)
    return torch.stack(images), texts, torch.tensor(ids)


@contextlib.contextmanager
def bf16() -> Iterator[None]:
    with torch.autocast("cpu", dtype=torch.bfloat16):
        yield


def median_rate(values: list[float]) -> float:
    return float(statistics.median(values))


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main() -> int:  # noqa: PLR0915 - one measurement, read top to bottom
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smaller run (a couple of minutes)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--batch", type=int, default=None, help="image batch (default 64; --quick 16)")
    parser.add_argument("--no-bf16", action="store_true", help="leave bf16 autocast out")
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--demo-workspace", type=Path, default=None,
                        help="a workspace with the `trainer demo` runs (default: the user's, when it has them)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rounds = 3 if args.quick else 7
    batch = args.batch or (16 if args.quick else 64)
    n_text = 128 if args.quick else 512
    n_queries = 60 if args.quick else 300
    n_index = 256 if args.quick else 1000
    n_items = 64 if args.quick else 200

    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "vit-b-32-random.pt"
        random_model = build_encoder(MODEL)[0]  # (quietly: no weights asked for)
        torch.save({"state_dict": random_model.clip.state_dict()}, weights)
        del random_model
        t = time.perf_counter()
        exact, _, preprocess, tokenizer = build_encoder(MODEL, str(weights))
        load_s = time.perf_counter() - t
    exact.eval()
    fast = prepare_for_inference(copy.deepcopy(exact), FAST_CPU, "cpu")
    paths: dict[str, tuple[Any, Callable[[], contextlib.AbstractContextManager]]] = {
        "exact": (exact, contextlib.nullcontext), FAST_CPU.value: (fast, contextlib.nullcontext)}
    if not args.no_bf16:
        paths["bf16-autocast"] = (exact, bf16)
    info = machine("cpu")
    info["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    info["cpu_flags"] = sorted(f for f in cpu_flags() if f in ("avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni"))
    print(f"machine: {describe(info)}; {info['cpu_capability']} {' '.join(info['cpu_flags'])}")
    print(f"{MODEL} from {weights.name} in {load_s:.1f} s; {rounds} interleaved rounds, image batch {batch}, "
          f"{n_text} captions, {n_queries} queries over {n_index} images, {n_items} items for ranks")

    images = torch.stack([preprocess(drawing(c, s, np.random.default_rng(i)))
                          for i, (c, s) in enumerate(zip(list(COLOURS) * 64, SHAPES * 128, strict=False))][:batch])
    texts = captions(n_text, 1)
    tokens = tokenizer(texts)

    @torch.inference_mode()
    def image_rate(enc: Any, ctx: Callable) -> float:
        with ctx():
            t0 = time.perf_counter()
            enc.encode_images(images)
            return batch / (time.perf_counter() - t0)

    @torch.inference_mode()
    def text_rate(enc: Any, ctx: Callable) -> float:
        with ctx():
            t0 = time.perf_counter()
            enc.encode_texts(tokens)
            return n_text / (time.perf_counter() - t0)

    for enc, ctx in paths.values():  # warm-up
        image_rate(enc, ctx)
        text_rate(enc, ctx)
    rates: dict[str, dict[str, list[float]]] = {name: {"image": [], "text": []} for name in paths}
    for _ in range(rounds):
        for name, (enc, ctx) in paths.items():
            rates[name]["image"].append(image_rate(enc, ctx))
            rates[name]["text"].append(text_rate(enc, ctx))

    # end to end: one text query against a flickr-sized image index encoded on the same path, interleaved
    index_images = torch.cat([images] * (n_index // batch + 1))[:n_index]
    e2e: dict[str, list[float]] = {}
    indexes = {}
    with torch.inference_mode():
        for name, (enc, ctx) in paths.items():
            with ctx():
                vectors = torch.cat([enc.encode_images(index_images[i:i + 64])[1].float()
                                     for i in range(0, n_index, 64)])
            indexes[name] = ann.build(vectors.numpy(), np.arange(n_index), num_threads=1)
            e2e[name] = []
        queries = captions(n_queries, 2)
        for i, text in enumerate(queries):
            for name, (enc, ctx) in paths.items():
                t0 = time.perf_counter()
                with ctx():
                    v = enc.encode_texts(tokenizer([f"{text} {i}"]))[1].float().numpy()
                indexes[name].query(v, 10)
                e2e[name].append((time.perf_counter() - t0) * 1e3)

    # ranks: the retrieval set on each path, against fp32
    set_images, set_texts, set_ids = retrieval_set(n_items, preprocess)
    encoded: dict[str, dict[str, torch.Tensor]] = {}
    with torch.inference_mode():
        for name, (enc, ctx) in paths.items():
            with ctx():
                encoded[name] = {"image": torch.cat([enc.encode_images(set_images[i:i + 64])[1].float()
                                                     for i in range(0, n_items, 64)]),
                                 "text": enc.encode_texts(tokenizer(set_texts))[1].float()}
    item_ids = {"image": torch.arange(n_items), "text": set_ids}
    metrics = {name: evaluate_retrieval(e, item_ids, directions=[("text", "image"), ("image", "text")])
               for name, e in encoded.items()}

    rows = []
    results: dict[str, dict[str, float]] = {}
    ref = encoded["exact"]
    for name in paths:
        e = encoded[name]
        overlap = min(top_k_overlap(ref["text"], ref["image"], e["text"], e["image"]),
                      top_k_overlap(ref["image"], ref["text"], e["image"], e["text"]))
        results[name] = {
            "images_per_s": median_rate(rates[name]["image"]),
            "captions_per_s": median_rate(rates[name]["text"]),
            "image_speedup": median_rate(rates[name]["image"]) / median_rate(rates["exact"]["image"]),
            "text_speedup": median_rate(rates[name]["text"]) / median_rate(rates["exact"]["text"]),
            "e2e_p50_ms": percentile(e2e[name], 50), "e2e_p99_ms": percentile(e2e[name], 99),
            "top10_overlap": overlap,
            "max_recall_delta_points": max_recall_delta_points(metrics["exact"], metrics[name]),
            "min_cosine_image": float((e["image"] * ref["image"]).sum(-1).min()),
            "min_cosine_text": float((e["text"] * ref["text"]).sum(-1).min()),
            "median_score_error": float((e["text"] @ e["image"].T - ref["text"] @ ref["image"].T).abs().median()),
        }
        r = results[name]
        rows.append(f"{name:<14} {r['images_per_s']:>9.1f} {r['image_speedup']:>6.2f}x {r['captions_per_s']:>10.1f} "
                    f"{r['text_speedup']:>6.2f}x {r['e2e_p50_ms']:>8.1f} {r['e2e_p99_ms']:>8.1f} "
                    f"{r['top10_overlap']:>8.3f} {r['max_recall_delta_points']:>8.2f}")
    print(f"\n{'path':<14} {'images/s':>9} {'vs fp32':>7} {'captions/s':>10} {'vs fp32':>7} {'e2e p50':>8} "
          f"{'e2e p99':>8} {'top-10':>8} {'ΔR@k pt':>8}")
    print("\n".join(rows))
    print("(e2e in ms: tokenize + encode one caption + hnswlib top-10 over the image index; top-10: overlap with "
          "fp32's neighbours, the worse of the two directions; ΔR@k: largest R@k difference from fp32, in points)")
    fp32_scores = (ref["text"] @ ref["image"].T).topk(11, dim=1).values
    tie_gap = float((fp32_scores[:, 9] - fp32_scores[:, 10]).median())
    print(f"fp32 median gap between a caption's 10th and 11th image: {tie_gap:.5f}; median score error of "
          f"{FAST_CPU.value}: {results[FAST_CPU.value]['median_score_error']:.5f} (random weights: near ties)")
    demo = demo_agreement(args.demo_workspace)
    fast_r = results[FAST_CPU.value]
    out = {
        "image_speedup": round(fast_r["image_speedup"], 3), "text_speedup": round(fast_r["text_speedup"], 3),
        "e2e_p50_ms": round(fast_r["e2e_p50_ms"], 2), "e2e_p99_ms": round(fast_r["e2e_p99_ms"], 2),
        "top10_overlap": round(fast_r["top10_overlap"], 4),
        "max_recall_delta_points": round(fast_r["max_recall_delta_points"], 3),
        "path": FAST_CPU.value, "baseline": InferencePath.EXACT.value, "model": MODEL, "quick": args.quick,
        "fp32_rank10_gap": round(tie_gap, 6), "rounds": rounds, "image_batch": batch, "captions": n_text,
        "queries": n_queries, "index_images": n_index,
        "paths": {name: {k: round(v, 4) for k, v in r.items()} for name, r in results.items()},
        "demo_runs": demo,
        "machine": {**info, "load_average_1min_end": round(os.getloadavg()[0], 2)},
    }
    print_json(out, args.json)
    return 0


def demo_agreement(workspace: Path | None) -> dict[str, dict[str, Any]]:
    """Ranks of the fast path against fp32 on the ``trainer demo`` runs of ``workspace`` (printed; {} without)."""
    from engine.evaluate.agreement import run_agreement
    from engine.workspace import CATALOG_FILE, Workspace, default_workspace
    from trainer.commands.demo import DEMO_RUNS

    root = workspace or default_workspace()
    catalog = Workspace.open(root).catalog() if (root / CATALOG_FILE).is_file() else None
    runs = [name for name, _ in DEMO_RUNS if catalog is not None and catalog.run(name) is not None]
    if not runs:
        print(f"\nno `trainer demo` runs in {root}: their ranks are not measured (--demo-workspace)")
        return {}
    out = {}
    print(f"\nranks on the demo runs of {root} ({FAST_CPU.value} against fp32, every split):")
    for name in runs:
        a = run_agreement(catalog, name, FAST_CPU)
        out[name] = {"items": a.items, "top10_overlap": round(a.min_overlap, 4),
                     "max_recall_delta_points": round(a.max_recall_delta_points, 3),
                     "overlap": {k: round(v, 4) for k, v in a.overlap.items()}}
        print(f"  {name:<18} {a.items:>5} items  top-10 overlap {a.min_overlap:.3f}  "
              f"max ΔR@k {a.max_recall_delta_points:.2f} pt")
    return out


if __name__ == "__main__":
    raise SystemExit(main())
