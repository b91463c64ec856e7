"""How a trainer that is gone ended, from the end of its ``events.jsonl`` and its ``trainer.log``.

A process that is not a child has no exit code to collect: its last terminal event written since it was
launched tells (``done`` / ``cancelled``: 0; ``failed``: 1 with its error); without one, the log's
``trainer: error: ...`` line or its last line of the latest attempt is the error (1). Reads only the ends of the
files; a missing file reads as empty.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from engine.run.events import Cancelled, Done, Failed, Progress, RunEvent, parse_line

#: How much of the end of events.jsonl / the log is read to tell how a run ended.
EVENTS_END_BYTES = 256 << 10
#: ... and to find its latest progress.
PROGRESS_END_BYTES = 16 << 10
LOG_END_BYTES = 32 << 10
ERROR_PREFIX = "trainer: error:"


def end_lines(path: Path, nbytes: int) -> list[str]:
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


def last_terminal_event(events_path: Path, since: float) -> RunEvent | None:
    """The last ``done`` / ``failed`` / ``cancelled`` event written at or after ``since`` (a time.time())."""
    for line in reversed(end_lines(events_path, EVENTS_END_BYTES)):
        event = parse_line(line)
        if not isinstance(event, (Done, Failed, Cancelled)):
            continue
        return event if event.time is not None and event.time >= since - 1e-3 else None
    return None


def latest_progress(events_path: Path, since: float) -> Progress | None:
    """The last ``progress`` event written at or after ``since``."""
    for line in reversed(end_lines(events_path, PROGRESS_END_BYTES)):
        event = parse_line(line)
        if isinstance(event, Progress):
            return event if event.time is not None and event.time >= since - 1e-3 else None
    return None


def log_error(log_path: Path) -> str:
    """The one-line error of the latest attempt in a log: its ``trainer: error:`` line, else its last line."""
    lines = end_lines(log_path, LOG_END_BYTES)
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
    event: RunEvent | None = None  # its terminal event (done / failed / cancelled), when it wrote one

    @property
    def cancelled(self) -> bool:
        return isinstance(self.event, Cancelled)


def run_ending(events_path: Path, log_path: Path, since: float) -> Ending:
    """How a trainer that is gone ended, from its events since ``since`` and its log."""
    event = last_terminal_event(events_path, since)
    if isinstance(event, (Done, Cancelled)):
        return Ending(0, "", event)
    error = event.error if isinstance(event, Failed) else ""
    return Ending(1, error or log_error(log_path) or "the trainer stopped before the run ended (killed?)", event)
