"""The runs of a workspace as a follower holds them: one :class:`~engine.runs.state.RunState` per run, in a stable
order, brought up to date by each :class:`~engine.runs.scan.ScanResult`.

:meth:`RunBook.apply` says what changed (runs added, removed, updated) so that a view repaints only those. A run
that left the catalogue is dropped, unless the caller still ``keep`` s it (a run it launched whose row is not
written yet): it stays, marked not in the catalogue. :func:`load_runs` reads everything up to now into a fresh
book at once (``trainer runs``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from engine.runs.scan import ScanResult, scan_runs
from engine.runs.state import RunState
from engine.runs.tail import TailPos
from engine.workspace import Workspace


@dataclass
class Changes:
    added: bool = False
    removed: bool = False
    updated: set[str] = field(default_factory=set)  # runs whose row or events changed

    @property
    def membership(self) -> bool:
        return self.added or self.removed


S = TypeVar("S", bound=RunState)


class RunBook(Generic[S]):
    """``factory(name)`` makes the state of a run seen for the first time (a :class:`RunState` or a subclass)."""

    def __init__(self, factory: Callable[[str], S]) -> None:
        self.factory = factory
        self.states: dict[str, S] = {}
        self.order: list[str] = []

    def get(self, name: str) -> S | None:
        return self.states.get(name)

    def in_order(self) -> list[S]:
        return [self.states[n] for n in self.order]

    def add(self, name: str) -> S:
        state = self.states[name] = self.factory(name)
        self.order.append(name)
        return state

    def remove(self, name: str) -> None:
        if self.states.pop(name, None) is not None:
            self.order.remove(name)

    def positions(self) -> tuple[dict[str, TailPos], dict[str, TailPos]]:
        """Copies of where every run's events file and log were read up to (for a scan in another thread)."""
        tails = {n: dataclasses.replace(s.tail) for n, s in self.states.items() if s.tail}
        logs = {n: dataclasses.replace(s.log_tail) for n, s in self.states.items() if s.log_tail}
        return tails, logs

    def apply(self, result: ScanResult, keep: Iterable[str] = ()) -> Changes:
        changes = Changes()
        seen = set()
        for row in result.rows:
            seen.add(row.name)
            state = self.states.get(row.name)
            if state is None:
                state, changes.added = self.add(row.name), True
            if state.update_row(row):
                changes.updated.add(row.name)
            read = result.tails.get(row.name)
            if read is not None and state.apply_read(read):
                changes.updated.add(row.name)
        for name, read in result.logs.items():
            state = self.states.get(name)
            if state is not None and state.apply_log(read):
                changes.updated.add(name)
        kept = set(keep)
        for name in [n for n in self.states if n not in seen]:
            if name in kept:
                self.states[name].in_catalog = False
            else:
                self.remove(name)
                changes.removed = True
        if changes.added:
            self.order.sort(key=lambda n: (self.states[n].id, n))
        return changes


def load_runs(catalog: Any, workspace: Workspace, read_logs: bool = False) -> list[RunState]:
    """Every run of the catalogue, ordered by id, with all its events applied (scans until nothing is left)."""
    book = RunBook(RunState)
    while True:
        tails, logs = book.positions()
        result = scan_runs(catalog, workspace, tails, logs, read_logs=read_logs)
        book.apply(result)
        reads = [*result.tails.values(), *result.logs.values()]
        if not result.more or all(r.offset == r.start for r in reads):  # (a line longer than a chunk stops it)
            return book.in_order()
