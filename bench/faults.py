"""Robustness under hostile input and damage: the fault corpus, a kill-resume soak and a concurrency soak.

    .venv/bin/python bench/faults.py                 # corpus + 20 SIGKILLs + concurrency soak
    .venv/bin/python bench/faults.py --kills 5 --skip-corpus --soak-seconds 30

1. **Fault corpus** (``tests/faults/``): every hostile input (importers, renderer, checkpoints, indexes, catalogue,
   CLI arguments) and machine fault (a full or read-only disk on a tmpfs, damaged JSON values) run through the ``trainer`` CLI; table per category: inputs tried, clear errors (the expected exit
   with one line), tracebacks, good records lost, reads outside the roots, hangs.
2. **Kill-resume soak** (``--kills N``): a straight run of S steps (checkpoint every step), then the same run
   SIGKILLed N times at random points (each time after a random number of new checkpoints) and resumed with
   ``--resume latest``; every resume must continue from the checkpoint it found, and the final weights must equal
   the straight run's (max abs difference; 0.0 is exact).
3. **Concurrency soak**: app-style reads of the catalogue (dataset summaries, runs, item pages) in a loop while a
   training, an import and an index build write to the same workspace; counts reads, failures and "database is
   locked".

Prints the machine and the tables; writes JSON (``--json``, default ``bench/results/faults.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import describe, machine  # noqa: E402

TRAIN = ["--dataset", "toy-shapes", "--model", "cf-vit-tiny-64", "--batch-size", "4", "--views-per-item", "2",
         "--captions-per-item", "2", "--workers", "0", "--warmup", "2", "--lr", "1e-3", "--device", "cpu",
         "--loss", "mxm", "--val-frequency", "100000"]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
                "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)})
    return env


def trainer(ws: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "trainer", *args, "--workspace", str(ws)]


def toy_workspace(root: Path, n_items: int = 24) -> Path:
    from tests.engine.train.conftest import make_toy_workspace

    make_toy_workspace(root, n_items=n_items)
    return root


# ---- 2. kill-resume soak -------------------------------------------------------------------------------------------
def _events(path: Path) -> list[dict[str, Any]]:
    from engine.run.events import read_events

    return read_events(path)


def _run_folder(ws: Path, name: str) -> Any:  # -> RunFolder
    from engine.run.folder import RunFolder
    from engine.workspace import Workspace

    return RunFolder.of(Workspace(ws), name)


def _latest_step(run_dir: Path) -> int:
    from engine.run.folder import RunFolder

    latest = RunFolder(run_dir).latest_checkpoint()
    return (RunFolder.step_of(latest) or 0) if latest is not None else 0


def _max_difference(a: Path, b: Path) -> float:
    import torch

    sa = torch.load(a, map_location="cpu", weights_only=True)["state_dict"]
    sb = torch.load(b, map_location="cpu", weights_only=True)["state_dict"]
    if sa.keys() != sb.keys():
        return float("inf")
    return max(float((sa[k].double() - sb[k].double()).abs().max()) if sa[k].numel() else 0.0 for k in sa)


def kill_resume_soak(kills: int, seed: int, work: Path) -> dict[str, Any]:
    """A straight run against one killed ``kills`` times; returns counts and the final weights' difference."""
    rng = random.Random(seed)
    steps = kills * 2 + 6
    ws = toy_workspace(work / "soak-ws")
    common = [*TRAIN, "--max-steps", str(steps), "--save-frequency", "1", "--seed", str(seed)]
    t0 = time.perf_counter()
    straight = subprocess.run(trainer(ws, "train", *common, "--name", "straight"), cwd=ROOT, env=child_env(),
                              capture_output=True, text=True, timeout=1800)
    if straight.returncode != 0:
        raise SystemExit(f"straight run failed: {straight.stderr[-800:]}")
    killed = _run_folder(ws, "killed")
    run_dir = killed.path
    done_kills = exact_resumes = 0
    resume: list[str] = []
    while done_kills < kills:
        before = _latest_step(run_dir)
        if before >= steps - 1:
            break  # too close to the end to kill again
        target = min(steps - 1, before + rng.randint(1, 2))
        proc = subprocess.Popen(trainer(ws, "train", *common, "--name", "killed", "--events", "-", *resume), cwd=ROOT,
                                env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert proc.stdout is not None
        resumed_from = None
        for line in proc.stdout:
            event = json.loads(line) if line.startswith("{") else {}
            if event.get("event") == "resumed":
                resumed_from = int(event.get("step", -1))
            if event.get("event") == "checkpoint" and int(event.get("step", 0)) >= target:
                time.sleep(rng.random() * 0.3)  # somewhere inside the next step (a soak, not a test)
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(timeout=120)
        if proc.returncode != -signal.SIGKILL:
            break  # the run ended before the kill landed
        done_kills += 1
        if not resume or resumed_from == before:
            exact_resumes += 1
        resume = ["--resume", "latest"]
    final = subprocess.run(trainer(ws, "train", *common, "--name", "killed", *resume), cwd=ROOT, env=child_env(),
                           capture_output=True, text=True, timeout=1800)
    if final.returncode != 0:
        raise SystemExit(f"final resume failed: {final.stderr[-800:]}")
    resumed_steps = [int(e.get("step", -1)) for e in _events(killed.events) if e.get("event") == "resumed"]
    diff = _max_difference(_run_folder(ws, "straight").step_checkpoint(steps), killed.step_checkpoint(steps))
    return {"steps": steps, "kills": done_kills, "resumes": len(resumed_steps),
            "resumes_from_found_checkpoint": exact_resumes, "max_abs_weight_difference": diff,
            "exact": diff == 0.0, "seconds": round(time.perf_counter() - t0, 1)}


# ---- 3. concurrency soak -------------------------------------------------------------------------------------------
def photo_folder(work: Path) -> Path:
    """300 small photos, each with a two-caption text file: what the soak's ``trainer import folder`` reads."""
    from PIL import Image

    folder = work / "photos"
    folder.mkdir()
    for i in range(300):
        Image.new("RGB", (16, 16), (i % 255, 40, 90)).save(folder / f"p{i:04d}.png")
        (folder / f"p{i:04d}.txt").write_text(f"photo number {i}\nanother caption {i}\n")
    return folder


def start_writers(ws_root: Path, folder: Path) -> dict[str, subprocess.Popen]:
    """A run to index (trained first, 3 steps), then the three writers at once: a long training, an import of
    ``folder`` and the index build of that run."""
    pre = subprocess.run(trainer(ws_root, "train", *TRAIN, "--max-steps", "3", "--name", "for-index"), cwd=ROOT,
                         env=child_env(), capture_output=True, text=True, timeout=900)
    if pre.returncode != 0:
        raise SystemExit(f"could not train the run to index: {pre.stderr[-800:]}")
    writers = {
        "train": trainer(ws_root, "train", *TRAIN, "--max-steps", "100000", "--save-frequency", "5", "--name", "busy"),
        "import": trainer(ws_root, "import", "folder", str(folder), "--name", "photos"),
        "index": trainer(ws_root, "index", "--run", "for-index"),
    }
    return {k: subprocess.Popen(v, cwd=ROOT, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True) for k, v in writers.items()}


def read_catalog(ws: Any) -> None:
    """One round of app-style reads: every dataset's summary and first items, and the runs."""
    catalog = ws.catalog()
    try:
        for summary in catalog.summaries():
            ds = catalog.dataset(summary.name)
            if ds is not None:
                catalog.items(ds.id, limit=50)
        catalog.runs()
    finally:
        catalog.close()


def stop_writers(procs: dict[str, subprocess.Popen]) -> dict[str, Any]:
    """SIGTERM to those still running (the training), then each one's exit and what its stderr showed."""
    exits: dict[str, Any] = {}
    for name, proc in procs.items():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        stderr = proc.stderr.read() if proc.stderr else ""
        exits[name] = {"exit": proc.returncode, "stopped_by_soak": name == "train", "locked": "database is locked" in stderr,
                       "traceback": "Traceback" in stderr}
    return exits


def concurrency_soak(seconds: float, work: Path) -> dict[str, Any]:
    """App-style catalogue reads while a training, an import and an index build write the same workspace."""
    from engine.workspace import Workspace

    ws_root = toy_workspace(work / "conc-ws")
    folder = photo_folder(work)
    procs = start_writers(ws_root, folder)
    reads = failures = locked = 0
    errors: list[str] = []
    start = time.monotonic()
    ws = Workspace.open(ws_root)

    def going() -> bool:  # at least `seconds`, and until the import and the index build have finished
        elapsed = time.monotonic() - start
        writing = procs["import"].poll() is None or procs["index"].poll() is None
        return elapsed < seconds or (writing and elapsed < seconds + 600)

    while going():
        try:
            read_catalog(ws)
            reads += 1
        except Exception as exc:  # noqa: BLE001 - counted, the soak goes on
            failures += 1
            locked += "locked" in str(exc)
            if len(errors) < 5:
                errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    exits = stop_writers(procs)
    return {"seconds": round(time.monotonic() - start, 1), "reads": reads, "failed_reads": failures, "database_locked": locked,
            "errors": errors, "writers": exits}


# ---- 1. the corpus -------------------------------------------------------------------------------------------------
def corpus(work: Path) -> list[dict[str, Any]]:
    from tests.faults.corpus_machine import SKIPPED
    from tests.faults.runner import run_corpus, summarise

    outcomes = run_corpus(work / "corpus")
    for why in SKIPPED:  # the full and read-only disk cases need a tmpfs
        print(f"machine (disk) cases skipped: {why}")
    return summarise(outcomes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--soak-seconds", type=float, default=60.0)
    parser.add_argument("--skip-corpus", action="store_true")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "faults.json")
    args = parser.parse_args()
    info = machine()
    print(describe(info))
    result: dict[str, Any] = {"machine": info}
    with tempfile.TemporaryDirectory(prefix="cf-faults-") as tmp:
        work = Path(tmp)
        if not args.skip_corpus:
            rows = corpus(work)
            result["corpus"] = rows
            print("\nFault corpus")
            print(f"{'category':<16} {'inputs':>6} {'clear errors':>12} {'tracebacks':>10} {'good lost':>9} "
                  f"{'outside reads':>13} {'hangs':>5}")
            for r in rows:
                print(f"{r['category']:<16} {r['inputs']:>6} {r['clear']:>12} {r['tracebacks']:>10} "
                      f"{r['good_lost']:>9} {r['outside_reads']:>13} {r['hangs']:>5}")
        if args.kills > 0:
            soak = kill_resume_soak(args.kills, args.seed, work)
            result["kill_resume"] = soak
            print(f"\nKill-resume soak: {soak['kills']} SIGKILLs over {soak['steps']} steps, {soak['resumes']} resumes "
                  f"({soak['resumes_from_found_checkpoint']}/{soak['kills']} from the checkpoint on disk), final "
                  f"weights max |diff| {soak['max_abs_weight_difference']:.3g} vs a straight run "
                  f"({'exact' if soak['exact'] else 'NOT exact'}), {soak['seconds']} s")
        if args.soak_seconds > 0:
            conc = concurrency_soak(args.soak_seconds, work)
            result["concurrency"] = conc
            print(f"\nConcurrency soak ({conc['seconds']:.0f} s): {conc['reads']} catalogue reads, "
                  f"{conc['failed_reads']} failed, {conc['database_locked']} 'database is locked'; writers: "
                  + ", ".join(f"{k} exit {v['exit']}{' LOCKED' if v['locked'] else ''}"
                              f"{' TRACEBACK' if v['traceback'] else ''}" for k, v in conc["writers"].items()))
            for e in conc["errors"]:
                print(f"  {e}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, default=str))
    print(f"\nJSON: {args.json}")


if __name__ == "__main__":
    main()
