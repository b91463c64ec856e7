"""The Training page with the real engine: launch from the form, follow, cancel, resume, reattach, outlive the app,
validate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import Qt

from app.detached import LAUNCHED_PIDS, process_alive
from app.engine_job import ENGINE_NICENESS
from app.job_interface import tracker
from app.pages.training import TrainingPage
from app.runs import RunsModel, RunState
from app.training_jobs import training_jobs
from app.widgets.config_diff import ConfigDiff, config_differences
from app.widgets.line_chart import LineChart, Marker, nice_ticks
from engine.run.flags import config_to_flags
from engine.workspace import Workspace
from tests.engine.train.conftest import make_toy_workspace

LONG = 120_000  # ms: the CPU is slow and shared


def is_trainer(pid: int) -> bool:
    """``pid`` is a live trainer (not a process that got a recycled pid)."""
    try:
        return process_alive(pid) and b"trainer" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def kill_trainers(qtbot, pids: Iterable[int]) -> None:
    """SIGKILL detached trainers (they are not children of the tests: by pid) and wait until they are gone."""
    left = [pid for pid in pids if is_trainer(pid)]
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    qtbot.waitUntil(lambda: not any(process_alive(pid) for pid in left), timeout=LONG)


@pytest.fixture()
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qtbot) -> Workspace:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    ws = make_toy_workspace(tmp_path / "ws")
    before = set(LAUNCHED_PIDS)
    yield ws
    jobs = training_jobs()
    starting = [j for j in jobs.jobs() if j.running and j.pid is None]
    qtbot.waitUntil(lambda: all(j.pid is not None or not j.running for j in starting), timeout=LONG)
    kill_trainers(qtbot, LAUNCHED_PIDS - before)  # the detached runs outlive the pages: none outlives the test


def fill_form(page: TrainingPage, qtbot, name: str, steps: int, loss: str = "mxm") -> None:
    form = page.form
    qtbot.waitUntil(lambda: form.dataset.count() > 0, timeout=LONG)
    form.dataset.setCurrentText("toy-shapes")
    form.loss.setCurrentText(loss)
    form.model.setCurrentText("cf-vit-tiny-64")
    form.length_unit.setCurrentText("steps")
    form.length.setValue(steps)
    form.batch.setValue(4)
    form.views.setValue(2)
    form.captions.setValue(2)
    form.lr.setText("1e-3")
    form.device.setCurrentText("cpu")
    form.seed.setValue(0)
    form.name.setText(name)
    form.val_every.setValue(3)
    form.save_every.setValue(3)
    form.workers.setValue(0)
    form.warmup.setValue(2)


def launch(page: TrainingPage, qtbot) -> None:
    with qtbot.waitSignal(page.launched, timeout=LONG):
        qtbot.mouseClick(page.form.launch_button, Qt.MouseButton.LeftButton)


def status(page: TrainingPage, name: str) -> str:
    state = page.runs.state(name)
    return state.display_status if state is not None else ""


def table_text(page: TrainingPage, name: str, column: str) -> str:
    from engine.runs.columns import COLUMNS

    model = page.table_model
    row = model.row_of(name)
    return model.index(row, COLUMNS.index(column)).data() if row >= 0 else ""


# ---- real training, launched from the form -------------------------------------------------------------------------
def test_short_run_from_the_form_streams_points_and_finishes(qtbot, toy: Workspace) -> None:
    page = TrainingPage(toy)
    qtbot.addWidget(page)
    page.resize(1200, 800)
    page.show()
    fill_form(page, qtbot, "short", steps=6)
    launch(page, qtbot)
    qtbot.waitUntil(lambda: page.selected_names() == ["short"], timeout=LONG)
    # points arrive while it trains, and the chart grows with them
    qtbot.waitUntil(lambda: page.loss_chart.point_count("short/loss") >= 1, timeout=LONG)
    first = page.loss_chart.point_count("short/loss")
    qtbot.waitUntil(lambda: page.loss_chart.point_count("short/loss") > first, timeout=LONG)
    assert page.loss_chart.point_count("short/part:hard") >= 1  # mxm's parts are drawn too
    qtbot.waitUntil(lambda: status(page, "short") == "done", timeout=LONG)
    qtbot.waitUntil(lambda: table_text(page, "short", "Status") == "done", timeout=LONG)
    assert page.loss_chart.point_count("short/loss") == 6
    assert table_text(page, "short", "Progress") == "6/6"
    # the best checkpoint is marked in the table and in the charts
    state = page.runs.state("short")
    assert state.best[0] in (3, 6)
    assert table_text(page, "short", "Best").startswith("★")
    assert page.eval_chart.point_count() > 0
    # the ★ on the validation curve that picked it, not on the loss (which does not pick it)
    assert [m.x for m in page.eval_chart.markers] == [state.best[0]] and page.loss_chart.markers == []
    assert "%" in table_text(page, "short", "Test R@1")
    assert "done at step 6" in page.log_view.toPlainText()
    # the evaluation table, and from it the failure browser
    page.tabs.setCurrentIndex(1)
    page.eval_split.setCurrentText("test")
    assert page.eval_table.rowCount() >= 2
    browser = page.open_failures(direction="text_to_shape", split="test", k=1)
    assert browser is not None
    with qtbot.waitSignal(browser.loaded, timeout=LONG) as blocker:
        pass
    n = blocker.args[0]
    assert n == browser.failure_list.count() == len(browser.report.failures)
    assert browser.report.num_queries == 12  # 4 test items x 3 captions
    if n:
        assert browser.results.rowCount() == 1  # the top-1 result of the first failure
        assert "rank" in browser.answer_text.text()


def test_cancel_is_graceful_and_resume_continues(qtbot, toy: Workspace) -> None:
    page = TrainingPage(toy)
    qtbot.addWidget(page)
    page.show()
    fill_form(page, qtbot, "long", steps=100_000)
    launch(page, qtbot)
    qtbot.waitUntil(lambda: (page.runs.state("long") or RunState("x")).step >= 1, timeout=LONG)
    page.select("long")
    assert page.cancel_button.isEnabled()
    qtbot.mouseClick(page.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: status(page, "long") == "cancelled", timeout=LONG)
    stopped = page.runs.state("long").step
    assert (toy.runs / "long" / "checkpoints" / f"step_{stopped:08d}.pt").is_file()
    assert "cancelled at step" in page.log_view.toPlainText()
    # resume: the same run, from its latest checkpoint, with its saved flags
    qtbot.waitUntil(page.resume_button.isEnabled, timeout=LONG)
    qtbot.mouseClick(page.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "resumed from step" in "\n".join(page.runs.state("long").log), timeout=LONG)
    qtbot.waitUntil(lambda: page.runs.state("long").step > stopped, timeout=LONG)
    page.runs.cancel("long")
    qtbot.waitUntil(lambda: status(page, "long") == "cancelled", timeout=LONG)


def test_page_reattaches_to_a_run_after_it_is_recreated(qtbot, toy: Workspace) -> None:
    page = TrainingPage(toy)
    page.show()
    fill_form(page, qtbot, "followed", steps=30)
    page.form.val_every.setValue(10)
    launch(page, qtbot)
    qtbot.waitUntil(lambda: (page.runs.state("followed") or RunState("x")).step >= 1, timeout=LONG)
    page.deleteLater()  # as when the window closes: the engine process goes on, it belongs to the application
    qtbot.waitUntil(lambda: not shiboken6.isValid(page), timeout=LONG)

    again = TrainingPage(toy)
    qtbot.addWidget(again)
    again.show()
    qtbot.waitUntil(lambda: status(again, "followed") in ("running", "done"), timeout=LONG)
    qtbot.waitUntil(lambda: again.selected_names() == ["followed"], timeout=LONG)  # the live run is selected
    seen = again.loss_chart.point_count("followed/loss")
    assert seen >= 1
    if status(again, "followed") == "running":
        assert table_text(again, "followed", "Status") == "running"
        qtbot.waitUntil(lambda: again.loss_chart.point_count("followed/loss") > seen, timeout=LONG)
    qtbot.waitUntil(lambda: status(again, "followed") == "done", timeout=LONG)
    assert again.loss_chart.point_count("followed/loss") == 30
    assert [p[0] for p in again.runs.state("followed").loss_points] == list(range(1, 31))


def test_a_run_launched_from_the_app_outlives_it_and_is_followed_again(qtbot, toy: Workspace) -> None:
    page = TrainingPage(toy)
    page.show()
    fill_form(page, qtbot, "outlives", steps=60)
    page.form.val_every.setValue(30)
    page.form.save_every.setValue(30)
    launch(page, qtbot)
    jobs = page.runs.jobs
    qtbot.waitUntil(lambda: (page.runs.state("outlives") or RunState("x")).step >= 1, timeout=LONG)
    job = jobs.job(toy, "outlives")
    pid = job.pid
    assert pid and status(page, "outlives") == "running"
    assert page.runs.state("outlives").pid == pid  # the catalogue's pid is the one started: the trainer itself
    assert "train outlives" in tracker().titles()  # the status bar lists it
    with open(f"/proc/{pid}/stat") as f:
        assert int(f.read().rsplit(")", 1)[1].split()[1]) != os.getpid()  # not a child of the app
    assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, os.nice(0) + ENGINE_NICENESS)  # below the GUI
    # the app quits: at aboutToQuit the jobs are only released (nothing waits); the page, its model and the
    # application's TrainingJobs go
    jobs.release()
    assert "train outlives" not in tracker().titles()
    page.deleteLater()
    jobs.deleteLater()
    qtbot.waitUntil(lambda: not shiboken6.isValid(page) and not shiboken6.isValid(jobs), timeout=LONG)
    assert is_trainer(pid)  # still training
    events = toy.runs / "outlives" / "events.jsonl"
    size = events.stat().st_size
    qtbot.waitUntil(lambda: events.stat().st_size > size, timeout=LONG)  # and still writing its events

    # the app is opened again: the run is shown and followed live from the catalogue and its files
    again = TrainingPage(toy)
    qtbot.addWidget(again)
    again.show()
    assert again.runs.jobs is not jobs and again.runs.jobs.names(toy) == []  # a new session knows no job
    qtbot.waitUntil(lambda: status(again, "outlives") in ("running", "done"), timeout=LONG)
    qtbot.waitUntil(lambda: again.selected_names() == ["outlives"], timeout=LONG)
    seen = again.loss_chart.point_count("outlives/loss")
    if status(again, "outlives") == "running":
        qtbot.waitUntil(lambda: again.loss_chart.point_count("outlives/loss") > seen, timeout=LONG)
    qtbot.waitUntil(lambda: status(again, "outlives") == "done", timeout=LONG)
    qtbot.waitUntil(lambda: table_text(again, "outlives", "Status") == "done", timeout=LONG)
    assert [p[0] for p in again.runs.state("outlives").loss_points] == list(range(1, 61))
    assert again.loss_chart.point_count("outlives/loss") == 60
    qtbot.waitUntil(lambda: not process_alive(pid), timeout=LONG)
    # its output went to the run's trainer.log, which the page shows with the events
    log = (toy.runs / "outlives" / "trainer.log").read_text()
    assert log.startswith("$ trainer train ") and f"[pid {pid}," in log and "run outlives: done at step 60" in log
    qtbot.waitUntil(lambda: "run outlives: done at step 60" in "\n".join(again.runs.state("outlives").log),
                    timeout=LONG)
    assert "$ trainer train " in again.log_view.toPlainText() and "done at step 60" in again.log_view.toPlainText()


def test_a_run_that_fails_to_start_reports_the_trainers_error(qtbot, toy: Workspace) -> None:
    model = RunsModel(toy)
    with qtbot.waitSignal(model.jobFinished, timeout=LONG) as blocker:
        model.launch("nodata", ["train", "--dataset", "no-such-dataset", "--loss", "mxm", "--model", "cf-vit-tiny-64",
                                "--max-steps", "2", "--device", "cpu", "--name", "nodata", "--events", "-"])
        assert model.jobs.job(toy, "nodata").running
    name, code, error = blocker.args
    assert name == "nodata" and code != 0 and "no-such-dataset" in error
    qtbot.waitUntil(lambda: status_of(model, "nodata") == "failed", timeout=LONG)
    assert model.state("nodata").job_error == error
    assert "trainer stopped with an error" in "\n".join(model.state("nodata").log)
    qtbot.waitUntil(lambda: any("trainer: error:" in line for line in model.state("nodata").log), timeout=LONG)
    model.close()


def status_of(model: RunsModel, name: str) -> str:
    state = model.state(name)
    return state.display_status if state is not None else ""


def test_form_rejects_bad_input_with_a_visible_message(qtbot, tmp_path: Path, toy: Workspace) -> None:
    empty = TrainingPage(Workspace.open(tmp_path / "empty"))
    qtbot.addWidget(empty)
    empty.show()
    with qtbot.waitSignal(empty.form.loaded, timeout=LONG):
        pass
    # issue 14 changed this: with no dataset, "Launch training" is disabled and the form says why
    assert not empty.form.launch_button.isEnabled()
    assert "No datasets yet" in empty.form.dataset_info.text()
    assert any("no dataset" in m.lower() for m in empty.form.local_errors(empty.form.values()))

    page = TrainingPage(toy)
    qtbot.addWidget(page)
    page.show()
    fill_form(page, qtbot, "ok-name", steps=6)
    page.form.batch.setValue(100)
    page.form.lr.setText("fast")
    page.form.name.setText("bad name/")
    with qtbot.waitSignal(page.form.validated, timeout=LONG) as blocker:
        qtbot.mouseClick(page.form.launch_button, Qt.MouseButton.LeftButton)
    messages = blocker.args[0]
    assert any("larger than the 16 train items" in m for m in messages)
    assert any("not a number" in m for m in messages)
    assert any("letters, digits" in m for m in messages)
    assert page.form.message.isVisible() and "16 train items" in page.form.message.text()
    # each message is marked on its field, beside it
    lr_error = page.form.field_errors["lr"]
    assert lr_error.isVisible() and "not a number" in lr_error.text() and page.form.lr.property("error")
    assert page.form.field_errors["batch"].isVisible() and "16 train items" in page.form.field_errors["batch"].text()
    assert page.form.field_errors["name"].isVisible() and not page.form.field_errors["dataset"].isVisible()
    assert not page.form.dataset.property("error")
    assert page.runs.names() == []

    # a name already in the catalogue is caught by the worker's check (the form's own list is not told)
    toy.catalog().upsert_run("taken", loss="mxm", status="done", config={"dataset": "toy-shapes"})
    page.form.batch.setValue(4)
    page.form.lr.setText("1e-3")
    page.form.name.setText("taken")
    with qtbot.waitSignal(page.form.validated, timeout=LONG) as blocker:
        qtbot.mouseClick(page.form.launch_button, Qt.MouseButton.LeftButton)
    assert any("already exists" in m for m in blocker.args[0])
    assert page.form.launch_button.isEnabled()


# ---- following runs from the catalogue and events.jsonl alone (no trainer) ------------------------------------------
def _event(kind: str, **fields) -> str:
    return json.dumps({"event": kind, "time": 0.0, **fields}) + "\n"


def test_runs_started_elsewhere_are_followed_by_tailing_their_events(qtbot, tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "w")
    run_dir = ws.runs / "cli"
    run_dir.mkdir(parents=True)
    events = run_dir / "events.jsonl"
    config = {"dataset": "d", "loss": "clip", "max_steps": 4, "batch_size": 2, "lr": 0.001, "name": "cli"}
    catalog = ws.catalog()
    # a process that is alive (this test's python): the run looks like it was started from a terminal
    catalog.upsert_run("cli", loss="clip", config=config, status="running", pid=os.getpid(), run_dir=str(run_dir))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    catalog.upsert_run("gone", loss="clip", config=config, status="running", pid=int(dead.stdout),
                       run_dir=str(ws.runs / "gone"))
    events.write_text(_event("started", run="cli", total=4, step=0, device="CPU")
                      + _event("progress", step=1, total=4, loss=2.0, parts={"a": 1.0}, eta_s=3.0,
                               samples_per_second=10.0))
    page = TrainingPage(ws)
    qtbot.addWidget(page)
    page.show()
    qtbot.waitUntil(lambda: page.runs.state("cli") is not None and page.runs.state("cli").step == 1, timeout=LONG)
    assert status(page, "cli") == "running"
    assert status(page, "gone") == "interrupted"
    page.select("cli")
    assert page.loss_chart.point_count("cli/loss") == 1
    with events.open("a") as f:  # one complete line and half of the next
        f.write(_event("progress", step=2, total=4, loss=1.5, parts={"a": 0.7}))
        f.write(_event("progress", step=3, total=4, loss=1.2)[:20])
    qtbot.waitUntil(lambda: page.loss_chart.point_count("cli/loss") == 2, timeout=LONG)
    offset = page.runs.state("cli").tail.offset
    assert offset == len(events.read_bytes()) - 20  # the half line waits for its end
    with events.open("a") as f:
        f.write(_event("progress", step=3, total=4, loss=1.2)[20:])
        f.write(_event("eval", step=3, split="val", metrics={"text_to_image_R@1": 0.5, "mean_R@1": 0.5}))
        f.write(_event("best", step=3, path=str(run_dir / "checkpoints" / "best.pt"), score=0.5))
    qtbot.waitUntil(lambda: page.loss_chart.point_count("cli/loss") == 3, timeout=LONG)
    qtbot.waitUntil(lambda: page.eval_chart.markers != [], timeout=LONG)
    assert table_text(page, "cli", "Best") == "★ 50.0% @3"
    with events.open("a") as f:
        f.write(_event("progress", step=4, total=4, loss=1.0) + _event("done", step=4, total=4, metrics={}))
    catalog.upsert_run("cli", status="done", pid=None, metrics={"best_step": 3, "best_score": 0.5})
    qtbot.waitUntil(lambda: status(page, "cli") == "done", timeout=LONG)
    assert page.loss_chart.point_count("cli/loss") == 4
    # nothing new: scans do not repaint the charts
    qtbot.waitUntil(lambda: page.runs.state("cli").metrics.get("best_step") == 3, timeout=LONG)
    with qtbot.waitSignal(page.runs.refreshed, timeout=LONG):
        page.runs.refresh()
    qtbot.wait(100)  # the labels that changed with the status have been laid out
    page.loss_chart.repaint()
    repaints = page.loss_chart.repaints, page.eval_chart.repaints
    for _ in range(2):
        with qtbot.waitSignal(page.runs.refreshed, timeout=LONG):
            page.runs.refresh()
    qtbot.wait(50)
    assert (page.loss_chart.repaints, page.eval_chart.repaints) == repaints
    # several runs: overlay and comparison
    page.select(["cli", "gone"])
    assert set(page.loss_chart.series_keys()) == {"cli/loss", "gone/loss"}
    assert page.compare_table.columnCount() == 2
    assert page.resume_button.isEnabled() is False  # resume needs one run
    page.select("gone")
    assert page.resume_button.isEnabled()  # an interrupted run can be resumed
    # cancel a run this app did not start: SIGTERM to the pid the catalogue holds
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    catalog.upsert_run("sleeper", loss="clip", config=config, status="running", pid=sleeper.pid,
                       run_dir=str(ws.runs / "sleeper"))
    page.runs.refresh()
    qtbot.waitUntil(lambda: status(page, "sleeper") == "running", timeout=LONG)
    page.select("sleeper")
    assert page.cancel_button.isEnabled() and not page.delete_button.isEnabled()
    qtbot.mouseClick(page.cancel_button, Qt.MouseButton.LeftButton)
    assert sleeper.wait(timeout=60) == -15
    qtbot.waitUntil(lambda: status(page, "sleeper") == "interrupted", timeout=LONG)  # no engine wrote "cancelled"
    # delete: the row goes, the folder stays unless asked
    page.select("cli")
    page.confirm_delete = lambda names: (True, False)
    qtbot.mouseClick(page.delete_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.runs.state("cli") is None, timeout=LONG)
    assert run_dir.is_dir() and ws.catalog().run("cli") is None
    page.select("gone")
    (ws.runs / "gone").mkdir()
    (ws.runs / "gone" / "config.yaml").write_text("name: gone\n")
    page.confirm_delete = lambda names: (True, True)
    qtbot.mouseClick(page.delete_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.runs.state("gone") is None, timeout=LONG)
    assert not (ws.runs / "gone").exists()


def test_how_a_detached_run_ended_comes_from_its_events_and_log(tmp_path: Path) -> None:
    from app.detached import run_ending

    events, log = tmp_path / "events.jsonl", tmp_path / "trainer.log"
    events.write_text(json.dumps({"event": "cancelled", "time": 100.0}) + "\n")
    log.write_text("$ trainer train --name x  [pid 1, then]\ntrainer: error: old trouble\n"
                   "$ trainer train --name x --resume latest  [pid 2, now]\n")
    assert run_ending(events, log, since=99.0).code == 0  # cancelled since the launch
    ending = run_ending(events, log, since=200.0)  # nothing since: killed before it wrote anything
    assert ending.code == 1 and "killed" in ending.error  # (the error of an earlier attempt is not reported)
    with log.open("a") as f:
        f.write("Traceback (most recent call last):\n  ...\nKeyError: 'x'\n")
    assert run_ending(events, log, since=200.0).error == "KeyError: 'x'"
    with log.open("a") as f:
        f.write("trainer: error: no dataset named 'd'\n")
    assert run_ending(events, log, since=200.0).error == "no dataset named 'd'"
    with events.open("a") as f:
        f.write(json.dumps({"event": "failed", "time": 300.0, "error": "CUDA out of memory"}) + "\n")
    assert (run_ending(events, log, since=200.0).code, run_ending(events, log, since=200.0).error) == (
        1, "CUDA out of memory")
    with events.open("a") as f:
        f.write(json.dumps({"event": "done", "time": 400.0}) + "\n")
    assert run_ending(events, log, since=200.0).code == 0


def test_logged_exec_keeps_the_pid_and_appends_the_output(tmp_path: Path) -> None:
    log = tmp_path / "new" / "out.log"
    cmd = [sys.executable, "-m", "app.logged_exec", str(log), "--env", "CF_X=1", "--header", "hello", "--",
           "/bin/sh", "-c", "echo pid=$$ x=$CF_X; echo oops >&2; read line || echo no-stdin"]
    root = Path(__file__).resolve().parents[2]
    for _ in range(2):
        proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and proc.stdout == proc.stderr == ""
    lines = log.read_text().splitlines()
    assert len(lines) == 8 and lines[0].startswith("$ hello  [pid ") and lines[4].startswith("$ hello  [pid ")
    pid = lines[0].split("[pid ")[1].split(",")[0]
    assert lines[1:4] == [f"pid={pid} x=1", "oops", "no-stdin"]  # the same process: exec, not a child
    bad = subprocess.run([sys.executable, "-m", "app.logged_exec", str(log)], cwd=root, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "usage" in bad.stderr


def test_resume_flags_come_from_the_saved_config() -> None:
    flags = config_to_flags({"dataset": "d", "loss": "sspc", "max_steps": 10, "epochs": None, "lr": 0.001,
                             "torchcompile": False, "gather_with_grad": True, "name": "x", "resume": None,
                             "val_split": "val", "loss_options": {"queue_size": 8}})
    assert flags == ["--dataset", "d", "--loss", "sspc", "--max-steps", "10", "--lr", "0.001", "--gather-with-grad",
                     "--loss-options", '{"queue_size": 8}']


def test_chart_and_config_diff_widgets(qtbot) -> None:
    chart = LineChart("loss")
    qtbot.addWidget(chart)
    chart.resize(400, 250)
    chart.set_series("a", [1, 2], [3.0, 2.0])
    chart.append("a", [3], [1.5])
    chart.set_series("b", list(range(5000)), [float(i % 7) for i in range(5000)])
    chart.set_markers([Marker(2, 2.0)])
    assert chart.point_count("a") == 3 and chart.point_count() == 5003
    assert not chart.grab().isNull()
    ticks = nice_ticks(0, 1, 5)
    assert len(ticks) == 6 and ticks[0] == 0 and abs(ticks[-1] - 1) < 1e-9
    rows = config_differences([{"lr": 0.001, "loss": "mxm", "name": "a"}, {"lr": 0.002, "loss": "mxm", "name": "b"}])
    assert rows == [("lr", ["0.001", "0.002"], True)]
    diff = ConfigDiff()
    qtbot.addWidget(diff)
    diff.set_runs([("a", {"lr": 0.001, "loss": "mxm"}), ("b", {"lr": 0.002, "loss": "mxm"})])
    assert diff.table.rowCount() == 1 and diff.table.item(0, 0).text() == "lr"
    diff.show_all.setChecked(True)
    assert diff.table.rowCount() == 2


def test_runs_model_can_be_closed(qtbot, tmp_path: Path) -> None:
    model = RunsModel(Workspace.open(tmp_path / "w"))
    with qtbot.waitSignal(model.refreshed, timeout=LONG):
        pass
    model.close()
    model.refresh()  # a closed model does nothing
    assert model.names() == []
