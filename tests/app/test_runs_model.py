"""The app's runs model over the engine's run following: bad event lines are counted, not fatal; the app's
RunState adds what it knows of the processes it started."""

from __future__ import annotations

import os
from pathlib import Path

from app.runs import RunsModel, RunState
from engine.run.events import EventWriter, Progress, Started
from engine.workspace import Workspace

LONG = 60_000


def test_a_bad_line_is_skipped_and_counted_and_the_run_still_follows(qtbot, tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "w")
    run_dir = ws.runs / "r"
    run_dir.mkdir(parents=True)
    writer = EventWriter(run_dir / "events.jsonl")
    writer.emit(Started(run="r", total=4, step=0, device="CPU"))
    writer.close()
    with (run_dir / "events.jsonl").open("a") as f:
        f.write('{"event": "progress", "step": null}\nnot json\n')
    catalog = ws.catalog()
    catalog.upsert_run("r", loss="clip", config={"dataset": "d"}, status="running", pid=os.getpid(),
                       run_dir=str(run_dir))
    model = RunsModel(ws)
    qtbot.waitUntil(lambda: model.state("r") is not None and model.state("r").skipped_events == 2, timeout=LONG)
    writer = EventWriter(run_dir / "events.jsonl")
    writer.emit(Progress(step=1, total=4, loss=1.0))
    writer.close()
    qtbot.waitUntil(lambda: model.state("r").step == 1, timeout=LONG)
    assert model.state("r").display_status == "running" and model.state("r").skipped_events == 2
    model.close()


def test_the_apps_status_of_a_run_it_launched() -> None:
    assert RunState("x", job_running=True).display_status == "starting"  # no catalogue row yet
    assert RunState("x", job_error="no dataset named 'd'").display_status == "failed"
    assert RunState("x", status="running", alive=False, in_catalog=True, job_running=True).display_status == "running"
    assert RunState("x", status="running", alive=False, in_catalog=True).display_status == "interrupted"
    assert RunState("x", status="done", in_catalog=True).display_status == "done"
