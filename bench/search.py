"""Search: hnswlib (through ``engine.index``) against exact numpy brute force, in one process.

    .venv/bin/python bench/search.py                 # N = 10k and 100k random unit 256-d vectors
    .venv/bin/python bench/search.py --data lowrank --json bench/results/search_lowrank.json
    .venv/bin/python bench/search.py --million       # and N = 1M (build: ~0.5-1.5 h on 2 cores)
    .venv/bin/python bench/search.py --efs 64 128 256 --queries 500

Per N: build time (all cores), file size, save / verify / load times, then for each search ``ef``:
recall@k against exact search and single-thread latency p50/p99 of :func:`engine.index.queries.query`
(one query per call, ``num_threads=1``; wall time, and the thread's CPU time, which leaves out the time a
busy machine makes it wait for a core), plus hnswlib's bare ``knn_query``, one filtered row (10% of the ids
allowed) and the exact numpy brute force (``x @ q`` + top-k, BLAS single-threaded unless
``OPENBLAS_NUM_THREADS`` says otherwise) as the baseline. ``--data random`` (default): isotropic unit vectors,
the hardest case for HNSW (no structure: 0.98 recall needs a large ``ef``); ``--data lowrank``: a 32-d latent
plus noise, a proxy for real embeddings (low intrinsic dimension). Target at 1M: recall@10 >= 0.98 with
p99 <= 5 ms. Prints the machine and a table; writes JSON (``--json``, default ``bench/results/search.json``).

The ANN part is in functions (:func:`bench_ann` for one N, built from :func:`build_timed`,
:func:`bench_ef`, :func:`bench_raw_hnswlib`, :func:`bench_filtered`, :func:`bench_exact`, :func:`bench_files`),
so an end-to-end ``search()`` section can be added beside it and share :func:`machine_info` and
:func:`write_json`.
"""

from __future__ import annotations

import os

# The exact baseline runs single-threaded, like the hnswlib queries it is compared with (must be set before
# numpy loads OpenBLAS); export OPENBLAS_NUM_THREADS=N to compare with a multi-threaded brute force.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import hnswlib
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe, machine

from engine.index import ann, checksums, loading, publish
from engine.index.inputs import thread_count
from engine.index.params import IndexParams
from engine.index.queries import query

RECALL_TARGET = 0.98
P99_TARGET_MS = 5.0


# ---- machine and data ----------------------------------------------------------------------------------------
def machine_info() -> dict:
    """``bench/machine.py``'s description plus what matters here: hnswlib and the BLAS thread count."""
    info = machine("cpu")
    info.update(hnswlib=getattr(hnswlib, "__version__", "0.8.0"), blas_threads=os.environ.get("OPENBLAS_NUM_THREADS"))
    return info


def random_unit(n: int, dim: int, seed: int, chunk: int = 100_000) -> np.ndarray:
    """``n`` random unit float32 vectors (isotropic Gaussian, normalised), generated in chunks."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, chunk):
        block = rng.standard_normal((min(chunk, n - start), dim), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + block.shape[0]] = block
    return out


def lowrank_unit(n: int, dim: int, seed: int, latent: int = 32, noise: float = 0.2, basis_seed: int = 12345,
                 chunk: int = 100_000) -> np.ndarray:
    """A proxy for real embeddings, which have a low intrinsic dimension: a ``latent``-d Gaussian mapped into
    ``dim`` dimensions by a fixed random orthonormal basis, plus isotropic noise (std ``noise`` per coordinate),
    normalised. Queries and base share the basis (``basis_seed``)."""
    basis = np.linalg.qr(np.random.default_rng(basis_seed).standard_normal((dim, latent)))[0].T.astype(np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        block = rng.standard_normal((m, latent), dtype=np.float32) @ basis
        block += noise * rng.standard_normal((m, dim), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + m] = block
    return out


def make_vectors(kind: str, n: int, dim: int, seed: int) -> np.ndarray:
    return random_unit(n, dim, seed) if kind == "random" else lowrank_unit(n, dim, seed)


def exact_topk(base: np.ndarray, queries: np.ndarray, k: int, chunk: int = 256) -> np.ndarray:
    """Row indices of the exact top ``k`` of each query (the ground truth), ``[Q, k]``."""
    out = np.empty((queries.shape[0], k), np.int64)
    for start in range(0, queries.shape[0], chunk):
        scores = queries[start : start + chunk] @ base.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, 1), axis=1, kind="stable")
        out[start : start + chunk] = np.take_along_axis(top, order, 1)
    return out


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    hits = sum(np.intersect1d(a, b, assume_unique=True).size for a, b in zip(found, truth, strict=True))
    return hits / (k * truth.shape[0])


class Timer:
    """Wall and thread-CPU time of each timed call: on a busy machine the wall p99 includes time the thread
    waited for a core (a scheduler slice is a few ms); the CPU time shows the work alone."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def __enter__(self) -> Timer:
        self._w, self._c = time.perf_counter(), time.thread_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall.append(time.perf_counter() - self._w)
        self.cpu.append(time.thread_time() - self._c)

    def summary(self) -> dict:
        w, c = np.asarray(self.wall) * 1e3, np.asarray(self.cpu) * 1e3
        return {"p50_ms": float(np.percentile(w, 50)), "p99_ms": float(np.percentile(w, 99)),
                "mean_ms": float(w.mean()), "qps_1thread": float(1e3 / w.mean()),
                "cpu_p50_ms": float(np.percentile(c, 50)), "cpu_p99_ms": float(np.percentile(c, 99))}


# ---- the ANN part --------------------------------------------------------------------------------------------
def build_timed(base: np.ndarray, ids: np.ndarray, params: IndexParams, threads: int) -> tuple[ann.AnnIndex, float]:
    start = time.perf_counter()
    index = ann.build(base, ids, params, num_threads=threads)
    return index, time.perf_counter() - start


def bench_ef(index: ann.AnnIndex, queries: np.ndarray, truth_ids: np.ndarray, k: int, ef: int) -> dict:
    """Recall@k and single-thread latency of ``query`` (one query per call) at search ``ef``."""
    index.ef = ef
    for i in range(min(20, queries.shape[0])):  # warm-up
        query(index, queries[i], k)
    found = np.empty((queries.shape[0], k), np.int64)
    timer = Timer()
    for i in range(queries.shape[0]):
        with timer:
            labels, _ = query(index, queries[i], k, num_threads=1)
        found[i] = labels[0]
    return {"ef": ef, "recall": recall_at_k(found, truth_ids), **timer.summary()}


def bench_raw_hnswlib(index: ann.AnnIndex, queries: np.ndarray, k: int, ef: int) -> dict:
    """The same queries straight through hnswlib's ``knn_query`` (the wrapper's overhead is the difference)."""
    index.ef = ef
    timer = Timer()
    for i in range(queries.shape[0]):
        q = queries[i : i + 1]
        with timer:
            index.hnsw.knn_query(q, k=k, num_threads=1)
    return {"ef": ef, **timer.summary()}


def bench_filtered(index: ann.AnnIndex, base: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int,
                   ef: int, fraction: float, seed: int) -> dict:
    """Queries restricted to a random ``fraction`` of the ids (over-fetch + ``np.isin``; exact below the
    query's threshold): recall against exact search over the allowed rows, and latency."""
    rng = np.random.default_rng(seed + 7)
    rows = np.sort(rng.choice(ids.size, size=max(k, int(ids.size * fraction)), replace=False))
    allowed = ids[rows]
    truth = allowed[exact_topk(base[rows], queries, k)]
    index.ef = ef
    found = np.empty((queries.shape[0], k), np.int64)
    timer = Timer()
    for i in range(queries.shape[0]):
        with timer:
            labels, _ = query(index, queries[i], k, allowed=allowed, num_threads=1)
        found[i] = labels[0]
    ok = bool(np.isin(found, allowed).all())
    return {"ef": ef, "allowed_fraction": fraction, "allowed": int(allowed.size), "only_allowed": ok,
            "recall": recall_at_k(found, truth), **timer.summary()}


def bench_exact(base: np.ndarray, queries: np.ndarray, truth_rows: np.ndarray, k: int) -> dict:
    """The baseline: exact brute force per query (``base @ q``, ``argpartition``, sort the top k)."""
    timer = Timer()
    found = np.empty((queries.shape[0], k), np.int64)
    for i in range(queries.shape[0]):
        with timer:
            scores = base @ queries[i]
            top = np.argpartition(-scores, k - 1)[:k]
            found[i] = top[np.argsort(-scores[top], kind="stable")]
    return {"ef": None, "recall": recall_at_k(found, truth_rows[: queries.shape[0]]), **timer.summary()}


def bench_files(index: ann.AnnIndex) -> dict:
    """Atomic save, verification (sha256 of the whole file) cold and remembered, and a verified load."""
    with tempfile.TemporaryDirectory(prefix="crossfold-bench-") as tmp:
        path = Path(tmp) / "bench.hnsw"
        start = time.perf_counter()
        manifest = publish.save(index, path, checkpoint_sha256="bench")
        save_s = time.perf_counter() - start
        checksums.forget_checksums()
        start = time.perf_counter()
        loaded = loading.load(manifest, "bench")
        load_cold_s = time.perf_counter() - start
        del loaded
        # The checksum is remembered only for files older than the timestamp granularity (racy files are hashed
        # again): wait that long, hash once, then time a remembered verification and load.
        time.sleep(checksums.RACY_NS / 1e9 + 0.2)
        checksums.forget_checksums()
        start = time.perf_counter()
        loading.verify(manifest, "bench")
        verify_cold_s = time.perf_counter() - start
        start = time.perf_counter()
        loading.verify(manifest, "bench")
        verify_cached_s = time.perf_counter() - start
        start = time.perf_counter()
        loaded = loading.load(manifest, "bench")
        load_cached_s = time.perf_counter() - start
        del loaded
        return {"file_bytes": manifest.file_size, "save_s": save_s, "verify_cold_s": verify_cold_s,
                "verify_cached_s": verify_cached_s, "load_cold_s": load_cold_s, "load_cached_s": load_cached_s}


def bench_ann(n: int, args: argparse.Namespace) -> dict:
    """Everything for one N: data, ground truth, build, files, the ef sweep, filtered, exact baseline."""
    print(f"\nN={n:,}: generating {n:,} + {args.queries} {args.data} unit {args.dim}-d vectors ...", flush=True)
    base = make_vectors(args.data, n, args.dim, args.seed + n)
    queries = make_vectors(args.data, args.queries, args.dim, args.seed + 1)
    ids = np.arange(n, dtype=np.int64) * 3 + 11  # catalogue-like ids, not row numbers
    start = time.perf_counter()
    truth_rows = exact_topk(base, queries, args.k)
    truth_s = time.perf_counter() - start
    truth_ids = ids[truth_rows]
    params = IndexParams(M=args.M, ef_construction=args.ef_construction, ef=args.default_ef)
    print(f"  building (M={params.M}, ef_construction={params.ef_construction}, {args.threads} threads) ...",
          flush=True)
    index, build_s = build_timed(base, ids, params, args.threads)
    print(f"  built in {build_s:.1f} s; ground truth in {truth_s:.1f} s", flush=True)
    files = bench_files(index)
    rows = []
    for ef in args.efs:
        row = bench_ef(index, queries, truth_ids, args.k, ef)
        rows.append(row)
        print(f"  ef={ef:<4} recall@{args.k}={row['recall']:.4f} p50={row['p50_ms']:.3f} ms "
              f"p99={row['p99_ms']:.3f} ms", flush=True)
    raw = bench_raw_hnswlib(index, queries, args.k, args.default_ef)
    filtered = bench_filtered(index, base, ids, queries[: args.filtered_queries], args.k, args.default_ef,
                              args.filtered_fraction, args.seed)
    exact = bench_exact(base, queries[: args.exact_queries], truth_rows, args.k)
    print(f"  exact numpy p50={exact['p50_ms']:.3f} ms p99={exact['p99_ms']:.3f} ms", flush=True)
    meeting = [r for r in rows if r["recall"] >= RECALL_TARGET]
    best = min(meeting, key=lambda r: r["ef"]) if meeting else None
    return {
        "n": n, "data": args.data, "dim": args.dim, "k": args.k, "queries": args.queries, "params": params.to_dict(),
        "build_s": build_s, "build_threads": args.threads, "ground_truth_s": truth_s, "files": files,
        "ef_sweep": rows, "hnswlib_raw": raw, "filtered": filtered, "exact": exact,
        "lowest_ef_meeting_recall": best["ef"] if best else None,
        "meets_target": bool(best and best["p99_ms"] <= P99_TARGET_MS),
    }


# ---- report --------------------------------------------------------------------------------------------------
def print_table(results: list[dict], k: int) -> None:
    header = (f"| {'N':>9} | {'method':<20} | {'ef':>4} | {f'recall@{k}':>9} | {'p50 ms':>8} | {'p99 ms':>8} | "
              f"{'cpu p99':>8} | {'QPS/thread':>10} | {'build s':>8} |")
    print()
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    for res in results:
        def line(method: str, row: dict, build: str = "", n: int = res["n"]) -> None:
            ef = "" if row.get("ef") is None else str(row["ef"])
            recall = f"{row['recall']:.4f}" if "recall" in row else ""
            print(f"| {n:>9,} | {method:<20} | {ef:>4} | {recall:>9} | {row['p50_ms']:>8.3f} | "
                  f"{row['p99_ms']:>8.3f} | {row['cpu_p99_ms']:>8.3f} | {row['qps_1thread']:>10,.0f} | {build:>8} |")

        for i, row in enumerate(res["ef_sweep"]):
            line("hnsw (queries.query)", row, f"{res['build_s']:.1f}" if i == 0 else "")
        line("hnsw raw knn_query", res["hnswlib_raw"])
        line(f"hnsw {res['filtered']['allowed_fraction']:.0%} allowed", res["filtered"])
        line("exact numpy", res["exact"])
    print()
    for res in results:
        f = res["files"]
        best = res["lowest_ef_meeting_recall"]
        verdict = "yes" if res["meets_target"] else "no"
        print(f"N={res['n']:,}: file {f['file_bytes'] / 2**20:.1f} MiB, save {f['save_s']:.2f} s, verify "
              f"{f['verify_cold_s']:.2f} s cold / {f['verify_cached_s'] * 1e3:.2f} ms remembered, load "
              f"{f['load_cold_s']:.2f} s cold / {f['load_cached_s']:.2f} s remembered; lowest ef with recall >= "
              f"{RECALL_TARGET}: {best}; recall >= {RECALL_TARGET} with p99 <= {P99_TARGET_MS} ms: {verdict}")


def write_json(path: str | Path, result: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


E2E_QUERIES = ("a red chair", "a tall blue table", "small green stool with thin legs", "a yellow lamp",
               "wide brown bench", "a pink bookshelf", "black torus", "white cone", "a round table", "grey box")


def bench_end_to_end(workspace: str, run: str | None, target: str, repeats: int) -> dict:
    """``engine.search.Searcher.search`` (encode the text, query hnswlib, fold, read the catalogue) against the
    same pipeline with an exact numpy scan of the index's vectors instead of hnswlib (the baseline)."""
    import torch

    from engine.search import Searcher, default_run
    from engine.workspace import Workspace

    torch.set_num_threads(1)
    ws = Workspace.open(workspace)
    run = run or default_run(ws.catalog(), target)
    searcher = Searcher(ws, run, device="cpu")
    searcher.search(text=E2E_QUERIES[0], target=target, k=10)  # loads the model and the index once
    ds = searcher.dataset_for(target, None)
    index = searcher.index(ds, "shape" if target == "shapes" else ("image" if target == "images" else "text"))
    ids = index.ids()
    matrix = index.vectors(ids)
    rows = []
    for name in ("search()", "exact scan baseline"):
        times = []
        for _ in range(repeats):
            for text in E2E_QUERIES:
                t = time.perf_counter()
                if name == "search()":
                    searcher.search(text=text, target=target, k=10)
                else:
                    q = searcher.embed_text(text)
                    top = ids[np.argsort(-(matrix @ q), kind="stable")[:10]]
                    searcher._hits(ds, [(int(i), 0.0, None) for i in top])
                times.append((time.perf_counter() - t) * 1e3)
        rows.append({"method": name, "queries": len(times), "p50_ms": float(np.percentile(times, 50)),
                     "p99_ms": float(np.percentile(times, 99)), "mean_ms": float(np.mean(times))})
    print(f"\nend-to-end search on {workspace} (run {run}, target {target}, {len(ids)} vectors, k=10, 1 thread)")
    print(f"{'method':<22}{'queries':>8}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    for r in rows:
        print(f"{r['method']:<22}{r['queries']:>8}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}{r['mean_ms']:>10.2f}")
    return {"workspace": workspace, "run": run, "target": target, "vectors": int(len(ids)), "rows": rows,
            "target_p99_ms": 30.0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--million", action="store_true",
                    help="add N = 1,000,000 (build ~0.5-1.5 h on 2 cores; minutes on 16)")
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--data", choices=["random", "lowrank"], default="random",
                    help="random: isotropic unit vectors (the hardest case); lowrank: 32-d latent + noise, "
                         "a proxy for real embeddings")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--queries", type=int, default=1000, help="queries per ef (latency and recall)")
    ap.add_argument("--exact-queries", type=int, default=200, help="queries timed for the exact baseline")
    ap.add_argument("--filtered-queries", type=int, default=300)
    ap.add_argument("--filtered-fraction", type=float, default=0.1)
    ap.add_argument("--efs", type=int, nargs="+", default=[32, 64, 128, 256, 400])
    ap.add_argument("--default-ef", type=int, default=IndexParams().ef, help="ef of the filtered and raw rows")
    ap.add_argument("--M", type=int, default=IndexParams().M)
    ap.add_argument("--ef-construction", type=int, default=IndexParams().ef_construction)
    ap.add_argument("--threads", type=int, default=0, help="build threads (0 = all usable cores)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default="bench/results/search.json")
    ap.add_argument("--strict", action="store_true", help="exit 1 when the largest N misses the target")
    ap.add_argument("--e2e-workspace", default=None, help="also time search() end to end on this workspace "
                    "(made by `trainer demo`)")
    ap.add_argument("--e2e-run", default=None, help="run for --e2e-workspace (default: newest indexed)")
    ap.add_argument("--e2e-target", default="shapes", choices=["shapes", "images", "captions"])
    ap.add_argument("--e2e-repeats", type=int, default=10)
    ap.add_argument("--skip-ann", action="store_true", help="only the end-to-end part")
    args = ap.parse_args(argv)
    args.threads = thread_count(args.threads or None)
    sizes = list(args.sizes) + ([1_000_000] if args.million and 1_000_000 not in args.sizes else [])

    info = machine_info()
    print(f"machine: {describe(info)}")
    print(f"hnswlib {info['hnswlib']}, numpy {info['numpy']} (BLAS threads {info['blas_threads']}), "
          f"python {info['python']}")
    results = [] if args.skip_ann else [bench_ann(n, args) for n in sizes]
    e2e = (bench_end_to_end(args.e2e_workspace, args.e2e_run, args.e2e_target, args.e2e_repeats)
           if args.e2e_workspace else None)
    info["load_average_1min_at_end"] = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    if results:
        print_table(results, args.k)
    print(f"load average at the end: {info['load_average_1min_at_end']} (wall p99 on a busy machine includes "
          "time spent waiting for a core; cpu p99 does not)")
    out = write_json(args.json, {
        "benchmark": "search",
        "machine": info,
        "config": vars(args),
        "target": {"n": 1_000_000, "recall": RECALL_TARGET, "p99_ms": P99_TARGET_MS},
        "ann": results,
        "end_to_end": e2e,
    })
    print(f"wrote {out}")
    return 1 if args.strict and results and not results[-1]["meets_target"] else 0


if __name__ == "__main__":
    sys.exit(main())
