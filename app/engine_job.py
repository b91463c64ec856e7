"""Engine work as child processes: ``trainer <command> ... --events -`` run through ``QProcess``.

:class:`EngineJob` is a :class:`~app.job_interface.Job` (``progress`` / ``finished`` / ``failed`` / ``cancelled``,
``cancel()``). The GUI thread never waits on a job: output arrives through signals as it is printed. Every
stdout line that is a JSON object is an event (``{"event": "progress", ...}``); other lines are log text. An event
is read through its typed kind (:mod:`engine.job_events`, and :mod:`engine.run.events` for the runs that
``trainer demo`` streams); a line of no known, well-formed kind drives nothing.
Training runs are not children: they are started detached (:mod:`app.detached`) and outlive the app.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeAlias

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from app.job_interface import tracker
from engine.event_codec import loads
from engine.job_events import JobDone, JobEvent, JobProgress, parse_job_event
from engine.priority import NICE_VARIABLE
from engine.run.events import Cancelled, Failed, Progress, RunEvent, parse_event

__all__ = ["ENGINE_NICENESS", "REPO_ROOT", "EndEvent", "EngineJob", "LineEvent", "engine_environment",
           "parse_line_event", "trainer_program"]

REPO_ROOT = Path(__file__).resolve().parents[1]
# Engine processes run at this niceness (``engine.priority``) so the GUI thread gets a core when it wakes up,
# even while a training run and an index build keep every core busy.
ENGINE_NICENESS = 10

LineEvent: TypeAlias = JobEvent | RunEvent  # what a job's stdout carries
EndEvent: TypeAlias = JobDone | Failed | Cancelled  # the events that say how a job ended


def parse_line_event(record: Any) -> LineEvent | None:
    """The typed event of one decoded stdout line: a job's kind first (its ``done`` is the command's report), else
    a run's (``trainer demo`` streams its runs' events); ``None`` for anything else."""
    job_event = parse_job_event(record)
    return job_event if job_event is not None else parse_event(record)


def trainer_program() -> tuple[str, list[str]]:
    """The interpreter running the app, with ``-m trainer`` (same environment, no PATH lookup)."""
    return sys.executable, ["-m", "trainer"]


def engine_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """What an engine process gets on top of the app's environment: unbuffered output, no network for Hugging
    Face, a lower CPU priority than the GUI, and this repository on ``PYTHONPATH`` (``base`` stands for
    ``os.environ``)."""
    base = dict(os.environ) if base is None else base
    pythonpath = os.pathsep.join(p for p in (str(REPO_ROOT), base.get("PYTHONPATH", "")) if p)
    env = {"PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": pythonpath}
    if hasattr(os, "getpriority"):  # relative to the GUI thread (the main thread: its id is the pid)
        env[NICE_VARIABLE] = str(min(19, os.getpriority(os.PRIO_PROCESS, os.getpid()) + ENGINE_NICENESS))
    return env


class EngineJob(QObject):
    """One child process, as a :class:`~app.job_interface.Job`.

    Protocol signals: ``progress(done, total, stage)`` from its ``progress`` events, then one of
    ``finished(done_event: dict | None)``, ``failed(message)``, ``cancelled()``. Also: ``event(dict)`` (every
    event line's JSON object, as printed), ``typed_event(object)`` (the same line as its typed event, a
    :data:`LineEvent`, for the known, well-formed kinds), ``log(str)`` (every other output line) and
    ``exited(int exit_code, str error)`` (the process ended: emitted just before the protocol's ending;
    ``error`` is empty when the code is 0).
    """

    progress = Signal(int, int, str)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    event = Signal(dict)
    typed_event = Signal(object)
    log = Signal(str)
    exited = Signal(int, str)

    def __init__(self, args: Sequence[str], workspace: Path, title: str = "", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.args = [*args, "--workspace", str(workspace)]
        self.title = title or " ".join(args[:2])
        self.events: list[dict[str, Any]] = []  # every event line's JSON object, as printed
        self.ending: EndEvent | None = None  # the last event that said how the job ended
        self.last_log = ""
        self._stdout = b""
        self._stderr: list[str] = []
        self._stop_requested = False
        self._ended = False
        self.process = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        for key, value in engine_environment({"PYTHONPATH": env.value("PYTHONPATH")}).items():
            env.insert(key, value)
        self.process.setProcessEnvironment(env)
        self.process.setWorkingDirectory(str(REPO_ROOT))
        self.process.readyReadStandardOutput.connect(self._read_stdout)
        self.process.readyReadStandardError.connect(self._read_stderr)
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._error)

    def start(self) -> None:
        program, prefix = trainer_program()
        tracker().add(self)
        self.process.start(program, [*prefix, *self.args])

    @property
    def running(self) -> bool:
        return self.process.state() != QProcess.ProcessState.NotRunning

    def cancel(self) -> None:
        """Graceful: SIGTERM; the engine finishes its step, checkpoints and exits."""
        if self.running:
            self._stop_requested = True
            self.process.terminate()

    def kill(self) -> None:
        if self.running:
            self._stop_requested = True
            self.process.kill()

    def _read_stdout(self) -> None:
        self._stdout += bytes(self.process.readAllStandardOutput())
        *lines, self._stdout = self._stdout.split(b"\n")
        for raw in lines:
            self._line(raw.decode("utf-8", errors="replace"))

    def _line(self, line: str) -> None:
        text = line.strip()
        if text.startswith("{"):
            event = loads(text)  # None for a line that does not decode, whatever its depth
            if isinstance(event, dict):
                self.events.append(event)
                self.event.emit(event)
                self._typed(parse_line_event(event))
                return
        if text:
            self.last_log = text
            self.log.emit(text)

    def _typed(self, event: LineEvent | None) -> None:
        if event is None:
            return
        if isinstance(event, JobProgress):
            self.progress.emit(event.done, event.total or 0, event.stage)
        elif isinstance(event, Progress):  # `trainer demo` streams its runs' events too
            self.progress.emit(event.step, event.total or 0, "")
        elif isinstance(event, JobDone | Failed | Cancelled):
            self.ending = event
        self.typed_event.emit(event)

    def _read_stderr(self) -> None:
        text = bytes(self.process.readAllStandardError()).decode("utf-8", errors="replace")
        for line in text.splitlines():
            if line.strip():
                self._stderr.append(line)
                self.last_log = line.strip()
                self.log.emit(line)

    def error_line(self) -> str:
        """The engine's one-line error (``trainer: error: ...``) if it printed one."""
        for line in reversed(self._stderr):
            if line.startswith("trainer: error:"):
                return line.removeprefix("trainer: error:").strip()
        return self._stderr[-1] if self._stderr else ""

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        if self._stdout:
            self._line(self._stdout.decode("utf-8", errors="replace"))
            self._stdout = b""
        error = "" if code == 0 else self.error_line()
        if self._ended:
            return
        self._ended = True
        self.exited.emit(code, error)
        ending = self.ending
        if isinstance(ending, Cancelled) or (self._stop_requested and (code != 0 or ending is None)):
            self.cancelled.emit()
        elif code == 0 and status == QProcess.ExitStatus.NormalExit and not isinstance(ending, Failed):
            self.finished.emit(ending.to_record() if ending is not None else None)
        else:
            event_error = ending.error if isinstance(ending, Failed) else ""
            self.failed.emit(error or event_error or self.last_log or f"trainer exited with code {code}")

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and not self._ended:
            self._ended = True
            QTimer.singleShot(0, self, self._failed_to_start)  # maybe inside start(): a job ends after it

    def _failed_to_start(self) -> None:
        message = f"could not start {sys.executable}"
        self.exited.emit(-1, message)
        self.failed.emit(message)
