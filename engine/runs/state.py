"""One run's state, followed: its catalogue row plus what its events and log said, reduced event by event.

:meth:`RunState.apply` is the reducer: one small method per event kind (a kind it does not know changes
nothing). :meth:`RunState.apply_read` / :meth:`RunState.apply_log` take what :mod:`engine.runs.tail` read and
move the state's file positions on; a stale read (the state moved on since it was asked for) is ignored, and a
reset (the file was replaced) voids what the events said. The state is plain data: no threads, no Qt; the app
(``app.runs``) and ``trainer runs`` (``trainer.commands.runs``) both use it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.catalog.models import PRETRAINED_RUN
from engine.fmt import num, pct
from engine.metric_keys import CATEGORY_MEAN_TOP1, CATEGORY_TOP1, CATEGORY_TOP5, mean_key
from engine.run.events import (
    Best,
    Cancelled,
    CategoryEval,
    Checkpoint,
    Done,
    Eval,
    Failed,
    Progress,
    Resumed,
    RunEvent,
    Started,
)
from engine.runs.rows import RowData
from engine.runs.tail import TailPos, TailRead

LIVE = ("running", "starting")
#: The log keeps at least this many lines (and drops the oldest once it has twice as many).
LOG_KEEP = 5000


@dataclass
class RunState:
    name: str
    id: int = 1 << 60
    loss: str = ""  # a zero-shot run's is "zero-shot" (engine.train.zero_shot.LOSS_LABEL)
    kind: str = "train"  # the catalogue's run kind: train, or pretrained (zero-shot)
    dataset: str = ""
    status: str = "starting"  # the catalogue's status ("starting" before the engine wrote the row)
    pid: int | None = None
    alive: bool = False
    run_dir: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    started_at: float | None = None
    finished_at: float | None = None
    in_catalog: bool = False
    # from the events file
    tail: TailPos | None = None
    log_tail: TailPos | None = None  # the run's trainer.log
    skipped_events: int = 0  # events lines that were not a known, well-formed event
    step: int = 0
    total: int = 0
    device: str = ""
    last_progress: Progress | None = None
    loss_points: list[tuple[int, float]] = field(default_factory=list)
    part_points: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    evals: list[Eval] = field(default_factory=list)
    category_evals: list[CategoryEval] = field(default_factory=list)  # `trainer eval --by-category`, oldest first
    best_step: int | None = None
    best_score: float | None = None
    best_path: str = ""
    last_checkpoint: str = ""
    ended: str | None = None  # the last terminal event seen (done / failed / cancelled)
    error: str = ""
    log: list[str] = field(default_factory=list)
    log_dropped: int = 0

    # ---- derived
    @property
    def zero_shot(self) -> bool:
        """A run of kind ``pretrained``: pretrained weights as they are, no training (its loss reads "zero-shot")."""
        return self.kind == PRETRAINED_RUN

    @property
    def display_status(self) -> str:
        """The catalogue's status, except that a ``running`` row whose process is gone shows how its events
        ended, else ``interrupted`` (it can be resumed)."""
        if self.status == "running" and not self.alive:
            return self.ended or "interrupted"
        return self.status

    @property
    def live(self) -> bool:
        return self.display_status in LIVE

    @property
    def val_split(self) -> str:
        return str(self.config.get("val_split") or "val")

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / self.total) if self.total else 0.0

    @property
    def log_total(self) -> int:
        return self.log_dropped + len(self.log)

    def val_evals(self) -> list[Eval]:
        return [e for e in self.evals if e.split == self.val_split]

    def latest_metrics(self, split: str) -> dict[str, float]:
        for e in reversed(self.evals):
            if e.split == split:
                return e.metrics
        stored = self.metrics.get(split)
        return stored if isinstance(stored, dict) else {}

    def latest_category_eval(self, split: str | None = None, dataset: str | None = None) -> CategoryEval | None:
        """The newest by-category evaluation (of ``split`` and ``dataset`` when given), None when there is none."""
        for e in reversed(self.category_evals):
            if (split is None or e.split == split) and (dataset is None or e.dataset == dataset):
                return e
        return None

    def best_val_metrics(self) -> dict[str, float]:
        """The validation metrics of the best checkpoint (or the latest validation)."""
        val = self.metrics.get("val")
        if self.best_step is not None:
            for e in self.val_evals():
                if e.step == self.best_step:
                    return e.metrics
        if isinstance(val, dict) and val:
            return val
        return self.latest_metrics(self.val_split)

    @property
    def best(self) -> tuple[int | None, float | None]:
        step = self.best_step if self.best_step is not None else self.metrics.get("best_step")
        score = self.best_score if self.best_score is not None else self.metrics.get("best_score")
        return step, score

    # ---- updates
    def add_log(self, line: str) -> None:
        self.log.append(line)
        if len(self.log) > 2 * LOG_KEEP:
            drop = len(self.log) - LOG_KEEP
            del self.log[:drop]
            self.log_dropped += drop

    def reset_events(self) -> None:
        self.step = self.total = 0
        self.last_progress = None
        self.loss_points, self.part_points, self.evals, self.category_evals = [], {}, [], []
        self.best_step = self.best_score = None
        self.best_path = self.last_checkpoint = ""
        self.ended = None
        self.error = ""
        self.skipped_events = 0

    def update_row(self, row: RowData) -> bool:
        """Take the catalogue's row; True when something shown changed."""
        before = (self.id, self.loss, self.kind, self.dataset, self.status, self.pid, self.alive, self.run_dir,
                  self.metrics, self.config, self.in_catalog, self.finished_at)
        self.id, self.loss, self.dataset, self.status = row.id, row.loss, row.dataset, row.status
        self.kind = row.kind
        self.pid, self.alive, self.run_dir = row.pid, row.alive, row.run_dir
        self.config, self.metrics = row.config, row.metrics
        self.started_at, self.finished_at = row.started_at, row.finished_at
        self.in_catalog = True
        return before != (self.id, self.loss, self.kind, self.dataset, self.status, self.pid, self.alive,
                          self.run_dir, self.metrics, self.config, self.in_catalog, self.finished_at)

    def apply_read(self, read: TailRead) -> bool:
        """Apply the events of a read of this run's events file; True when the state changed."""
        current = self.tail
        if current is not None and current.path == read.path and read.start != current.offset:
            return False  # a stale read
        changed = False
        if read.reset and current is not None and current.offset > 0:
            self.reset_events()
            changed = True
        self.tail = read.next_pos()
        self.skipped_events += read.skipped
        for event in read.events:
            self.apply(event)
        return changed or bool(read.events)

    def apply_log(self, read: TailRead) -> bool:
        """Append the lines of a read of this run's log; True when there were any."""
        current = self.log_tail
        if current is not None and current.path == read.path and read.start != current.offset:
            return False  # stale
        self.log_tail = read.next_pos()
        for line in read.lines:
            self.add_log(line)
        return bool(read.lines)

    # ---- the reducer
    def apply(self, event: RunEvent) -> None:
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    def _on_progress(self, event: Progress) -> None:
        step = event.step
        self.step, self.total = step, int(event.total or self.total)
        self.last_progress = event
        if event.loss is not None:
            self.loss_points.append((step, event.loss))
        for part, value in event.parts.items():
            self.part_points.setdefault(part, []).append((step, value))
        every = max(1, self.total // 20) if self.total else 1
        if step == 1 or step % every == 0 or step == self.total:
            self.add_log(f"step {step}/{self.total}  loss {num(event.loss)}  lr {num(event.lr)}  "
                         f"{num(event.samples_per_second, 1, fixed=True)} samples/s")

    def _on_started(self, event: Started) -> None:
        self.ended, self.error = None, ""
        self.total = int(event.total or self.total)
        self.step = event.step
        self.device = event.device
        extra = f", {event.world_size} processes" if event.world_size > 1 else ""
        items = event.items if event.items is not None else "?"
        self.add_log(f"started: {event.loss} on {event.dataset} ({items} train items), model {event.model}, "
                     f"{self.total} steps, {self.device}{extra}")
        if event.note:
            self.add_log(f"note: {event.note}")

    def _on_resumed(self, event: Resumed) -> None:
        step = event.step
        self.loss_points = [p for p in self.loss_points if p[0] <= step]
        self.part_points = {k: [p for p in v if p[0] <= step] for k, v in self.part_points.items()}
        self.evals = [e for e in self.evals if e.step <= step]
        self.category_evals = [e for e in self.category_evals if e.step <= step]
        self.step = step
        self.add_log(f"resumed from step {step} ({Path(event.path).name})")

    def _on_eval(self, event: Eval) -> None:
        self.evals.append(event)
        metrics = event.metrics
        self.add_log(f"eval on {event.split} at step {event.step}: "
                     f"mean R@1 {pct(metrics.get(mean_key('R@1')))}, mean R@5 {pct(metrics.get(mean_key('R@5')))}")

    def _on_category_eval(self, event: CategoryEval) -> None:
        self.category_evals.append(event)
        m = event.metrics
        self.add_log(f"by-category eval on {event.dataset}/{event.split} at step {event.step}: "
                     f"top-1 {pct(m.get(CATEGORY_TOP1))}, top-5 {pct(m.get(CATEGORY_TOP5))}, "
                     f"mean per category {pct(m.get(CATEGORY_MEAN_TOP1))}")

    def _on_best(self, event: Best) -> None:
        self.best_step, self.best_score, self.best_path = event.step, event.score, event.path
        self.add_log(f"★ new best at step {self.best_step} (score {pct(self.best_score)})")

    def _on_checkpoint(self, event: Checkpoint) -> None:
        self.last_checkpoint = event.path
        self.add_log(f"checkpoint at step {event.step}")

    def _on_done(self, event: Done) -> None:
        self.ended = event.kind
        self.add_log(f"done at step {event.step if event.step is not None else self.step}")

    def _on_failed(self, event: Failed) -> None:
        self.ended, self.error = event.kind, event.error
        self.add_log(f"failed: {self.error}")

    def _on_cancelled(self, event: Cancelled) -> None:
        self.ended = event.kind
        self.add_log(f"cancelled at step {event.step if event.step is not None else self.step}")


_HANDLERS: dict[type[RunEvent], Callable[[RunState, Any], None]] = {
    Progress: RunState._on_progress,
    Started: RunState._on_started,
    Resumed: RunState._on_resumed,
    Eval: RunState._on_eval,
    CategoryEval: RunState._on_category_eval,
    Best: RunState._on_best,
    Checkpoint: RunState._on_checkpoint,
    Done: RunState._on_done,
    Failed: RunState._on_failed,
    Cancelled: RunState._on_cancelled,
}
