"""Real training runs in child processes: events, checkpoints, resume after SIGKILL, SIGTERM, NaN stop."""

from __future__ import annotations

import json
import signal
import subprocess

import open_clip
import torch

import engine.models  # noqa: F401 - registers our shipped model configs with open_clip
from engine.run import checkpoint as ckpt
from engine.run.events import read_events
from engine.run.folder import RunFolder
from engine.workspace import Workspace
from tests.cli_runner import run_trainer as cli
from tests.engine.train.conftest import ROOT, child_env, run_trainer, trainer_cmd


def _state(path) -> dict:
    return ckpt.load(path)


def test_short_run_writes_events_checkpoints_and_catalogue_row(toy_workspace: Workspace) -> None:
    done = run_trainer(toy_workspace, "--loss", "mxm", "--max-steps", "4", "--save-frequency", "2",
                       "--val-frequency", "2", "--name", "short", "--events", "-")
    assert done.returncode == 0, done.stderr[-2000:]
    streamed = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    run_dir = toy_workspace.runs / "short"
    stored = read_events(run_dir / "events.jsonl")
    assert [e["event"] for e in streamed] == [e["event"] for e in stored]
    kinds = [e["event"] for e in stored]
    assert kinds[0] == "started" and kinds[-1] == "done"
    progress = [e for e in stored if e["event"] == "progress"]
    assert [e["step"] for e in progress] == [1, 2, 3, 4]
    assert {"hard", "soft"} <= set(progress[0]["parts"])
    assert all(e["samples_per_second"] > 0 and e["eta_s"] >= 0 for e in progress)
    evals = [e for e in stored if e["event"] == "eval"]
    assert [e["split"] for e in evals] == ["val", "val", "test"]
    assert "text_to_shape_RR@1" in evals[0]["metrics"]
    assert (run_dir / "config.yaml").is_file()
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("step_*.pt")) == ["step_00000002.pt",
                                                                                    "step_00000004.pt"]
    assert (run_dir / "checkpoints" / "best.pt").is_file()
    assert not list((run_dir / "checkpoints").glob("*.tmp"))
    row = toy_workspace.catalog().require_run("short")
    assert row.status == "done" and row.loss == "mxm" and "test" in row.metrics and "best_step" in row.metrics
    # the model part opens with open_clip itself
    model = open_clip.create_model("cf-vit-tiny-64", pretrained=str(run_dir / "checkpoints" / "step_00000004.pt"))
    state = _state(run_dir / "checkpoints" / "step_00000004.pt")
    assert torch.equal(model.state_dict()["logit_scale"], state["state_dict"]["logit_scale"])
    # `trainer eval` on the best checkpoint, as JSON and as a table
    evaluated = cli("eval", "--run", "short", "--split", "test", "--json", ws=toy_workspace.root)
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    report = json.loads(evaluated.stdout)
    assert report["split"] == "test" and report["checkpoint"].endswith("best.pt")
    assert 0.0 <= report["metrics"]["text_to_shape_RR@1"] <= 1.0
    assert report["metrics"]["text_to_shape_num_queries"] == 12  # 4 test items x 3 captions
    table = cli("eval", "--run", "short", ws=toy_workspace.root)
    assert "text_to_shape" in table.stdout and "NDCG@5" in table.stdout


def test_sigkill_then_resume_latest_equals_straight_run(toy_workspace: Workspace) -> None:
    straight = run_trainer(toy_workspace, "--loss", "sspc", "--loss-options", '{"queue_size": 8, "num_anchors": 4}',
                           "--max-steps", "6", "--save-frequency", "3", "--val-frequency", "100", "--name", "straight")
    assert straight.returncode == 0, straight.stderr[-2000:]

    args = ["--loss", "sspc", "--loss-options", '{"queue_size": 8, "num_anchors": 4}', "--max-steps", "6",
            "--save-frequency", "3", "--val-frequency", "100", "--name", "killed"]
    proc = subprocess.Popen(trainer_cmd(toy_workspace, *args, "--events", "-"), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=child_env())
    assert proc.stdout is not None
    for line in proc.stdout:
        event = json.loads(line) if line.startswith("{") else {}
        if event.get("event") == "checkpoint" and event["step"] == 3:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    checkpoints = toy_workspace.runs / "killed" / "checkpoints"
    assert RunFolder.of(toy_workspace, "killed").latest_checkpoint() == checkpoints / "step_00000003.pt"

    resumed = run_trainer(toy_workspace, *args, "--resume", "latest")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    events = read_events(toy_workspace.runs / "killed" / "events.jsonl")
    assert any(e["event"] == "resumed" and e["step"] == 3 for e in events)
    a = _state(toy_workspace.runs / "straight" / "checkpoints" / "step_00000006.pt")
    b = _state(checkpoints / "step_00000006.pt")
    for key, value in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][key], value, rtol=1e-5, atol=1e-6, msg=key)
    for key, value in a["loss"].items():
        torch.testing.assert_close(b["loss"][key], value, rtol=1e-5, atol=1e-6, msg=key)


def test_sigterm_finishes_step_checkpoints_and_reports_cancelled(toy_workspace: Workspace) -> None:
    proc = subprocess.Popen(trainer_cmd(toy_workspace, "--loss", "clip", "--max-steps", "10000", "--name", "cancel",
                                        "--events", "-"),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=child_env())
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        event = json.loads(line) if line.startswith("{") else {}
        seen.append(event.get("event"))
        if event.get("event") == "progress" and event["step"] == 2:
            proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 0
    assert seen[-1] == "cancelled"
    events = read_events(toy_workspace.runs / "cancel" / "events.jsonl")
    last_step = events[-1]["step"]
    assert 2 <= last_step < 10000
    assert RunFolder.of(toy_workspace, "cancel").latest_checkpoint().name == f"step_{last_step:08d}.pt"
    assert toy_workspace.catalog().require_run("cancel").status == "cancelled"


def test_nan_loss_stops_with_step_and_part(toy_workspace: Workspace) -> None:
    done = run_trainer(toy_workspace, "--loss", "mxm", "--max-steps", "50", "--lr", "1e25", "--warmup", "1",
                       "--grad-clip-norm", "0", "--name", "nan")
    assert done.returncode != 0
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("trainer: error: training diverged at step") and "loss part" in message
    events = read_events(toy_workspace.runs / "nan" / "events.jsonl")
    assert events[-1]["event"] == "failed" and "at step" in events[-1]["error"]
    assert toy_workspace.catalog().require_run("nan").status == "failed"


def test_existing_run_needs_resume(toy_workspace: Workspace) -> None:
    first = run_trainer(toy_workspace, "--loss", "clip", "--max-steps", "1", "--name", "twice")
    assert first.returncode == 0, first.stderr[-2000:]
    again = run_trainer(toy_workspace, "--loss", "clip", "--max-steps", "1", "--name", "twice")
    assert again.returncode == 2 and "--resume latest" in again.stderr
