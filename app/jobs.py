"""Engine work as child processes: ``trainer <command> ... --events -`` run through ``QProcess``.

The GUI thread never waits on a job: output arrives through signals as it is printed. Every stdout
line that is a JSON object is an event (``{"event": "progress", ...}``); other lines are log text.
Training runs are not children: they are started detached (:mod:`app.detached`) and outlive the app.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Signal, SignalInstance

from trainer.priority import NICE_VARIABLE

REPO_ROOT = Path(__file__).resolve().parents[1]
# Engine processes run at this niceness (``trainer.priority``) so the GUI thread gets a core when it wakes up,
# even while a training run and an index build keep every core busy.
ENGINE_NICENESS = 10


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


class TrackedJob(Protocol):
    """What the status bar needs of a job: a title, and a ``finished`` signal."""

    title: str

    @property
    def finished(self) -> SignalInstance: ...


class JobTracker(QObject):
    """Every running engine job of this app (children and detached training runs), so the status bar can show
    them."""

    changed = Signal(list)  # titles of the running jobs

    def __init__(self) -> None:
        super().__init__()
        self._jobs: list[TrackedJob] = []

    def add(self, job: TrackedJob) -> None:
        self._jobs.append(job)
        job.finished.connect(lambda *_: self._remove(job))
        self.changed.emit(self.titles())

    def remove(self, job: TrackedJob) -> None:
        """No longer show ``job`` (it ended, or the app stopped following it)."""
        self._remove(job)

    def _remove(self, job: TrackedJob) -> None:
        if job in self._jobs:
            self._jobs.remove(job)
        self.changed.emit(self.titles())

    def titles(self) -> list[str]:
        return [j.title for j in self._jobs]


_tracker: JobTracker | None = None


def tracker() -> JobTracker:
    global _tracker
    if _tracker is None:
        _tracker = JobTracker()
    return _tracker


class EngineJob(QObject):
    """One child process. Signals: ``event(dict)``, ``log(str)``, ``finished(int exit_code, str error)``."""

    event = Signal(dict)
    log = Signal(str)
    finished = Signal(int, str)

    def __init__(self, args: Sequence[str], workspace: Path, title: str = "", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.args = [*args, "--workspace", str(workspace)]
        self.title = title or " ".join(args[:2])
        self.events: list[dict[str, Any]] = []
        self._stdout = b""
        self._stderr: list[str] = []
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
            self.process.terminate()

    def kill(self) -> None:
        if self.running:
            self.process.kill()

    def _read_stdout(self) -> None:
        self._stdout += bytes(self.process.readAllStandardOutput())
        *lines, self._stdout = self._stdout.split(b"\n")
        for raw in lines:
            self._line(raw.decode("utf-8", errors="replace"))

    def _line(self, line: str) -> None:
        text = line.strip()
        if text.startswith("{"):
            try:
                event = json.loads(text)
            except json.JSONDecodeError:
                event = None
            if isinstance(event, dict):
                self.events.append(event)
                self.event.emit(event)
                return
        if text:
            self.log.emit(text)

    def _read_stderr(self) -> None:
        text = bytes(self.process.readAllStandardError()).decode("utf-8", errors="replace")
        for line in text.splitlines():
            if line.strip():
                self._stderr.append(line)
                self.log.emit(line)

    def error_line(self) -> str:
        """The engine's one-line error (``trainer: error: ...``) if it printed one."""
        for line in reversed(self._stderr):
            if line.startswith("trainer: error:"):
                return line.removeprefix("trainer: error:").strip()
        return self._stderr[-1] if self._stderr else ""

    def _finished(self, code: int, _status: QProcess.ExitStatus) -> None:
        if self._stdout:
            self._line(self._stdout.decode("utf-8", errors="replace"))
            self._stdout = b""
        self.finished.emit(code, "" if code == 0 else self.error_line())

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.finished.emit(-1, f"could not start {sys.executable}")
