"""Training runs started detached: ``trainer train ...`` as a process of its own that outlives the app.

:class:`DetachedJob` starts ``python -m app.logged_exec LOG -- python -m trainer ARGS`` with
``QProcess.startDetached`` (its own session, not a child of the app, so quitting or crashing the app does not
stop it; the exec keeps the pid), the output appended to ``LOG`` (``<workspace>/runs/<name>/trainer.log``).
It then follows the pid: every :data:`POLL_MS` a worker looks whether the process is still there; when it is
gone the worker works out how it ended, as an exit code is not to be had from a process that is not a child:
the run's last terminal event written since the launch (``done`` / ``cancelled``: 0; ``failed``: 1 with its
error), else the log's ``trainer: error: ...`` line or its last line (1). Starting, probing and reading all
happen on the job's worker pool, never on the GUI thread.

:class:`DetachedJob` is a :class:`~app.job.Job`: ``progress(step, total, message)`` from the run's ``progress``
events (read at each poll), then one of ``finished(done_event: dict)``, ``failed(message)``, ``cancelled()``
(the run wrote ``cancelled``, or it was stopped by :meth:`~DetachedJob.cancel` / ``kill``). Also:
``started(int pid)`` and ``exited(int code, str error)`` (as :class:`app.jobs.EngineJob`: just before the
protocol's ending).
"""

from __future__ import annotations

import json
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

from app.jobs import REPO_ROOT, engine_environment, tracker, trainer_program
from app.tasks import Task, submit

POLL_MS = 500
TERMINAL_EVENTS = ("done", "failed", "cancelled")
#: How much of the end of events.jsonl / the log is read to tell how a run ended.
EVENTS_END_BYTES = 256 << 10
#: ... and to find its latest progress (at each poll).
PROGRESS_END_BYTES = 16 << 10
LOG_END_BYTES = 32 << 10
ERROR_PREFIX = "trainer: error:"
#: Every pid this app session started (tests and scripts kill what is left of them).
LAUNCHED_PIDS: set[int] = set()


def process_alive(pid: int | None) -> bool:
    """True when ``pid`` is a live (not zombie) process that looks like a trainer (a Python process)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    try:
        stat = (proc / str(pid) / "stat").read_text()
        cmdline = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[:1]
    if state and state[0] in ("Z", "X"):
        return False
    return any(word in cmdline for word in (b"trainer", b"python", b"crossfold", b"torchrun"))


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


def _end_lines(path: Path, nbytes: int) -> list[str]:
    """The complete lines of the last ``nbytes`` of a file (none when it cannot be read)."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            start = max(0, size - nbytes)
            f.seek(start)
            data = f.read()
    except OSError:
        return []
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines[1:] if start > 0 and lines else lines


def last_terminal_event(events_path: Path, since: float) -> dict[str, Any] | None:
    """The last ``done`` / ``failed`` / ``cancelled`` event written at or after ``since`` (a time.time())."""
    for line in reversed(_end_lines(events_path, EVENTS_END_BYTES)):
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict) or event.get("event") not in TERMINAL_EVENTS:
            continue
        when = event.get("time")
        return event if isinstance(when, (int, float)) and when >= since - 1e-3 else None
    return None


def latest_progress(events_path: Path, since: float) -> tuple[int, int, str] | None:
    """``(step, total, message)`` of the last ``progress`` event written at or after ``since``."""
    for line in reversed(_end_lines(events_path, PROGRESS_END_BYTES)):
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict) or event.get("event") != "progress":
            continue
        when = event.get("time")
        if not isinstance(when, (int, float)) or when < since - 1e-3:
            return None
        loss = event.get("loss")
        message = f"loss {loss:.4g}" if isinstance(loss, (int, float)) else ""
        return int(event.get("step") or 0), int(event.get("total") or 0), message
    return None


def log_error(log_path: Path) -> str:
    """The one-line error of the latest attempt in a log: its ``trainer: error:`` line, else its last line."""
    lines = _end_lines(log_path, LOG_END_BYTES)
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("$ "):  # the header of the latest attempt (app.logged_exec)
            lines = lines[i + 1:]
            break
    lines = [line.strip() for line in lines if line.strip()]
    for line in reversed(lines):
        if line.startswith(ERROR_PREFIX):
            return line.removeprefix(ERROR_PREFIX).strip()
    return lines[-1] if lines else ""


@dataclass
class Ending:
    code: int  # 0: the run ended done or cancelled
    error: str
    event: dict[str, Any] | None = None  # its terminal event (done / failed / cancelled), when it wrote one

    @property
    def cancelled(self) -> bool:
        return self.event is not None and self.event.get("event") == "cancelled"


def run_ending(events_path: Path, log_path: Path, since: float) -> Ending:
    """How a trainer that is gone ended, from its events since ``since`` and its log."""
    event = last_terminal_event(events_path, since)
    if event is not None and event.get("event") in ("done", "cancelled"):
        return Ending(0, "", event)
    error = str(event.get("error", "")) if event is not None else ""
    return Ending(1, error or log_error(log_path) or "the trainer stopped before the run ended (killed?)", event)


@dataclass
class Probe:
    ending: Ending | None  # None while the process runs
    progress: tuple[int, int, str] | None  # its latest progress since the launch


def probe(pid: int, events_path: Path, log_path: Path, since: float) -> Probe:
    """Whether the process still runs (else how it ended), and its latest progress (worker thread)."""
    ending = None if process_alive(pid) else run_ending(events_path, log_path, since)
    return Probe(ending, latest_progress(events_path, since))


# ---- GUI side --------------------------------------------------------------------------------------------------------
class DetachedJob(QObject):
    """One detached ``trainer`` process, followed by its pid, as a :class:`~app.job.Job`. Quitting the app
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
            self.finished.emit(ending.event)
        else:
            self.failed.emit(ending.error)
