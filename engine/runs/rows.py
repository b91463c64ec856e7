"""A run's catalogue row as a follower needs it: plain values, read in one look at the catalogue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.catalog.run_status import effective_status
from engine.run.folder import RunFolder
from engine.workspace import Workspace


@dataclass
class RowData:
    id: int
    name: str
    loss: str
    dataset: str
    status: str  # the catalogue's: running / done / failed / cancelled
    pid: int | None
    alive: bool  # status is running and ``pid`` is a live trainer
    run_dir: str
    config: dict[str, Any]
    metrics: dict[str, Any]
    started_at: float | None
    finished_at: float | None
    kind: str = "train"  # the catalogue's run kind: train, or pretrained (a zero-shot run: weights as they are)


def row_data(run: Any, datasets: dict[int, str], workspace: Workspace) -> RowData:
    """``run``: a catalogue :class:`~engine.catalog.models.Run`; ``datasets``: dataset names by id."""
    config = dict(run.config or {})
    return RowData(
        run.id, run.name, run.loss, datasets.get(run.dataset_id, config.get("dataset", "")), run.status, run.pid,
        effective_status(run) == "running", run.run_dir or str(RunFolder.of(workspace, run.name).path), config,
        dict(run.metrics or {}), _timestamp(run.started_at), _timestamp(run.finished_at),
        str(getattr(run, "kind", None) or "train"),
    )


def _timestamp(value: Any) -> float | None:
    return value.timestamp() if value is not None and hasattr(value, "timestamp") else None
