"""The runs of a workspace as a Qt model, observing the engine's run following (:mod:`engine.runs`).

* :class:`RunsModel` (one per page) runs :func:`engine.runs.scan.scan_runs` on its own one-thread pool, never on
  the GUI thread, and applies the result to its :class:`~engine.runs.book.RunBook` on the GUI thread. A run whose
  row says ``running`` and whose pid is a live process is followed by tailing its files; no child process is
  needed, so runs started from a terminal, or by an earlier app session, are shown and followed the same way.
  A ``running`` row whose process is gone is shown as ``interrupted`` (it can be resumed). It launches, cancels
  and resumes runs through the application's :class:`~app.training_jobs.TrainingJobs` (detached processes that
  outlive the app), and its :class:`RunState` adds what the app knows of those processes.
* The table of runs is :class:`app.runs_table.RunsTableModel`.
* ``resume_args`` (from :mod:`engine.run.flags`): the ``trainer train`` flags that resume a saved run.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QFileSystemWatcher,
    QObject,
    QThreadPool,
    QTimer,
    Signal,
)

from app.tasks import submit
from app.training_jobs import TrainingJobs, training_jobs
from engine.run.flags import resume_args
from engine.run.folder import RunFolder
from engine.runs import state as engine_state
from engine.runs.book import RunBook
from engine.runs.files import remove_run_dir
from engine.runs.scan import ScanResult, scan_runs
from engine.workspace import Workspace

FAST_POLL_MS = 500
SLOW_POLL_MS = 3000

_CATALOG_LOCK = threading.Lock()


def open_catalog(workspace: Workspace) -> Any:
    """``workspace.catalog()``, one opening at a time in this process: two threads creating the schema of a
    new catalogue at once would both try to create its tables."""
    with _CATALOG_LOCK:
        return workspace.catalog()


@dataclass
class RunState(engine_state.RunState):
    """The engine's run state plus what this application knows of the trainer process it started for the run."""

    job_running: bool = False  # a process this app started (and follows) is running it
    job_error: str = ""

    @property
    def display_status(self) -> str:
        if self.job_running and self.status != "running":
            return "starting"
        if self.status == "running" and self.job_running:
            return "running"
        if not self.in_catalog and self.status != "running":
            return "failed" if self.job_error else "starting"
        return super().display_status


# ---- the model of one page ----------------------------------------------------------------------------------------
class RunsModel(QObject):
    """Every run of a workspace with its live state.

    Signals: ``runsChanged()`` (runs appeared or disappeared), ``runUpdated(name)`` (a row or new events),
    ``refreshed(int)`` (a scan was applied; the number of runs), ``error(str)``, ``jobFinished(name, code,
    error)`` (a trainer process this application started has exited).
    """

    runsChanged = Signal()
    runUpdated = Signal(str)
    refreshed = Signal(int)
    error = Signal(str)
    jobFinished = Signal(str, int, str)  # run name, exit code, the engine's one-line error

    def __init__(self, workspace: Workspace, parent: QObject | None = None,
                 jobs: TrainingJobs | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.jobs = jobs or training_jobs()
        self._book: RunBook[RunState] = RunBook(RunState)
        self._catalog: Any = None
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._tasks: deque[object] = deque(maxlen=16)  # keeps the Task wrappers alive while they run
        self._busy = False
        self._again = False
        self._closed = False
        self._last_error = ""
        self._poll = QTimer(self)
        self._poll.setSingleShot(True)
        self._poll.timeout.connect(self.refresh)
        self._soon = QTimer(self)
        self._soon.setSingleShot(True)
        self._soon.setInterval(60)
        self._soon.timeout.connect(self.refresh)
        self._watcher = QFileSystemWatcher(self)
        self._watcher.fileChanged.connect(lambda _p: self._schedule())
        self._watcher.directoryChanged.connect(lambda _p: self._schedule())
        workspace.runs.mkdir(parents=True, exist_ok=True)
        self._watcher.addPath(str(workspace.runs))
        self._root = str(workspace.root)
        self.jobs.finished.connect(self._job_finished)
        self.jobs.started.connect(self._job_started)
        for name in self.jobs.names(workspace):
            self._ensure_pending(name)
        self.refresh()

    # ---- access
    def names(self) -> list[str]:
        return list(self._book.order)

    def states(self) -> list[RunState]:
        return self._book.in_order()

    def state(self, name: str) -> RunState | None:
        return self._book.get(name)

    def any_live(self) -> bool:
        return any(s.live for s in self._book.states.values())

    # ---- scanning
    def _schedule(self) -> None:
        """A scan soon; a burst of changes (one per training step) makes one scan, the timer is not restarted."""
        if not self._soon.isActive():
            self._soon.start()

    def refresh(self) -> None:
        """Scan the catalogue and the events files now (in the worker); coalesces with a scan in flight."""
        if self._closed:
            return
        if self._busy:
            self._again = True
            return
        self._busy = True
        self._again = False
        tails, logs = self._book.positions()
        pending = self.jobs.names(self.workspace)
        ws = self.workspace

        def work() -> ScanResult:
            if self._catalog is None:
                self._catalog = open_catalog(ws)
            return scan_runs(self._catalog, ws, tails, logs, pending)

        task = submit(work, self._scanned, self._scan_failed, pool=self._pool)
        self._tasks.append(task)

    def _scanned(self, result: ScanResult) -> None:
        self._busy = False
        if self._closed:
            return
        self._last_error = ""
        changes = self._book.apply(result, keep=self.jobs.names(self.workspace))
        for name, state in self._book.states.items():
            job = self.jobs.job(self.workspace, name)
            running = job is not None and job.running
            if state.in_catalog:
                state.job_running = running
                continue
            error = self.jobs.error(self.workspace, name)
            if (running, error) != (state.job_running, state.job_error):
                state.job_running, state.job_error = running, error
                changes.updated.add(name)
        if changes.membership:
            self.runsChanged.emit()
        for name in self.names():
            if name in changes.updated:
                self.runUpdated.emit(name)
        self._sync_watches()
        self.refreshed.emit(len(self._book.order))
        if self._again or result.more:
            self._soon.start(0)
        else:
            self._poll.start(FAST_POLL_MS if self.any_live() else SLOW_POLL_MS)

    def _scan_failed(self, message: str) -> None:
        self._busy = False
        if self._closed:
            return
        first = message.splitlines()[0] if message else "unknown error"
        if first != self._last_error:
            self._last_error = first
            self.error.emit(f"Could not read the runs: {first}")
        self._poll.start(SLOW_POLL_MS)

    def _ensure_pending(self, name: str) -> RunState:
        state = self.state(name)
        if state is None:
            state = self._book.add(name)
            job = self.jobs.job(self.workspace, name)
            state.job_running = job is not None and job.running
            state.job_error = self.jobs.error(self.workspace, name)
            self.runsChanged.emit()
        return state

    def _sync_watches(self) -> None:
        want = {str((RunFolder(s.run_dir) if s.run_dir else RunFolder.of(self.workspace, s.name)).events)
                for s in self.states() if s.live}
        have = set(self._watcher.files())
        gone = have - want
        if gone:
            self._watcher.removePaths(list(gone))
        new = [p for p in want - have if Path(p).exists()]
        if new:
            self._watcher.addPaths(new)

    # ---- jobs of this app
    def _mine(self, root: str) -> bool:
        return root == self._root and not self._closed

    def _job_started(self, root: str, name: str) -> None:
        if self._mine(root):
            state = self._ensure_pending(name)
            state.job_running, state.job_error = True, ""
            self.runUpdated.emit(name)
            self._schedule()

    def _job_finished(self, root: str, name: str, code: int, error: str) -> None:
        if self._mine(root):
            state = self.state(name)
            if state is not None:
                state.job_running = False
                state.job_error = self.jobs.error(self.workspace, name)
                if code != 0:
                    state.add_log(f"trainer stopped with an error: {error}" if error
                                  else f"trainer exited with code {code}")
                self.runUpdated.emit(name)
            self.jobFinished.emit(name, code, error)
            self._schedule()

    # ---- actions
    def launch(self, name: str, args: list[str]) -> None:
        """Start ``trainer <args>`` for run ``name``, detached: it goes on when the application quits."""
        self.jobs.launch(self.workspace, name, args)

    def cancel(self, name: str) -> str:
        """Graceful cancel (SIGTERM): the engine finishes its step, checkpoints, exits. Returns what was done."""
        job = self.jobs.job(self.workspace, name)
        if job is not None and job.running:
            job.cancel()
            return f"Cancelling {name}: the step finishes, then a checkpoint is written."
        state = self.state(name)
        if state is not None and state.alive and state.pid:
            try:
                os.kill(state.pid, signal.SIGTERM)
            except OSError as exc:
                return f"Could not signal process {state.pid} of {name}: {exc}"
            self._schedule()
            return f"Cancelling {name} (process {state.pid}): the step finishes, then a checkpoint is written."
        return f"{name} is not running."

    def resume(self, name: str) -> None:
        state = self.state(name)
        if state is None or not state.config:
            raise RuntimeError(f"no saved configuration for run {name!r}")
        self.jobs.launch(self.workspace, name, resume_args(name, state.config))

    def delete(self, names: Iterable[str], remove_files: bool, on_done: Callable[[list[str]], None]) -> None:
        """Remove catalogue rows (and, when asked, the run folders) in the worker; ``on_done(messages)``."""
        targets = []
        for name in names:
            state = self.state(name)
            if state is None:
                continue
            if state.live:
                raise RuntimeError(f"{name} is still running: cancel it first")
            targets.append((name, state.run_dir, state.in_catalog))
            self.jobs.forget(self.workspace, name)
        ws = self.workspace

        def work() -> list[str]:
            catalog = open_catalog(ws)
            messages = []
            for name, run_dir, in_catalog in targets:
                if in_catalog:
                    catalog.delete_run(name)
                if remove_files and run_dir:
                    messages.append(remove_run_dir(Path(run_dir), name, ws))
            catalog.close()
            return [m for m in messages if m]

        def done(messages: list[str]) -> None:
            for name, _, in_catalog in targets:
                if not in_catalog and self.state(name) is not None:
                    self._book.remove(name)
                    self.runsChanged.emit()
            on_done(messages)
            self.refresh()

        self._tasks.append(submit(work, done, lambda msg: on_done([msg.splitlines()[0]]), pool=self._pool,
                                  owner=self))

    def close(self) -> None:
        """Stop polling and watching (running jobs go on: they belong to :func:`training_jobs`)."""
        if self._closed:
            return
        self._closed = True
        self._poll.stop()
        self._soon.stop()
        for sig, slot in ((self.jobs.finished, self._job_finished), (self.jobs.started, self._job_started)):
            try:
                sig.disconnect(slot)
            except (RuntimeError, TypeError):
                pass
