"""The status to show for a run: a "running" run whose process is gone was interrupted (SIGKILL, power loss).

The catalogue says "running" until the trainer records how the run ended; a trainer killed with SIGKILL
never does. A recorded pid counts as the run's process only while it is alive, not a zombie, and either is
this process (a run trained in-process), runs ``trainer`` (or ``torchrun``), or is a Python process started no
later than the run (a pid reused by a newer or unrelated process fails all three). The OS is asked through
:func:`engine.processes.live_process`.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from engine.processes import live_process

INTERRUPTED = "interrupted"
_START_SLACK_S = 5.0  # the run row is written a moment after its process starts
_CMDLINE_MARKS = ("trainer", "torchrun")
_INTERPRETER_MARKS = ("python", "crossfold")


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
    if pid == os.getpid():
        return True
    proc = live_process(pid)
    if proc is None:
        return False
    if proc.runs(*_CMDLINE_MARKS):
        return True
    if not proc.runs(*_INTERPRETER_MARKS):
        return False  # not even a Python process (or not ours to read): another program got the pid
    if proc.started is None or started_at is None:
        return False
    run_start = started_at if started_at.tzinfo else started_at.replace(tzinfo=UTC)
    return proc.started <= run_start.timestamp() + _START_SLACK_S
