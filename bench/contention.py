"""Two Crossfold jobs on one machine: does each keep a fair share of it?

    .venv/bin/python bench/contention.py --workspace /tmp/wfull          # shapes-demo (trainer demo-data)
    .venv/bin/python bench/contention.py --workspace /tmp/wfull --steps 60 --skip 5

Scenarios, each a real ``python -m trainer train ... --events -`` subprocess (the configuration of
``--model``/``--loss``/``--batch-size``, ``--max-steps --steps``, no validation):

* ``alone``: one training, nothing else of ours running (the baseline, measured in the same run);
* ``beside index``: the same training while ``trainer index`` builds the search indexes of a small base run
  again and again (each build from another of its checkpoints, so each is a full build: encoding every view and
  caption of the dataset);
* ``beside training``: two such trainings started together.

Throughput is read from the trainings' own ``progress`` events: steps ``--skip``.. to the end (start-up and
warm-up excluded), samples = steps x batch over the events' time stamps; with two trainings, only the window
where both are past their warm-up and still running counts. The companion is started first and the measured
training only once the companion has reported progress (no sleeps). Target: each training keeps >= 40 % of its
``alone`` throughput. The jobs register in ``<workspace>/jobs/`` and split the cores (``engine.threads``); run it
on an otherwise idle machine. Runs are named ``contention-*`` in the workspace (use a scratch copy). Prints a
table and writes JSON (``--json``); exits 1 when a training misses the target.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe, machine  # noqa: E402

TARGET = 0.40


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1")
    env.pop("OMP_NUM_THREADS", None)  # the jobs choose their own threads
    return env


class Job:
    """A trainer subprocess whose JSON-lines stdout is collected by a reader thread."""

    def __init__(self, name: str, args: list[str]) -> None:
        self.name = name
        self.events: list[dict[str, Any]] = []
        self.progressed = threading.Event()
        self.proc = subprocess.Popen([sys.executable, "-m", "trainer", *args], cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=child_env())
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._stderr: list[str] = []
        self._err_reader = threading.Thread(target=self._read_err, daemon=True)
        self._err_reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if not line.startswith("{"):
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            event.setdefault("time", time.time())
            self.events.append(event)
            if event.get("event") == "progress":
                self.progressed.set()
        self.progressed.set()  # ended: nobody should wait on it any more

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line)

    def wait(self, timeout: float | None = None) -> int:
        rc = self.proc.wait(timeout=timeout)
        self._reader.join()
        self._err_reader.join()
        if rc != 0:
            raise RuntimeError(f"{self.name} failed ({rc}): {''.join(self._stderr[-20:])}")
        return rc

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=120)
        self._reader.join()

    def progress(self) -> list[tuple[int, float]]:
        return [(int(e["step"]), float(e["time"])) for e in self.events if e.get("event") == "progress"]

    def started(self) -> dict[str, Any]:
        return next((e for e in self.events if e.get("event") == "started"), {})


def train_args(args: argparse.Namespace, name: str, steps: int, save_frequency: int | None = None) -> list[str]:
    return ["train", "--workspace", args.workspace, "--dataset", args.dataset, "--model", args.model, "--loss",
            args.loss, "--batch-size", str(args.batch_size), "--max-steps", str(steps), "--device", "cpu",
            "--val-frequency", str(10**6), "--save-frequency", str(save_frequency or 10**6), "--store", args.store,
            "--name", name, "--events", "-"]


def rate(job: Job, batch: int, skip: int, window: tuple[float, float] | None = None) -> dict[str, float]:
    """samples/s over the job's progress events after step ``skip`` (inside ``window`` if given)."""
    points = [(s, t) for s, t in job.progress() if s > skip]
    if window is not None:
        points = [(s, t) for s, t in points if window[0] <= t <= window[1]]
    if len(points) < 2:
        return {"samples_per_s": float("nan"), "steps": 0, "seconds": 0.0}
    (s0, t0), (s1, t1) = points[0], points[-1]
    return {"samples_per_s": (s1 - s0) * batch / max(t1 - t0, 1e-9), "steps": s1 - s0, "seconds": t1 - t0}


def measure_window(job: Job, skip: int) -> tuple[float, float]:
    points = [t for s, t in job.progress() if s > skip]
    return (points[0], points[-1]) if points else (0.0, 0.0)


def base_run(args: argparse.Namespace) -> list[Path]:
    """A small run with three checkpoints (the index builds cycle through them)."""
    from engine.run.folder import RunFolder
    from engine.workspace import Workspace

    folder = RunFolder.of(Workspace.open(args.workspace, create=False), "contention-base")
    found = folder.step_checkpoints()
    if len(found) < 3:
        print("training the base run for the index builds (3 steps) ...", flush=True)
        job = Job("base", train_args(args, "contention-base", 3, save_frequency=1))
        job.wait(timeout=900)
        found = folder.step_checkpoints()
    return found[-3:]


def index_loop(args: argparse.Namespace, checkpoints: list[Path], stop: threading.Event,
               first: threading.Event, builds: list[float]) -> None:
    """``trainer index`` on the base run, again and again, until ``stop``; ``first`` once the first one is busy."""
    i = 0
    while not stop.is_set():
        ckpt = checkpoints[i % len(checkpoints)]
        i += 1
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "trainer", "index", "--run", "contention-base", "--checkpoint",
                                 str(ckpt), "--device", "cpu", "--workspace", args.workspace, "--events", "-"],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                env=child_env())
        assert proc.stdout is not None
        for line in proc.stdout:
            if '"progress"' in line:
                first.set()
            if stop.is_set():
                proc.terminate()
                break
        proc.wait(timeout=120)
        first.set()
        builds.append(time.perf_counter() - t0)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workspace", required=True, help="a workspace holding --dataset (a scratch copy)")
    p.add_argument("--dataset", default="shapes-demo")
    p.add_argument("--model", default="cf-rn-tiny-64")
    p.add_argument("--loss", default="mxm")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=40, help="steps of each measured training")
    p.add_argument("--skip", type=int, default=4, help="first steps not measured (start-up, warm-up)")
    p.add_argument("--store", default="auto", choices=("auto", "packed", "files"))
    p.add_argument("--scenarios", nargs="+", default=["index", "training"], choices=["index", "training"],
                   help="companions to measure beside (the alone baseline always runs)")
    p.add_argument("--json", default=str(ROOT / "bench" / "results" / "contention.json"), metavar="PATH")
    args = p.parse_args(argv)
    args.workspace = str(Path(args.workspace).resolve())
    return args


def add_row(results: list[dict[str, Any]], scenario: str, job: Job, measured: dict[str, float],
            alone: float | None) -> None:
    """One row of the table: the job's rate, its share of ``alone`` and the threads/workers/store it started with."""
    started = job.started()
    r = {"scenario": scenario, "job": job.name, **measured, "threads": started.get("threads"),
         "workers": started.get("workers"), "store": started.get("store")}
    r["of_alone"] = measured["samples_per_s"] / alone if alone else 1.0
    results.append(r)
    print(f"  {scenario:<18} {job.name:<12} {measured['samples_per_s']:8.1f} samples/s "
          f"({r['of_alone']:.0%} of alone; threads {r['threads']}, workers {r['workers']}, {r['store']})",
          flush=True)


def measure_alone(args: argparse.Namespace, tag: str, results: list[dict[str, Any]]) -> float:
    """The baseline, always measured in the same run: one training, nothing else of ours running. Its rate."""
    job = Job("training", train_args(args, f"contention-alone-{tag}", args.steps))
    job.wait(timeout=1800)
    measured = rate(job, args.batch_size, args.skip)
    add_row(results, "alone", job, measured, None)
    return measured["samples_per_s"]


def measure_beside_index(args: argparse.Namespace, tag: str, results: list[dict[str, Any]], alone: float) -> None:
    """A training while ``trainer index`` builds the base run's indexes again and again."""
    checkpoints = base_run(args)
    stop, first, builds = threading.Event(), threading.Event(), []
    loop = threading.Thread(target=index_loop, args=(args, checkpoints, stop, first, builds), daemon=True)
    loop.start()
    first.wait(timeout=600)
    job = Job("training", train_args(args, f"contention-index-{tag}", args.steps))
    try:
        job.wait(timeout=1800)
    finally:
        stop.set()
        loop.join(timeout=180)
    add_row(results, "beside index", job, rate(job, args.batch_size, args.skip), alone)
    results[-1]["index_builds_s"] = builds


def measure_beside_training(args: argparse.Namespace, tag: str, results: list[dict[str, Any]], alone: float) -> None:
    """Two trainings started together, measured over the window where both are past warm-up and running."""
    a = Job("training A", train_args(args, f"contention-pair-a-{tag}", args.steps))
    b = Job("training B", train_args(args, f"contention-pair-b-{tag}", args.steps))
    a.wait(timeout=1800)
    b.wait(timeout=1800)
    wa, wb = measure_window(a, args.skip), measure_window(b, args.skip)
    window = (max(wa[0], wb[0]), min(wa[1], wb[1]))
    for job in (a, b):
        add_row(results, "beside training", job, rate(job, args.batch_size, args.skip, window), alone)
    results[-1]["overlap_s"] = results[-2]["overlap_s"] = max(0.0, window[1] - window[0])


def print_table(args: argparse.Namespace, info: dict[str, Any], results: list[dict[str, Any]]) -> bool:
    """The table with a verdict per row; whether every training kept its share."""
    print()
    print(f"machine: {describe(info)}")
    print(f"{args.model} {args.loss}, batch {args.batch_size}, {args.steps} steps per training (first {args.skip} "
          f"not measured), store {args.store}; target: each keeps >= {TARGET:.0%} of its alone throughput")
    print(f"{'scenario':<18} {'job':<12} {'samples/s':>10} {'of alone':>9} {'threads':>8} {'workers':>8}  verdict")
    ok = True
    for r in results:
        verdict = "baseline" if r["scenario"] == "alone" else ("ok" if r["of_alone"] >= TARGET else "BELOW TARGET")
        ok = ok and verdict != "BELOW TARGET"
        print(f"{r['scenario']:<18} {r['job']:<12} {r['samples_per_s']:>10.1f} {r['of_alone']:>9.0%} "
              f"{r['threads']!s:>8} {r['workers']!s:>8}  {verdict}")
    return ok


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = machine("cpu")
    print(f"machine: {describe(info)}", flush=True)
    tag = f"{os.getpid()}"
    results: list[dict[str, Any]] = []
    alone_rate = measure_alone(args, tag, results)
    if "index" in args.scenarios:
        measure_beside_index(args, tag, results, alone_rate)
    if "training" in args.scenarios:
        measure_beside_training(args, tag, results, alone_rate)

    ok = print_table(args, info, results)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "contention", "machine": info, "settings": vars(args),
                               "target": TARGET, "rows": results}, indent=1))
    print(f"wrote {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
