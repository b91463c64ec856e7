"""One look at a workspace's runs: the catalogue's rows, and the new lines of every run's ``events.jsonl`` and
``trainer.log`` since the positions given.

:func:`scan_runs` is what a follower calls again and again (the app, in a worker thread; it applies the result to
its :class:`~engine.runs.state.RunState` objects on its own thread, :class:`~engine.runs.book.RunBook`). It
writes nothing and reads a bounded chunk of each file per call (:data:`engine.runs.tail.READ_CHUNK`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.run.folder import RunFolder
from engine.runs.rows import RowData, row_data
from engine.runs.tail import TailPos, TailRead, read_log, read_tail
from engine.workspace import Workspace


@dataclass
class ScanResult:
    rows: list[RowData]
    tails: dict[str, TailRead]  # by run name: the new events
    more: bool  # a file has bytes left to read (scan again soon)
    logs: dict[str, TailRead] = field(default_factory=dict)  # by run name: the new log lines


def scan_runs(catalog: Any, workspace: Workspace, tails: dict[str, TailPos], logs: dict[str, TailPos],
              pending: Iterable[str] = (), read_logs: bool = True) -> ScanResult:
    """Every run row of ``catalog`` with what its files got since ``tails`` / ``logs`` (by run name; a run not
    in them is read from the start, its log from near its end).

    ``pending``: runs that may not be in the catalogue yet (their logs are read too)."""
    datasets = {d.id: d.name for d in catalog.datasets()}
    result = ScanResult([], {}, False)

    def read_log_of(name: str, run_dir: str) -> None:
        path = str(RunFolder(run_dir).log)
        pos = logs.get(name)
        result.logs[name] = read = read_log(pos if pos is not None and pos.path == path else TailPos(path))
        result.more = result.more or read.more

    for run in catalog.runs():
        row = row_data(run, datasets, workspace)
        result.rows.append(row)
        path = str(RunFolder(row.run_dir).events)
        pos = tails.get(row.name)
        result.tails[row.name] = read = read_tail(pos if pos is not None and pos.path == path else TailPos(path))
        result.more = result.more or read.more
        if read_logs:
            read_log_of(row.name, row.run_dir)
    for name in pending:
        if name not in result.logs:
            read_log_of(name, str(RunFolder.of(workspace, name).path))
    return result
