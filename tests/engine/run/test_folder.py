"""A run's folder: the names of its files, its step checkpoints, and the doctor reading it through typed events."""

from __future__ import annotations

import sys
from pathlib import Path

from engine.doctor.runs_on_disk import read_run, run_dirs
from engine.run.folder import RunFolder
from engine.runs.files import remove_run_dir
from engine.workspace import Workspace


def test_layout_of_a_run_folder(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    folder = RunFolder.of(ws, "r1")
    assert folder == RunFolder(str(tmp_path / "runs" / "r1")) and folder.name == "r1"
    assert folder.config == tmp_path / "runs" / "r1" / "config.yaml"
    assert folder.events == tmp_path / "runs" / "r1" / "events.jsonl"
    assert folder.log == tmp_path / "runs" / "r1" / "trainer.log"
    assert folder.checkpoints == tmp_path / "runs" / "r1" / "checkpoints"
    assert folder.best == folder.checkpoints / "best.pt"
    assert folder.step_checkpoint(300) == folder.checkpoints / "step_00000300.pt"


def test_step_checkpoints_latest_and_prune(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run")
    assert folder.step_checkpoints() == [] and folder.latest_checkpoint() is None  # no checkpoints folder yet
    folder.checkpoints.mkdir(parents=True)
    for step in (2, 10, 4):
        folder.step_checkpoint(step).write_bytes(b"x")
    (folder.checkpoints / ".step_00000099.pt.tmp").write_bytes(b"half")  # a temporary file never counts
    folder.best.write_bytes(b"x")
    assert [RunFolder.step_of(p) for p in folder.step_checkpoints()] == [2, 4, 10]
    assert folder.latest_checkpoint() == folder.step_checkpoint(10)
    assert RunFolder.step_of(folder.best) is None
    folder.prune_checkpoints(0, ())
    assert len(folder.step_checkpoints()) == 3  # keep 0: nothing removed
    folder.prune_checkpoints(1, {folder.step_checkpoint(2)})
    assert folder.step_checkpoints() == [folder.step_checkpoint(2), folder.step_checkpoint(10)]
    assert folder.best.is_file()


def test_folder_is_torch_free() -> None:
    import subprocess

    code = "import sys, engine.run.folder; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_doctor_reads_a_run_through_its_typed_events(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    folder = RunFolder.of(ws, "r1")
    folder.path.mkdir(parents=True)
    folder.config.write_text("dataset: toy\nloss: clip\n")
    folder.events.write_text(
        '{"event": "started", "time": 1.0}\n'
        '{"event": "resumed"}\n'  # malformed (no step): skipped, it does not reopen the run
        '{"event": "done", "time": 2.0, "metrics": {"mean_R@1": 0.5}}\n'
        'not json\n{"event": "progr')
    RunFolder.of(ws, "no-config").path.mkdir()
    assert run_dirs(ws) == {"r1": folder.path}
    run = read_run(folder.path)
    assert (run.status, run.metrics, run.config["loss"]) == ("done", {"mean_R@1": 0.5}, "clip")
    assert run.started_at is not None and run.finished_at is not None and run.started_at < run.finished_at
    folder.events.write_text('{"event": "done", "time": 2.0}\n{"event": "started", "time": 3.0}\n')
    assert read_run(folder.path).status == "interrupted"  # a later start reopens it


def test_only_a_folder_holding_run_files_is_removed(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    other = RunFolder.of(ws, "other")
    other.path.mkdir(parents=True)
    (other.path / "notes.txt").write_text("mine")
    assert "does not look like" in remove_run_dir(other.path, "other", ws) and other.path.is_dir()
    run = RunFolder.of(ws, "run")
    run.checkpoints.mkdir(parents=True)
    assert remove_run_dir(run.path, "run", ws) == "" and not run.path.exists()
