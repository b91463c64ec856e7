"""One job protocol (:class:`app.job_interface.Job`) for the three ways the app runs work: a child ``trainer``
(:class:`~app.engine_job.EngineJob`), a detached training run (:class:`~app.detached.DetachedJob`) and a function on a
worker thread (:class:`~app.tasks.Task`). One page-level helper, that knows only the protocol, drives each of them
to ``finished``, ``failed`` and ``cancelled``.

Real child processes, real detached trainers, real threads; no mocks. No sleeps: every wait is on a signal or a
condition (qtbot.waitSignal / waitUntil), or on a ``threading.Event`` the test sets.
"""

from __future__ import annotations

import gc
import os
import signal
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import QThreadPool
from PySide6.QtWidgets import QWidget

from app.detached import LAUNCHED_PIDS, DetachedJob, process_alive
from app.engine_job import EngineJob
from app.job_interface import Job, connect_job, tracker
from app.tasks import Task, TaskContext, submit
from engine.run.folder import RunFolder
from engine.workspace import Workspace
from tests.engine.train.conftest import make_toy_workspace

LONG = 120_000  # ms: the CPU is slow and shared
DEMO = ["demo-data", "--shapes", "3", "--scenes", "4", "--views", "2", "--size", "32", "--workers", "1"]


class JobView:
    """What a page does with a job, whatever its kind: it connects progress, finished, failed and cancelled."""

    def __init__(self, job: Job) -> None:
        assert isinstance(job, Job)  # each kind satisfies the protocol
        self.job = job
        self.progress: list[tuple[int, int, str]] = []
        self.endings: list[tuple[str, Any]] = []
        connect_job(job, progress=lambda done, total, message: self.progress.append((done, total, message)),
                    finished=lambda result: self.endings.append(("finished", result)),
                    failed=lambda message: self.endings.append(("failed", message)),
                    cancelled=lambda: self.endings.append(("cancelled", None)))

    def run(self, qtbot, cancel_at_first_progress: bool = False) -> tuple[str, Any]:
        """Start the job, wait until it ends; returns how (``("finished", result)``, ...)."""
        if cancel_at_first_progress:
            self.job.progress.connect(lambda *_: self.job.cancel())
        tracker().add(self.job)  # the status bar lists any job (children and detached runs add themselves)
        self.job.start()
        assert self.job.running and self.job.title in tracker().titles()
        qtbot.waitUntil(lambda: bool(self.endings), timeout=LONG)
        assert len(self.endings) == 1 and not self.job.running
        assert self.job not in tracker().jobs()  # and forgets it when it ends, whichever way
        return self.endings[0]


@pytest.fixture()
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qtbot) -> Iterator[Workspace]:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    before = set(LAUNCHED_PIDS)
    yield make_toy_workspace(tmp_path / "toy")
    left = [pid for pid in LAUNCHED_PIDS - before if process_alive(pid)]  # none should be: kill what is
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    qtbot.waitUntil(lambda: not any(process_alive(pid) for pid in left), timeout=LONG)


def train_job(ws: Workspace, name: str, steps: int, dataset: str = "toy-shapes") -> DetachedJob:
    args = ["train", "--dataset", dataset, "--loss", "mxm", "--model", "cf-vit-tiny-64", "--max-steps", str(steps),
            "--batch-size", "4", "--views-per-item", "2", "--captions-per-item", "2", "--warmup", "1",
            "--workers", "0", "--device", "cpu", "--seed", "0", "--name", name,
            "--val-frequency", str(steps), "--save-frequency", str(steps)]
    folder = RunFolder.of(ws, name)
    return DetachedJob(args, ws.root, folder.log, folder.events, title=f"train {name}")


def counting(context: TaskContext) -> str:
    for i in range(1, 4):
        context.progress(i, 3, "counting")
    return "counted"


# ---- finished ---------------------------------------------------------------------------------------------------
def test_a_child_trainer_finishes_with_its_done_event(qtbot, tmp_path) -> None:
    job = EngineJob([*DEMO, "--events", "-"], Workspace.open(tmp_path / "ws").root, title="demo data")
    view = JobView(job)
    how, result = view.run(qtbot)
    assert how == "finished" and isinstance(result, dict) and result["event"] == "done"
    assert view.progress and all(total >= 0 and message for _done, total, message in view.progress)


def test_a_detached_training_run_finishes_with_its_done_event(qtbot, toy: Workspace) -> None:
    view = JobView(train_job(toy, "short", steps=3))
    how, result = view.run(qtbot)
    assert how == "finished" and result["event"] == "done" and result["step"] == 3
    assert view.progress and view.progress[-1][:2] == (3, 3)  # read from events.jsonl while it was followed


def test_a_task_finishes_with_its_result(qtbot) -> None:
    view = JobView(Task(counting, title="count", context=True))
    assert view.run(qtbot) == ("finished", "counted")
    assert view.progress == [(1, 3, "counting"), (2, 3, "counting"), (3, 3, "counting")]


# ---- failed -----------------------------------------------------------------------------------------------------
def test_a_child_trainer_fails_with_its_one_line_error(qtbot, tmp_path) -> None:
    bad = tmp_path / "captions.json"
    bad.write_text("not json", encoding="utf-8")
    ws = Workspace.open(tmp_path / "ws")
    job = EngineJob(["import", "coco", str(bad), "--name", "bad", "--events", "-"], ws.root, title="import")
    how, message = JobView(job).run(qtbot)
    assert how == "failed" and "captions.json" in message and "\n" not in message


def test_a_detached_training_run_fails_with_the_trainers_error(qtbot, toy: Workspace) -> None:
    how, message = JobView(train_job(toy, "nodata", steps=2, dataset="no-such-dataset")).run(qtbot)
    assert how == "failed" and "no-such-dataset" in message


def test_a_task_fails_with_the_exception(qtbot) -> None:
    how, message = JobView(Task(lambda: int("twelve"), title="parse")).run(qtbot)
    assert how == "failed" and "invalid literal" in message and "Traceback" in message


# ---- cancelled --------------------------------------------------------------------------------------------------
def test_a_child_trainer_is_cancelled(qtbot, tmp_path) -> None:
    big = ["demo-data", "--shapes", "400", "--scenes", "800", "--views", "8", "--size", "96", "--workers", "1"]
    job = EngineJob([*big, "--events", "-"], Workspace.open(tmp_path / "ws").root, title="demo data")
    view = JobView(job)
    assert view.run(qtbot, cancel_at_first_progress=True) == ("cancelled", None)
    assert view.progress and not any(e["event"] == "done" for e in job.events)  # stopped part-way
    assert job.process.state() == job.process.ProcessState.NotRunning


def test_a_detached_training_run_is_cancelled_gracefully(qtbot, toy: Workspace) -> None:
    job = train_job(toy, "long", steps=100_000)
    view = JobView(job)
    assert view.run(qtbot, cancel_at_first_progress=True) == ("cancelled", None)
    assert job.ending is not None and job.ending.cancelled and job.ending.event is not None
    assert 1 <= job.ending.event.step < 100_000  # the engine finished its step, checkpointed and exited
    assert not process_alive(job.pid)


def test_a_running_task_is_cancelled_at_its_next_check(qtbot) -> None:
    gate = threading.Event()
    after_check: list[str] = []

    def waits(context: TaskContext) -> str:
        context.progress(0, 0, "waiting")
        gate.wait(LONG / 1000)
        context.check()
        after_check.append("went on")
        return "not cancelled"

    job = Task(waits, title="wait", context=True)
    job.progress.connect(lambda *_: (job.cancel(), gate.set()))  # cancelled, then let through to its check
    assert JobView(job).run(qtbot) == ("cancelled", None)
    assert after_check == []


def test_a_task_cancelled_before_it_runs_never_runs(qtbot) -> None:
    pool = QThreadPool()
    pool.setMaxThreadCount(1)
    gate = threading.Event()
    busy = Task(lambda: gate.wait(LONG / 1000), title="busy", pool=pool)
    ran: list[str] = []
    queued = Task(lambda: ran.append("ran"), title="queued", pool=pool)
    busy_view, queued_view = JobView(busy), JobView(queued)
    busy.start()
    queued.start()
    assert queued.running
    with qtbot.waitSignal(queued.cancelled, timeout=LONG):
        queued.cancel()
        assert not queued.running and queued_view.endings == []  # never from inside cancel()
    gate.set()
    qtbot.waitUntil(lambda: bool(busy_view.endings), timeout=LONG)
    assert busy_view.endings == [("finished", True)] and queued_view.endings == [("cancelled", None)]
    assert pool.waitForDone(LONG) and ran == []  # taken off the queue: its function never ran


# ---- outliving whoever asked ------------------------------------------------------------------------------------
def test_a_task_outlives_the_closed_widget_that_asked_and_drops_its_answer(qtbot) -> None:
    """A form closed and collected while its look-up runs (the run form's crash in a long suite): the task
    keeps itself alive until it ends, and the answer meant for the deleted widget goes nowhere."""
    gate, started = threading.Event(), threading.Event()
    answers: list[str] = []

    def slow() -> str:
        started.set()
        gate.wait(LONG / 1000)
        return "listed"

    form = QWidget()
    task_ref = weakref.ref(submit(slow, lambda result: answers.append(f"{form.objectName()}{result}"),
                                  owner=form))
    assert started.wait(LONG / 1000)  # running on its worker now
    form.deleteLater()
    qtbot.waitUntil(lambda: not shiboken6.isValid(form), timeout=LONG)
    gc.collect()
    assert task_ref() is not None  # nobody holds it but itself: still alive while its worker uses it
    gate.set()
    qtbot.waitUntil(lambda: (gc.collect(), task_ref() is None)[1], timeout=LONG)  # let go once it ended
    assert answers == []  # never delivered to the deleted form
