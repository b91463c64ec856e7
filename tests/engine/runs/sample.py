"""A workspace with runs in every state, made through the real catalogue and the typed event writer (used by the
engine's and the CLI's tests)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from engine.run.events import Best, Done, Eval, EventWriter, Failed, Progress, RunEvent, Started
from engine.workspace import Workspace

CONFIG = {"dataset": "toy", "loss": "clip", "max_steps": 4, "batch_size": 2, "lr": 0.001, "val_split": "val"}


@dataclass
class Runs:
    ws: Workspace
    trainer: subprocess.Popen  # a live Python process standing for a running trainer
    stranger: subprocess.Popen  # a live process that is not a trainer (a recycled pid)


def write_events(ws: Workspace, name: str, events: list[RunEvent], extra: str = "") -> Path:
    run_dir = ws.runs / name
    run_dir.mkdir(parents=True, exist_ok=True)
    writer = EventWriter(run_dir / "events.jsonl")
    for event in events:
        writer.emit(event)
    writer.close()
    if extra:
        with (run_dir / "events.jsonl").open("a") as f:
            f.write(extra)
    return run_dir


def add_run(ws: Workspace, name: str, status: str, pid: int | None, events: list[RunEvent], extra: str = "",
            **fields: object) -> None:
    run_dir = write_events(ws, name, events, extra)
    catalog = ws.catalog()
    catalog.upsert_run(name, loss="clip", config={**CONFIG, "name": name}, status="running", pid=pid,
                       run_dir=str(run_dir))
    catalog.upsert_run(name, status=status, pid=pid, **fields)
    catalog.close()


def started(total: int = 4) -> Started:
    return Started(run="r", total=total, step=0, device="CPU", dataset="toy", loss="clip", model="m", items=8)


@contextmanager
def sample_runs(tmp_path: Path) -> Iterator[Runs]:
    ws = Workspace.open(tmp_path / "ws")
    trainer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    stranger = subprocess.Popen(["sleep", "600"])
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    try:
        add_run(ws, "finished", "done", None, [
            started(), Progress(step=1, total=4, loss=2.0), Progress(step=4, total=4, loss=1.0),
            Eval(step=4, split="val", metrics={"mean_R@1": 0.5, "mean_R@5": 0.75}),
            Best(step=4, path="/x/best.pt", score=0.5),
            Eval(step=4, split="test", metrics={"mean_R@1": 0.25, "mean_R@5": 0.5, "mean_NDCG@5": 0.4}),
            Done(step=4, total=4, metrics={"best_step": 4}),
        ], metrics={"best_step": 4, "best_score": 0.5})
        add_run(ws, "training", "running", trainer.pid, [started(10), Progress(step=3, total=10, loss=1.5)],
                extra='{"event": "progress", "step": "oops"}\n{"event": "warp"}\n')
        add_run(ws, "broken", "failed", None, [started(), Progress(step=2, total=4, loss=1.2),
                                               Failed(error="CUDA out of memory")])
        add_run(ws, "orphan", "running", int(dead.stdout), [started(), Progress(step=1, total=4, loss=2.0)])
        add_run(ws, "recycled", "running", stranger.pid, [started()])
        yield Runs(ws, trainer, stranger)
    finally:
        for proc in (trainer, stranger):
            proc.kill()
            proc.wait()
