"""``--deterministic``: the same command gives the same weights whatever else runs in the workspace, and a resumed
run equals an uninterrupted one; ``--report-to tensorboard`` writes event files TensorBoard's own reader loads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

import engine.train.loop as loop
from engine.run import checkpoint as ckpt
from engine.run import events as ev
from engine.run.config import load_config_file, resolve_config
from engine.run.events import read_events
from engine.threads import live_jobs, write_job
from engine.workspace import Workspace
from tests.engine.train.conftest import make_toy_workspace, run_trainer

ARGS = ("--loss", "mxm", "--max-steps", "4", "--save-frequency", "2", "--val-frequency", "2", "--deterministic")


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """Run ``a``: 4 deterministic steps, validated every 2, reported to TensorBoard, alone in its workspace."""
    ws = make_toy_workspace(tmp_path_factory.mktemp("deterministic") / "ws")
    done = run_trainer(ws, *ARGS, "--report-to", "tensorboard", "--name", "a")
    assert done.returncode == 0, done.stderr[-2000:]
    return ws


def _weights(ws: Workspace, run: str, step: int = 4) -> dict[str, torch.Tensor]:
    state = ckpt.load(ws.runs / run / "checkpoints" / f"step_{step:08d}.pt")
    return {**{f"clip.{k}": v for k, v in state["state_dict"].items()},
            **{f"pool.{k}": v for k, v in state["pool"].items()}, **{f"loss.{k}": v for k, v in state["loss"].items()}}


def _assert_identical(ws: Workspace, run: str) -> None:
    a, b = _weights(ws, "a"), _weights(ws, run)
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{run} differs from a in {different[:5]}"


def _started(ws: Workspace, run: str) -> dict:
    return next(e for e in read_events(ws.runs / run / "events.jsonl") if e["event"] == "started")


def test_deterministic_runs_are_identical_while_another_job_takes_cores(
        straight: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = straight
    monkeypatch.setattr(loop, "THREADS_RECHECK_S", -1.0)  # a run that followed the share would re-read it every step
    script = tmp_path / "trainer"  # another engine job: a live `trainer` process registered in the workspace
    script.write_text("import sys\nsys.stdin.read()\n")
    other = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE)
    try:
        write_job(ws.jobs, "index", pid=other.pid)
        assert [j.pid for j in live_jobs(ws.jobs)] == [other.pid]
        done = run_trainer(ws, *ARGS, "--name", "b")
        assert done.returncode == 0, done.stderr[-2000:]
    finally:
        assert other.stdin is not None
        other.stdin.close()
        other.wait(timeout=60)
    _assert_identical(ws, "b")
    a, b = _started(ws, "a"), _started(ws, "b")
    assert a["deterministic"] and b["deterministic"] and a["threads"] == b["threads"] >= 1
    assert a["torch_version"] == torch.__version__ and a["device"] == "CPU" and not a["repeatability"]
    saved = yaml.safe_load((ws.runs / "a" / "config.yaml").read_text())
    assert saved["deterministic"] is True and saved["threads"] == a["threads"]
    # without the flag, the started event (and the CLI) say the share may change the last bits
    loose = run_trainer(ws, "--loss", "mxm", "--max-steps", "1", "--val-frequency", "100", "--name", "loose")
    assert loose.returncode == 0, loose.stderr[-2000:]
    assert "share of the cores" in _started(ws, "loose")["repeatability"]
    assert "note: torch's threads follow this job's share" in loose.stdout


def test_resumed_deterministic_run_equals_an_uninterrupted_one(straight: Workspace) -> None:
    ws = straight
    # run a's own saved config, as a config file, under another name: the same command
    config = resolve_config(load_config_file(ws.runs / "a" / "config.yaml"), {"name": "c", "report_to": "none"})

    def stop_after_first_checkpoint(event: ev.RunEvent) -> None:
        if isinstance(event, ev.Checkpoint) and event.step == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # as the app's Cancel: finish the step, checkpoint, stop

    first = loop.train(config, ws, on_event=stop_after_first_checkpoint)
    assert (first.status, first.step) == ("cancelled", 2)
    config = resolve_config(load_config_file(ws.runs / "a" / "config.yaml"),
                            {"name": "c", "report_to": "none", "resume": "latest"})
    second = loop.train(config, ws)
    assert (second.status, second.step) == ("done", 4)
    _assert_identical(ws, "c")


def test_report_to_tensorboard_writes_what_tensorboard_reads(straight: Workspace) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    folder = ws_folder = straight.runs / "a" / "tensorboard"
    assert list(ws_folder.glob("events.out.tfevents.*"))
    board = EventAccumulator(str(folder))
    board.Reload()
    tags = set(board.Tags()["scalars"])
    assert {"train/loss", "train/hard_loss", "train/soft_loss", "train/lr", "train/scale",
            "train/samples_per_second", "val/mean_R@1", "val/text_to_shape_R@1", "test/mean_R@1"} <= tags

    def steps(tag: str) -> list[int]:
        return [s.step for s in board.Scalars(tag)]

    assert steps("train/loss") == [1, 2, 3, 4] and steps("val/mean_R@1") == [2, 4] and steps("test/mean_R@1") == [4]
    evals = [e for e in read_events(straight.runs / "a" / "events.jsonl") if e["event"] == "eval"]
    assert [s.value for s in board.Scalars("val/mean_R@1")] == pytest.approx(
        [e["metrics"]["mean_R@1"] for e in evals if e["split"] == "val"])
