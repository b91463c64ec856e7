"""The event stream of a run: JSON lines to ``events.jsonl`` and, optionally, to stdout.

Events (DESIGN.md): ``started``, ``progress`` (step, total, loss, parts, lr, samples_per_second,
samples_per_second_per_gpu, eta_s), ``eval`` (metrics), ``checkpoint`` (path), and one of ``done``,
``failed`` (error), ``cancelled``. The app follows a run by reading these lines, also after a restart.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


class EventWriter:
    def __init__(
        self,
        path: Path | None,
        stdout: bool = False,
        enabled: bool = True,
        listener: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.enabled = enabled
        self.listener = listener
        self._file: IO[str] | None = path.open("a", encoding="utf-8") if (path and enabled) else None
        self._stdout = stdout and enabled

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        record = {"event": event, "time": round(time.time(), 3), **fields}
        if not self.enabled:
            return record
        line = json.dumps(record, default=_jsonable)
        if self._file is not None:
            self._file.write(line + "\n")
            self._file.flush()
        if self._stdout:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        if self.listener is not None:
            self.listener(record)
        return record

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every complete event of a run (a half-written last line is ignored)."""
    events = []
    if not path.exists():
        return events
    with path.open(encoding="utf-8") as f:
        for line in f:
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return events


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)
