"""The status to show for a run: a "running" run whose process is gone was interrupted (SIGKILL, power loss).

The catalogue says "running" until the trainer records how the run ended; a trainer killed with SIGKILL
never does. A recorded pid counts as the run's process only while it is alive, not a zombie, and either is
this process (a run trained in-process), runs ``trainer`` (or ``torchrun``), or is a Python process started no
later than the run (a pid reused by a newer or unrelated process fails all three).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

INTERRUPTED = "interrupted"
_START_SLACK_S = 5.0  # the run row is written a moment after its process starts
_CMDLINE_MARKS = (b"trainer", b"torchrun")
_INTERPRETER_MARKS = (b"python", b"crossfold")


def effective_status(run: Any) -> str:
    """``run.status``, except ``interrupted`` for a "running" run whose recorded process is gone or another's."""
    status = run.status or "created"
    if status != "running":
        return status
    pid = run.pid
    if not pid:
        return INTERRUPTED
    return "running" if process_is_run(int(pid), run.started_at) else INTERRUPTED


def process_alive(pid: int | None) -> bool:
    """True when ``pid`` is a live (not zombie) trainer process (its command line names ``trainer``/``torchrun``)."""
    return bool(pid) and int(pid) > 0 and process_is_run(int(pid), None)  # type: ignore[arg-type]


def process_is_run(pid: int, started_at: datetime | None) -> bool:
    """Whether ``pid`` is the process of a run recorded as started at ``started_at`` (see the module's rule)."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    proc = Path("/proc") / str(pid)
    if not Path("/proc/self").exists():  # no procfs (macOS): whether the pid exists is all we can tell
        return _alive(pid)
    try:
        stat = (proc / "stat").read_text()
        cmdline = (proc / "cmdline").read_bytes()
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[-1].split()  # after "pid (comm)": state is field 3, starttime field 22
    if not fields or fields[0] in ("Z", "X"):
        return False
    if any(mark in cmdline for mark in _CMDLINE_MARKS):
        return True
    if not any(mark in cmdline for mark in _INTERPRETER_MARKS):
        return False  # not even a Python process: another program got the pid
    started = _process_start(int(fields[19])) if len(fields) > 19 else None
    if started is None or started_at is None:
        return False
    run_start = started_at if started_at.tzinfo else started_at.replace(tzinfo=UTC)
    return started <= run_start.timestamp() + _START_SLACK_S


def _process_start(ticks: int) -> float | None:
    """The process start time (seconds since the epoch) from ``/proc/<pid>/stat`` field 22."""
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return int(line.split()[1]) + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
