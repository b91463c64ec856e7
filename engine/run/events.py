"""The event stream of a run: one typed event per kind, written as JSON lines to ``runs/<name>/events.jsonl``
and, optionally, to stdout.

Kinds (fields and meaning in docs/EVENTS.md): :class:`Started`, :class:`Progress`, :class:`Resumed`,
:class:`Eval`, :class:`CategoryEval`, :class:`Best`, :class:`Checkpoint`, and one of :class:`Done`,
:class:`Failed`, :class:`Cancelled`.
Each line is ``{"event": kind, "time": unix seconds, **fields}``. :func:`parse_event` reads a line's object back
(``None`` for an unknown kind or a malformed event: readers skip it and count it). The app and ``trainer runs``
follow a run by reading these lines, also after a restart (:mod:`engine.runs`).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from engine.event_codec import Event, decode, kinds_of, loads


@dataclass(frozen=True, kw_only=True)
class RunEvent(Event):
    """An event of a run; ``time`` (seconds since the epoch) is set by :class:`EventWriter` when it writes it."""

    time: float | None = None


@dataclass(frozen=True, kw_only=True)
class Started(RunEvent):
    """The training loop starts (or starts again after ``resumed``), at ``step`` of ``total``."""

    kind = "started"
    run: str = ""
    total: int | None = None
    step: int = 0
    device: str = ""
    world_size: int = 1
    precision: str = ""
    dataset: str = ""
    loss: str = ""
    model: str = ""
    items: int | None = None
    store: str = ""  # "packed" (the decode-free store) or "files"
    threads: int | None = None  # torch's intra-op threads at the start (the job's share of the cores)
    workers: int | None = None  # data loader processes
    note: str = ""  # something a person should know about this start (e.g. how to pack the views)
    uncaptioned_items: int = 0  # train items left out for want of a caption (the note says so too)
    deterministic: bool = False  # --deterministic: fixed threads (``threads``), deterministic algorithms
    torch_version: str = ""  # the torch that ran it (a repeatable run is repeatable on the same software)
    repeatability: str = ""  # without --deterministic: why the last bits may differ between runs of one command


@dataclass(frozen=True, kw_only=True)
class Progress(RunEvent):
    """One optimiser step done."""

    kind = "progress"
    step: int
    total: int | None = None
    epoch: int | None = None
    loss: float | None = None
    parts: dict[str, float] = field(default_factory=dict)
    lr: float | None = None
    logit_scale: float | None = None
    samples_per_second: float | None = None
    samples_per_second_per_gpu: float | None = None
    eta_s: float | None = None


@dataclass(frozen=True, kw_only=True)
class Resumed(RunEvent):
    """Training continues from the checkpoint ``path`` saved at ``step`` (later points of an attempt are void)."""

    kind = "resumed"
    step: int
    path: str = ""


@dataclass(frozen=True, kw_only=True)
class Eval(RunEvent):
    """Retrieval metrics on ``split`` at ``step`` (``trainer eval`` adds the ``dataset`` and ``checkpoint``)."""

    kind = "eval"
    step: int
    split: str
    metrics: dict[str, float]
    dataset: str | None = None
    checkpoint: str | None = None


@dataclass(frozen=True, kw_only=True)
class CategoryMiss:
    """One item of a by-category evaluation labelled wrongly: its catalogue ``item`` id and ``key``, its ``true``
    category, the ``predicted`` one (ranked first instead) and the ``rank`` of the true one (2 = second)."""

    item: int
    key: str
    true: str
    predicted: str
    rank: int


@dataclass(frozen=True, kw_only=True)
class CategoryEval(RunEvent):
    """By-category (zero-shot classification) accuracy of ``trainer eval --by-category`` on ``split`` of
    ``dataset`` at ``step``: ``metrics`` (keys in :mod:`engine.metric_keys`: ``top1``, ``top5``,
    ``mean_class_top1``, ``num_items``, ``num_categories``, ``num_unlabelled``), ``per_category`` (category ->
    ``count``, ``top1``, ``top5``), ``confusions`` (the most confused pairs: true category -> predicted -> count),
    ``prompts`` (the templates' file, ``""`` for the default ensemble), ``wrong`` (items labelled wrongly, the
    worst ranked first, at most :data:`engine.evaluate.categories.MAX_WRONG`) of ``num_wrong`` in all (``None``:
    an evaluation written before they were recorded)."""

    kind = "eval_categories"
    step: int
    split: str
    dataset: str
    metrics: dict[str, float]
    per_category: dict[str, dict[str, float]] = field(default_factory=dict)
    confusions: dict[str, dict[str, int]] = field(default_factory=dict)
    prompts: str = ""
    checkpoint: str | None = None
    wrong: list[CategoryMiss] = field(default_factory=list)
    num_wrong: int | None = None


@dataclass(frozen=True, kw_only=True)
class Best(RunEvent):
    """A new best checkpoint: its validation ``score`` (mean R@1) at ``step``, saved to ``path``."""

    kind = "best"
    step: int
    path: str = ""
    score: float


@dataclass(frozen=True, kw_only=True)
class Checkpoint(RunEvent):
    kind = "checkpoint"
    step: int
    path: str = ""


@dataclass(frozen=True, kw_only=True)
class Done(RunEvent):
    """The run reached its last step; ``metrics``: the best validation and the test metrics."""

    kind = "done"
    step: int | None = None
    total: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Failed(RunEvent):
    kind = "failed"
    error: str = ""


@dataclass(frozen=True, kw_only=True)
class Cancelled(RunEvent):
    """Stopped on request (SIGTERM) after a checkpoint at ``step``; it can be resumed."""

    kind = "cancelled"
    step: int | None = None
    total: int | None = None


KINDS = kinds_of(Started, Progress, Resumed, Eval, CategoryEval, Best, Checkpoint, Done, Failed, Cancelled)
TERMINAL = ("done", "failed", "cancelled")


def parse_event(record: Any) -> RunEvent | None:
    """The run event in a decoded JSON line, ``None`` for anything else (unknown kind, wrong field types)."""
    return decode(record, KINDS)  # type: ignore[return-value]


def parse_line(line: str | bytes) -> RunEvent | None:
    """The run event on one line, ``None`` for a line that does not decode (whatever its depth) or is no event."""
    return parse_event(loads(line))


class EventWriter:
    """Appends events to a run's events file (and stdout); ``listener`` gets each event as it is written."""

    def __init__(
        self,
        path: Path | None,
        stdout: bool = False,
        enabled: bool = True,
        listener: Callable[[RunEvent], None] | None = None,
    ) -> None:
        self.enabled = enabled
        self.listener = listener
        self._file: IO[str] | None = path.open("a", encoding="utf-8") if (path and enabled) else None
        self._stdout = stdout and enabled

    def emit(self, event: RunEvent) -> RunEvent:
        """Write ``event``, stamped with the time now (unless it has one); returns the stamped event."""
        if event.time is None:
            event = dataclasses.replace(event, time=round(time.time(), 3))
        if not self.enabled:
            return event
        line = json.dumps(event.to_record(), default=_jsonable)
        if self._file is not None:
            self._file.write(line + "\n")
            self._file.flush()
        if self._stdout:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        if self.listener is not None:
            self.listener(event)
        return event

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every complete JSON line of an events file, as written (a half-written last line is ignored)."""
    events = []
    if not path.exists():
        return events
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            record = loads(line)
            if record is not None:
                events.append(record)
    return events


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)
