"""The events of a job run with ``--events -`` (``trainer import / index / render / demo-data / demo``): JSON lines
on stdout that the app reads while the job runs (:class:`app.engine_job.EngineJob`).

Kinds (docs/EVENTS.md): :class:`JobProgress` (one stage's count), :class:`JobStage` (``trainer demo``: a stage
begins), :class:`JobRun` (``trainer index --pretrained``: its run) and :class:`JobDone` (the command's report, its
keys at the top level of the line). Unlike a run's events these lines carry no ``"time"``. ``trainer demo`` also
streams its runs' events (:mod:`engine.run.events`) on the same stdout. :func:`parse_job_event` gives ``None``
for anything else.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from engine.event_codec import Event, decode, kinds_of


@dataclass(frozen=True, kw_only=True)
class JobProgress(Event):
    """``done`` of ``total`` units of ``stage`` (``total`` is ``None`` while unknown)."""

    kind = "progress"
    stage: str
    done: int
    total: int | None


@dataclass(frozen=True, kw_only=True)
class JobStage(Event):
    """A stage of ``trainer demo`` begins (``data``, ``train``, ``index``, ``done``), with a line for people."""

    kind = "stage"
    stage: str
    message: str = ""


@dataclass(frozen=True, kw_only=True)
class JobRun(Event):
    """``trainer index --pretrained`` made (or found) the zero-shot run it indexes."""

    kind = "run"
    run: str
    run_kind: str = "pretrained"
    created: bool = True
    checkpoint: str = ""


@dataclass(frozen=True, kw_only=True)
class JobDone(Event):
    """The job succeeded; ``result`` is its report (the same object as its ``--json`` output, flattened)."""

    kind = "done"
    result: dict[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return {"event": self.kind, **self.result}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> JobDone:
        return cls(result={k: v for k, v in record.items() if k != "event"})


KINDS = kinds_of(JobProgress, JobStage, JobRun, JobDone)
JobEvent = JobProgress | JobStage | JobRun | JobDone


def parse_job_event(record: Any) -> JobEvent | None:
    """The job event in a decoded JSON line, ``None`` for anything else (unknown kind, wrong field types)."""
    return decode(record, KINDS)  # type: ignore[return-value]


def write_job_event(event: JobEvent, stream: IO[str] | None = None) -> None:
    """One line on ``stream`` (stdout by default), flushed at once (the app shows it as it comes)."""
    out = stream or sys.stdout
    out.write(json.dumps(event.to_record(), default=str) + "\n")
    out.flush()
