"""Multi-SK: the vectorised log-space solver against the loop-based reference, in one process.

    .venv/bin/python bench/multisk.py                    # CPU, N=5716, K=64, 20 iterations
    .venv/bin/python bench/multisk.py --device cuda      # the solver on the GPU (the reference stays on the CPU)

The reference (``engine/losses/sinkhorn_reference.py``, float64 numpy, one Python loop turn per marginal
constraint, all K copies) is the baseline. Rows: the solver as SSPC runs it (float32, copies with the same
weight solved once) and its variants (float64; all K copies materialised). Each row: median wall time of
``--repeats`` runs after one warm-up, speed-up over the reference, and the largest absolute difference of the
soft multi-hot output from the reference's (the all-K-copies rows, memory-bound and slow on a CPU, are timed
``--all-copies-repeats`` times without warm-up). Target: >= 20x faster with outputs equal within 1e-5.
Scores are cosines of clustered unit features with K unit anchors (a spread like real anchor scores).
The solver runs with one torch CPU thread by default (``--threads``), like the single-threaded reference: a
fair comparison, and robust to a busy machine (with several threads, OpenMP barriers stall whenever another
process holds a core). Prints the machine and a table; writes JSON (``--json``, default ``bench/results/multisk.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.losses.sinkhorn import multi_assignment
from engine.losses.sinkhorn_reference import multi_assignment_reference

SPEEDUP_TARGET = 20.0
TOLERANCE = 1e-5


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: str) -> dict:
    info = {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "device": device,
    }
    return info


def make_scores(n: int, k: int, dim: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    anchors = torch.nn.functional.normalize(torch.randn(k, dim, generator=g, dtype=torch.float64), dim=1)
    centres = torch.randint(0, k, (n,), generator=g)
    feats = 1.5 * anchors[centres] + torch.randn(n, dim, generator=g, dtype=torch.float64) / dim**0.5
    feats = torch.nn.functional.normalize(feats, dim=1)
    return feats @ anchors.T


def timed(fn: Callable[[], object], repeats: int, device: str, warmup: bool = True) -> tuple[float, list[float], object]:
    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    if warmup:
        fn()
        sync()
    times, out = [], None
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        out = fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--n", type=int, default=5716)
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--eps", type=float, default=0.07)
    ap.add_argument("--rho", type=float, default=0.5)
    ap.add_argument("--dim", type=int, default=64, help="feature dimension of the synthetic scores")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per solver row (median)")
    ap.add_argument("--ref-repeats", type=int, default=1, help="timed runs of the loop reference")
    ap.add_argument(
        "--all-copies-repeats", type=int, default=1, help="timed runs of the all-K-copies rows (slow; no warm-up)"
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads for the solver (default 1, like the single-threaded reference; 0 = torch default)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default="bench/results/multisk.json")
    ap.add_argument("--strict", action="store_true", help="exit 1 when the SSPC row misses the target")
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: CUDA is not available")

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    info = machine(args.device)
    print(
        f"machine: {info['cpu']} ({info['cpu_count']} cores, {info['torch_threads']} torch threads), "
        f"GPU: {info['gpu'] or 'none'}; load avg {info['load_average_1min']}"
    )
    print(f"torch {info['torch']}, numpy {info['numpy']}, python {info['python']}")
    print(f"N={args.n} K={args.k} iterations={args.iterations} eps={args.eps} rho={args.rho} device={args.device}")

    scores = make_scores(args.n, args.k, args.dim, args.seed)
    params = (args.eps, args.iterations, args.rho)

    print("running the loop reference ...", flush=True)
    ref_time, ref_times, ref = timed(
        lambda: multi_assignment_reference(scores.numpy(), *params), args.ref_repeats, "cpu", warmup=False
    )
    rows = [
        {
            "solver": "reference (loops, float64, numpy)",
            "device": "cpu",
            "dtype": "float64",
            "copies": "all",
            "median_s": ref_time,
            "times_s": ref_times,
            "speedup": 1.0,
            "max_abs_diff": 0.0,
        }
    ]
    variants = [  # (label, dtype, group_copies)
        ("vectorised (SSPC default)", torch.float32, True),
        ("vectorised", torch.float64, True),
        ("vectorised, all K copies", torch.float32, False),
        ("vectorised, all K copies", torch.float64, False),
    ]
    for label, dtype, group in variants:
        x = scores.to(device=args.device, dtype=dtype)
        med, times, out = timed(
            lambda x=x, group=group: multi_assignment(x, *params, group_copies=group),
            args.repeats if group else args.all_copies_repeats,
            args.device,
            warmup=group or args.device == "cuda",
        )
        diff = float(np.abs(out.double().cpu().numpy() - ref).max())
        rows.append(
            {
                "solver": label,
                "device": args.device,
                "dtype": str(dtype).removeprefix("torch."),
                "copies": "grouped" if group else "all",
                "median_s": med,
                "times_s": times,
                "speedup": ref_time / med,
                "max_abs_diff": diff,
            }
        )
    for row in rows[1:]:
        row["meets_target"] = row["speedup"] >= SPEEDUP_TARGET and row["max_abs_diff"] <= TOLERANCE

    header = (
        f"| {'solver':<34} | {'device':<6} | {'dtype':<7} | {'copies':<7} | {'median s':>9} | "
        f"{'speed-up':>9} | {'max abs diff':>12} | {'>=20x, <=1e-5':<13} |"
    )
    print()
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for row in rows:
        ok = "baseline" if "meets_target" not in row else ("yes" if row["meets_target"] else "no")
        print(
            f"| {row['solver']:<34} | {row['device']:<6} | {row['dtype']:<7} | {row['copies']:<7} | "
            f"{row['median_s']:>9.4f} | {row['speedup']:>8.1f}x | {row['max_abs_diff']:>12.2e} | {ok:<13} |"
        )

    headline = rows[1]
    verdict = "PASS" if headline["meets_target"] else "FAIL"
    print(
        f"\nSSPC default solver: {headline['speedup']:.1f}x faster, max abs diff {headline['max_abs_diff']:.2e} "
        f"-> {verdict} (target >= {SPEEDUP_TARGET:.0f}x and <= {TOLERANCE:g})"
    )

    result = {
        "benchmark": "multisk",
        "machine": info,
        "config": vars(args),
        "target": {"speedup": SPEEDUP_TARGET, "max_abs_diff": TOLERANCE},
        "rows": rows,
        "headline": {
            "solver": headline["solver"],
            "speedup": headline["speedup"],
            "max_abs_diff": headline["max_abs_diff"],
            "meets_target": headline["meets_target"],
        },
    }
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return 1 if args.strict and not headline["meets_target"] else 0


if __name__ == "__main__":
    sys.exit(main())
