"""Training runs started detached: ``trainer train ...`` as a process of its own that outlives the app.

:class:`DetachedJob` starts ``python -m app.logged_exec LOG -- python -m trainer ARGS`` with
``QProcess.startDetached`` (its own session, not a child of the app, so quitting or crashing the app does not
stop it; the exec keeps the pid), the output appended to ``LOG`` (``<workspace>/runs/<name>/trainer.log``).
It then follows the pid (:func:`engine.catalog.run_status.process_alive`): every :data:`POLL_MS` a worker looks whether
the process is still there; when it is gone the worker works out how it ended from its events and log
(:func:`engine.runs.ending.run_ending`: an exit code is not to be had from a process that is not a child).
Starting, probing and reading all happen on the job's worker pool, never on the GUI thread.

:class:`DetachedJob` is a :class:`~app.job_interface.Job`: ``progress(step, total, message)`` from the run's
``progress`` events (read at each poll), then one of ``finished(done_event: dict)``, ``failed(message)``,
``cancelled()`` (the run wrote ``cancelled``, or it was stopped by :meth:`~DetachedJob.cancel` / ``kill``). Also:
``started(int pid)`` and ``exited(int code, str error)`` (as :class:`app.engine_job.EngineJob`: just before the
protocol's ending).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, QThreadPool, QTimer, Signal

from app.engine_job import REPO_ROOT, engine_environment, trainer_program
from app.job_interface import tracker
from app.tasks import Task, submit
from engine.catalog.run_status import process_alive
from engine.runs.ending import Ending, latest_progress, run_ending

__all__ = ["LAUNCHED_PIDS", "DetachedJob", "Ending", "probe", "process_alive", "run_ending", "start_detached"]

POLL_MS = 500
#: Every pid this app session started (tests and scripts kill what is left of them).
LAUNCHED_PIDS: set[int] = set()


# ---- worker side ----------------------------------------------------------------------------------------------------
def start_detached(args: list[str], log_path: Path, header: str) -> int:
    """Start ``trainer ARGS`` detached, its output appended to ``log_path``; returns its pid (worker thread)."""
    program, prefix = trainer_program()
    env = [word for k, v in engine_environment().items() for word in ("--env", f"{k}={v}")]
    shim = ["-m", "app.logged_exec", str(log_path), *env, "--header", header, "--", program, *prefix, *args]
    ok, pid = QProcess.startDetached(program, shim, str(REPO_ROOT))
    if not ok or not pid:
        raise RuntimeError(f"could not start {program}")
    LAUNCHED_PIDS.add(int(pid))
    return int(pid)


@dataclass
class Probe:
    ending: Ending | None  # None while the process runs
    progress: tuple[int, int, str] | None  # its latest progress since the launch


def probe(pid: int, events_path: Path, log_path: Path, since: float) -> Probe:
    """Whether the process still runs (else how it ended), and its latest progress (worker thread)."""
    ending = None if process_alive(pid) else run_ending(events_path, log_path, since)
    event = latest_progress(events_path, since)
    progress = None
    if event is not None:
        message = f"loss {event.loss:.4g}" if isinstance(event.loss, (int, float)) else ""
        progress = (event.step, event.total or 0, message)
    return Probe(ending, progress)


# ---- GUI side --------------------------------------------------------------------------------------------------------
class DetachedJob(QObject):
    """One detached ``trainer`` process, followed by its pid, as a :class:`~app.job_interface.Job`. Quitting the app
    leaves it running."""

    progress = Signal(int, int, str)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    started = Signal(int)
    exited = Signal(int, str)

    def __init__(self, args: list[str], workspace: Path, log_path: Path, events_path: Path, title: str = "",
                 parent: QObject | None = None, pool: QThreadPool | None = None) -> None:
        super().__init__(parent)
        self.args = [*args, "--workspace", str(workspace)]
        self.title = title or " ".join(args[:2])
        self.log_path = log_path
        self.events_path = events_path
        self.pid: int | None = None
        self.launched_at = 0.0
        self.ending: Ending | None = None
        self._pool = pool
        self._tasks: deque[Task] = deque(maxlen=8)  # keeps the Task wrappers alive while they run
        self._probing = False
        self._pending_signal: int | None = None
        self._stop_requested = False
        self._last_progress: tuple[int, int, str] | None = None
        self._following = True
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._probe)

    @property
    def running(self) -> bool:
        """Started (or starting) and not seen gone yet."""
        return self.ending is None

    def start(self) -> None:
        self.launched_at = time.time()
        tracker().add(self)
        args, log_path, header = self.args, self.log_path, "trainer " + " ".join(self.args)
        self._submit(lambda: start_detached(args, log_path, header), self._started, self._start_failed)

    def cancel(self) -> None:
        """Graceful: SIGTERM; the engine finishes its step, checkpoints and exits."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def stop_following(self) -> None:
        """Forget the process (at quit): it goes on; the status bar no longer lists it."""
        self._following = False
        self._timer.stop()
        tracker().remove(self)

    # ----
    def _submit(self, fn: Callable[[], Any], done: Callable[[Any], None], failed: Callable[[str], None]) -> None:
        self._tasks.append(submit(fn, done, failed, pool=self._pool))

    def _signal(self, sig: int) -> None:
        if self.ending is not None:
            return
        self._stop_requested = True
        if self.pid is None:  # still starting: sent when the pid is known
            self._pending_signal = signal.SIGKILL if signal.SIGKILL in (sig, self._pending_signal) else sig
            return
        try:
            os.kill(self.pid, sig)
        except OSError:
            pass
        self._probe()

    def _started(self, pid: int) -> None:
        if not self._following:
            return
        self.pid = pid
        self.started.emit(pid)
        self._timer.start()
        if self._pending_signal is not None:
            sig, self._pending_signal = self._pending_signal, None
            self._signal(sig)

    def _start_failed(self, message: str) -> None:
        self._stop_requested = False  # it never ran: that is a failure, whatever was asked meanwhile
        self._end(Ending(-1, message.splitlines()[0] if message else f"could not start {sys.executable}"))

    def _probe(self) -> None:
        if self._probing or self.pid is None or self.ending is not None or not self._following:
            return
        self._probing = True
        pid, events_path, log_path, since = self.pid, self.events_path, self.log_path, self.launched_at
        self._submit(lambda: probe(pid, events_path, log_path, since), self._probed, self._probe_failed)

    def _probed(self, probed: Probe) -> None:
        self._probing = False
        if not self._following or self.ending is not None:
            return
        if probed.progress is not None and probed.progress != self._last_progress:
            self._last_progress = probed.progress
            self.progress.emit(*probed.progress)
        if probed.ending is not None:
            self._end(probed.ending)

    def _probe_failed(self, _message: str) -> None:
        self._probing = False  # tried again at the next tick

    def _end(self, ending: Ending) -> None:
        if self.ending is not None:
            return
        self.ending = ending
        self._timer.stop()
        self.exited.emit(ending.code, ending.error)
        if ending.cancelled or (self._stop_requested and ending.code != 0):
            self.cancelled.emit()
        elif ending.code == 0:
            self.finished.emit(ending.event.to_record() if ending.event is not None else None)
        else:
            self.failed.emit(ending.error)
