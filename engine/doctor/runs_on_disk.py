"""Runs as their folders record them (each run folder's config file and events, :class:`RunFolder`): what the
doctor rebuilds the catalogue's runs table from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from engine.catalog.run_status import INTERRUPTED
from engine.names import name_problem
from engine.run.events import TERMINAL, Done, Resumed, RunEvent, Started, parse_line
from engine.run.folder import RunFolder
from engine.workspace import Workspace


@dataclass
class RunOnDisk:
    name: str
    run_dir: Path
    config: dict[str, Any]
    status: str  # the last terminal event's, else "interrupted"
    metrics: dict[str, Any] = field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None


def run_dirs(workspace: Workspace) -> dict[str, Path]:
    """Run folders (those holding a config file) by name."""
    if not workspace.runs.is_dir():
        return {}
    return {p.name: p for p in sorted(workspace.runs.iterdir())
            if p.is_dir() and name_problem(p.name) is None and RunFolder(p).config.is_file()}


def read_run(run_dir: Path) -> RunOnDisk:
    """The run a folder records; a damaged config or events file gives what could be read."""
    folder = RunFolder(run_dir)
    try:
        config = yaml.safe_load(folder.config.read_text(encoding="utf-8", errors="replace")) or {}
    except (OSError, yaml.YAMLError):
        config = {}
    if not isinstance(config, dict):
        config = {}
    run = RunOnDisk(run_dir.name, run_dir, config, INTERRUPTED)
    for event in _events(folder.events):
        when = _time(event.time)
        if isinstance(event, Started) and run.started_at is None:
            run.started_at = when
        if event.kind in TERMINAL:
            run.status, run.finished_at = event.kind, when
            if isinstance(event, Done):
                run.metrics = event.metrics
        elif isinstance(event, (Started, Resumed)):
            run.status, run.finished_at = INTERRUPTED, None  # a later start reopens the run
    return run


def _events(path: Path) -> list[RunEvent]:
    """The run events of an events file; a line that is not a known, well-formed event is skipped."""
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return []
    return [event for line in text.splitlines() if (event := parse_line(line)) is not None]


def _time(value: float | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (ValueError, OverflowError, OSError):
        return None
