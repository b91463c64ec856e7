"""Runs as their folders record them (``runs/<name>/config.yaml`` and ``events.jsonl``): what the doctor
rebuilds the catalogue's runs table from."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from engine.names import name_problem
from engine.workspace import Workspace

TERMINAL = {"done": "done", "failed": "failed", "cancelled": "cancelled"}


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
    """Run folders (those holding a config.yaml) by name."""
    if not workspace.runs.is_dir():
        return {}
    return {p.name: p for p in sorted(workspace.runs.iterdir())
            if p.is_dir() and name_problem(p.name) is None and (p / "config.yaml").is_file()}


def read_run(run_dir: Path) -> RunOnDisk:
    """The run a folder records; a damaged config or events file gives what could be read."""
    try:
        config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8", errors="replace")) or {}
    except (OSError, yaml.YAMLError):
        config = {}
    if not isinstance(config, dict):
        config = {}
    run = RunOnDisk(run_dir.name, run_dir, config, "interrupted")
    for event in _events(run_dir / "events.jsonl"):
        kind, when = event.get("event"), _time(event.get("time"))
        if kind == "started" and run.started_at is None:
            run.started_at = when
        if kind in TERMINAL:
            run.status, run.finished_at = TERMINAL[kind], when
            if kind == "done" and isinstance(event.get("metrics"), dict):
                run.metrics = event["metrics"]
        elif kind in ("started", "resumed"):
            run.status, run.finished_at = "interrupted", None  # a later start reopens the run
    return run


def _events(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return []
    events = []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
