"""Whether a pid is still a given process: the one place that asks the operating system (through psutil).

A pid alone does not name a process: once its process is gone the kernel may give the number to another one.
:func:`live_process` reads what tells them apart, the start time and the command line, from one
``psutil.Process`` (on every platform psutil supports); the callers hold their own rule over them
(:mod:`engine.catalog.run_status`: a run's trainer; :mod:`engine.threads`: a registered engine job).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import psutil

T = TypeVar("T")

# Start times of one process read at different moments may differ a little: on Linux it is the boot time
# (``btime``, whole seconds, recomputed when the clock is adjusted) plus the ticks since boot. A reused pid
# belongs to a process started after the first one ended, which takes far longer than this on any system.
SAME_START_S = 2.0
#: No system gives a pid above this (Linux's largest ``pid_max``, 2**22); a larger number is no pid at all.
PID_MAX = 4_194_304


@dataclass(frozen=True)
class LiveProcess:
    """A running (not zombie) process as the OS describes it now."""

    pid: int
    started: float | None  # seconds since the epoch; None when the OS would not say
    cmdline: tuple[str, ...] | None  # None when the OS would not say (another user's process on macOS)

    def started_at(self, when: float) -> bool:
        """Whether this process is the one that started at ``when`` (seconds since the epoch)."""
        return self.started is not None and abs(self.started - when) <= SAME_START_S

    def runs(self, *marks: str) -> bool:
        """Whether any of ``marks`` appears in its command line (unknown command line: False)."""
        return self.cmdline is not None and any(mark in arg for arg in self.cmdline for mark in marks)


def live_process(pid: int) -> LiveProcess | None:
    """The live process with this pid, or None when there is none (gone, a zombie, or not a valid pid)."""
    if isinstance(pid, bool) or not isinstance(pid, int) or not 0 < pid <= PID_MAX:
        return None
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            if proc.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
                return None
            started = _ask(proc.create_time)
            cmdline = _ask(proc.cmdline)
    except (psutil.NoSuchProcess, ValueError, OverflowError):  # gone (a zombie is a NoSuchProcess), or a bad pid
        return None
    except psutil.AccessDenied:  # it exists, but the OS says nothing more about it
        return LiveProcess(pid, None, None)
    return LiveProcess(pid, started, tuple(cmdline) if cmdline is not None else None)


def _ask(read: Callable[[], T]) -> T | None:
    try:
        return read()
    except psutil.AccessDenied:
        return None
