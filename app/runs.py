"""The runs of a workspace, followed live: catalogue rows plus each run's ``events.jsonl`` and ``trainer.log``,
tailed in a worker.

* :class:`TrainingJobs` (one per application, :func:`training_jobs`) starts the ``trainer train`` processes,
  detached (:class:`~app.detached.DetachedJob`): they outlive the pages and the application itself, so
  closing the Training page, or quitting, does not stop a run. Their output goes to ``runs/<name>/trainer.log``.
* :class:`RunsModel` (one per page) polls the catalogue and reads the new bytes of every run's events file
  and log from the offset it stopped at, on its own one-thread pool, never on the GUI thread. A run whose row
  says ``running`` and whose pid is a live process is followed by tailing its files; no child process is
  needed, so runs started from a terminal, or by an earlier app session, are shown and followed the same way.
  A ``running`` row whose process is gone is shown as ``interrupted`` (it can be resumed).
* :class:`RunsTableModel`: the Qt table of runs (name, loss, dataset, status, progress, best metrics).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import (
    QAbstractTableModel,
    QCoreApplication,
    QFileSystemWatcher,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QThreadPool,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QFont

from app.detached import DetachedJob, process_alive
from app.tasks import submit
from engine.train.flags import resume_args
from engine.workspace import Workspace

TERMINAL = ("done", "failed", "cancelled")
LIVE = ("running", "starting")
#: Most bytes of one events file read per scan (a huge file is loaded over several scans, the GUI stays live).
READ_CHUNK = 2 << 20
LOG_KEEP = 5000
FAST_POLL_MS = 500
SLOW_POLL_MS = 3000

_CATALOG_LOCK = threading.Lock()


def open_catalog(workspace: Workspace) -> Any:
    """``workspace.catalog()``, one opening at a time in this process: two threads creating the schema of a
    new catalogue at once would both try to create its tables."""
    with _CATALOG_LOCK:
        return workspace.catalog()


# ---- worker side: catalogue rows and new event lines ----------------------------------------------------------
@dataclass
class RowData:
    id: int
    name: str
    loss: str
    dataset: str
    status: str
    pid: int | None
    alive: bool
    run_dir: str
    config: dict[str, Any]
    metrics: dict[str, Any]
    started_at: float | None
    finished_at: float | None


@dataclass
class TailPos:
    path: str
    inode: int = 0
    offset: int = 0
    head: bytes = b""  # the file's first bytes: a file rewritten in place (same inode) reads as new


HEAD_BYTES = 64
LOG_NAME = "trainer.log"
#: A log is shown from this many bytes before its end (its first lines rarely matter).
LOG_FIRST_BYTES = 256 << 10


@dataclass
class TailRead:
    path: str
    inode: int
    head: bytes
    start: int  # the offset this read started from (the model ignores a read that no longer fits)
    offset: int  # where the next read starts
    events: list[dict[str, Any]]
    reset: bool  # the file was replaced or truncated: everything known about the run's events is void
    more: bool  # bytes left to read
    lines: list[str] = field(default_factory=list)  # the text lines read (a log; events files give events)


@dataclass
class ScanResult:
    rows: list[RowData]
    tails: dict[str, TailRead]
    more: bool
    logs: dict[str, TailRead] = field(default_factory=dict)


def _read_new(pos: TailPos, limit: int, first: int | None = None) -> tuple[TailRead, bytes]:
    """The complete lines appended to ``pos.path`` since ``pos.offset``, as bytes (a half-written last line
    waits). ``first``: on a first read, start this many bytes before the end (at a line start)."""
    path = Path(pos.path)
    try:
        st = path.stat()
        f = path.open("rb")
    except OSError:
        return TailRead(pos.path, 0, b"", pos.offset, 0, [], reset=pos.offset > 0, more=False), b""
    with f:
        head = f.read(HEAD_BYTES)
        reset = bool(pos.offset) and (
            (bool(pos.inode) and st.st_ino != pos.inode) or st.st_size < pos.offset
            or head[: len(pos.head)] != pos.head
        )
        start = 0 if reset else pos.offset
        skip_partial = False
        if first is not None and not pos.offset and not pos.inode and st.st_size > first:
            start, skip_partial = st.st_size - first, True
        if st.st_size <= start:
            return TailRead(pos.path, st.st_ino, head, pos.offset, start, [], reset, False), b""
        f.seek(start)
        data = f.read(min(limit, st.st_size - start))
    if skip_partial:
        cut = data.find(b"\n") + 1
        start, data = start + cut, data[cut:] if cut else b""
    end = data.rfind(b"\n")
    if end < 0:
        return TailRead(pos.path, st.st_ino, head, pos.offset, start, [], reset, len(data) >= limit), b""
    offset = start + end + 1
    return TailRead(pos.path, st.st_ino, head, pos.offset, offset, [], reset, offset < st.st_size), data[: end + 1]


def read_tail(pos: TailPos, limit: int = READ_CHUNK) -> TailRead:
    """The events of the complete lines appended to ``pos.path`` since ``pos.offset`` (a half-written last line
    waits).

    A file that was replaced (another inode), truncated, or rewritten in place (its first bytes changed) is
    read again from the start, with ``reset`` set.
    """
    read, data = _read_new(pos, limit)
    for line in data.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            read.events.append(event)
    return read


def read_log(pos: TailPos, limit: int = READ_CHUNK) -> TailRead:
    """The new non-empty text lines of a log (``trainer.log``); a first read takes its last
    :data:`LOG_FIRST_BYTES` only."""
    read, data = _read_new(pos, limit, first=LOG_FIRST_BYTES)
    text = data.decode("utf-8", errors="replace")
    read.lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    return read


def log_path(run_dir: str | Path) -> Path:
    """Where the app puts the output of a run it starts (:mod:`app.detached`)."""
    return Path(run_dir) / LOG_NAME


def _timestamp(value: Any) -> float | None:
    return value.timestamp() if value is not None and hasattr(value, "timestamp") else None


def scan_runs(catalog: Any, workspace: Workspace, tails: dict[str, TailPos], logs: dict[str, TailPos],
              pending: Iterable[str] = ()) -> ScanResult:
    """One look at the catalogue, every run's events file and every run's log (runs in a worker thread).

    ``pending``: runs this app launched that may not be in the catalogue yet (their logs are read too)."""
    datasets = {d.id: d.name for d in catalog.datasets()}
    rows: list[RowData] = []
    reads: dict[str, TailRead] = {}
    log_reads: dict[str, TailRead] = {}
    more = False

    def read_log_of(name: str, run_dir: str) -> None:
        nonlocal more
        path = str(log_path(run_dir))
        pos = logs.get(name)
        if pos is None or pos.path != path:
            pos = TailPos(path)
        log_reads[name] = read = read_log(pos)
        more = more or read.more

    for run in catalog.runs():
        run_dir = run.run_dir or str(workspace.runs / run.name)
        alive = run.status == "running" and process_alive(run.pid)
        rows.append(RowData(
            run.id, run.name, run.loss, datasets.get(run.dataset_id, (run.config or {}).get("dataset", "")),
            run.status, run.pid, alive, run_dir, dict(run.config or {}), dict(run.metrics or {}),
            _timestamp(run.started_at), _timestamp(run.finished_at),
        ))
        events_path = str(Path(run_dir) / "events.jsonl")
        pos = tails.get(run.name)
        if pos is None or pos.path != events_path:
            pos = TailPos(events_path)
        read = read_tail(pos)
        reads[run.name] = read
        more = more or read.more
        read_log_of(run.name, run_dir)
    for name in pending:
        if name not in log_reads:
            read_log_of(name, str(workspace.runs / name))
    return ScanResult(rows, reads, more, log_reads)


# ---- GUI side: one run's state -------------------------------------------------------------------------------
@dataclass
class RunState:
    name: str
    id: int = 1 << 60
    loss: str = ""
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
    job_running: bool = False  # a process this app started (and follows) is running it
    job_error: str = ""
    # from the events file
    tail: TailPos | None = None
    log_tail: TailPos | None = None  # the run's trainer.log
    step: int = 0
    total: int = 0
    device: str = ""
    last_progress: dict[str, Any] = field(default_factory=dict)
    loss_points: list[tuple[int, float]] = field(default_factory=list)
    part_points: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    evals: list[dict[str, Any]] = field(default_factory=list)
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
    def display_status(self) -> str:
        if self.job_running and self.status != "running":
            return "starting"
        if self.status == "running":
            if self.alive or self.job_running:
                return "running"
            return self.ended or "interrupted"
        if not self.in_catalog:
            return "failed" if self.job_error else "starting"
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

    def val_evals(self) -> list[dict[str, Any]]:
        return [e for e in self.evals if e.get("split", "val") == self.val_split]

    def latest_metrics(self, split: str) -> dict[str, float]:
        for e in reversed(self.evals):
            if e.get("split") == split and isinstance(e.get("metrics"), dict):
                return e["metrics"]
        stored = self.metrics.get(split)
        return stored if isinstance(stored, dict) else {}

    def best_val_metrics(self) -> dict[str, float]:
        """The validation metrics of the best checkpoint (or the latest validation)."""
        val = self.metrics.get("val")
        if self.best_step is not None:
            for e in self.val_evals():
                if e.get("step") == self.best_step:
                    return e.get("metrics", {})
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
        self.last_progress = {}
        self.loss_points, self.part_points, self.evals = [], {}, []
        self.best_step = self.best_score = None
        self.best_path = self.last_checkpoint = ""
        self.ended = None
        self.error = ""

    def apply(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "progress":
            step = int(event.get("step", 0))
            self.step, self.total = step, int(event.get("total") or self.total)
            self.last_progress = event
            loss = event.get("loss")
            if isinstance(loss, (int, float)):
                self.loss_points.append((step, float(loss)))
            for part, value in (event.get("parts") or {}).items():
                if isinstance(value, (int, float)):
                    self.part_points.setdefault(part, []).append((step, float(value)))
            every = max(1, self.total // 20) if self.total else 1
            if step == 1 or step % every == 0 or step == self.total:
                self.add_log(f"step {step}/{self.total}  loss {_num(loss)}  lr {_num(event.get('lr'))}  "
                             f"{_num(event.get('samples_per_second'), 1)} samples/s")
        elif kind == "started":
            self.ended, self.error = None, ""
            self.total = int(event.get("total") or self.total)
            self.step = int(event.get("step") or 0)
            self.device = str(event.get("device") or "")
            extra = f", {event.get('world_size')} processes" if (event.get("world_size") or 1) > 1 else ""
            self.add_log(f"started: {event.get('loss', '')} on {event.get('dataset', '')} "
                         f"({event.get('items', '?')} train items), model {event.get('model', '')}, "
                         f"{self.total} steps, {self.device}{extra}")
        elif kind == "resumed":
            step = int(event.get("step", 0))
            self.loss_points = [p for p in self.loss_points if p[0] <= step]
            self.part_points = {k: [p for p in v if p[0] <= step] for k, v in self.part_points.items()}
            self.evals = [e for e in self.evals if int(e.get("step", 0)) <= step]
            self.step = step
            self.add_log(f"resumed from step {step} ({Path(str(event.get('path', ''))).name})")
        elif kind == "eval":
            self.evals.append(event)
            metrics = event.get("metrics") or {}
            mean = metrics.get("mean_R@1")
            self.add_log(f"eval on {event.get('split', '?')} at step {event.get('step', '?')}: "
                         f"mean R@1 {_pct(mean)}, mean R@5 {_pct(metrics.get('mean_R@5'))}")
        elif kind == "best":
            self.best_step = int(event.get("step", 0))
            self.best_score = float(event.get("score", 0.0))
            self.best_path = str(event.get("path", ""))
            self.add_log(f"★ new best at step {self.best_step} (score {_pct(self.best_score)})")
        elif kind == "checkpoint":
            self.last_checkpoint = str(event.get("path", ""))
            self.add_log(f"checkpoint at step {event.get('step', '?')}")
        elif kind in TERMINAL:
            self.ended = kind
            if kind == "failed":
                self.error = str(event.get("error", ""))
                self.add_log(f"failed: {self.error}")
            elif kind == "cancelled":
                self.add_log(f"cancelled at step {event.get('step', self.step)}")
            else:
                self.add_log(f"done at step {event.get('step', self.step)}")

    def update_row(self, row: RowData) -> bool:
        before = (self.id, self.loss, self.dataset, self.status, self.pid, self.alive, self.run_dir, self.metrics,
                  self.config, self.in_catalog, self.finished_at)
        self.id, self.loss, self.dataset, self.status = row.id, row.loss, row.dataset, row.status
        self.pid, self.alive, self.run_dir = row.pid, row.alive, row.run_dir
        self.config, self.metrics = row.config, row.metrics
        self.started_at, self.finished_at = row.started_at, row.finished_at
        self.in_catalog = True
        return before != (self.id, self.loss, self.dataset, self.status, self.pid, self.alive, self.run_dir,
                          self.metrics, self.config, self.in_catalog, self.finished_at)


def _num(value: Any, digits: int = 4) -> str:
    if not isinstance(value, (int, float)) or math.isnan(value):
        return "-"
    return f"{value:.{digits}g}" if digits > 1 else f"{value:.1f}"


def _pct(value: Any) -> str:
    return f"{100 * value:.1f}%" if isinstance(value, (int, float)) and not math.isnan(value) else "-"


# ---- the application-wide owner of training processes -----------------------------------------------------------
def without_events_flag(args: list[str]) -> list[str]:
    """``args`` less ``--events -`` (a detached run's events are read from its events.jsonl)."""
    out = list(args)
    while "--events" in out:
        i = out.index("--events")
        del out[i: i + 2]
    return out


class TrainingJobs(QObject):
    """The ``trainer train`` processes this application started, by (workspace, run name).

    They are detached (:class:`~app.detached.DetachedJob`): not children, they outlive the app. At quit
    (:meth:`release`) the app only stops following them; a later session follows them again from the catalogue
    and their events.jsonl, like runs started from a terminal.

    Signals carry the workspace root: ``finished(root, name, exit_code, error)``, ``started(root, name)``.
    """

    finished = Signal(str, str, int, str)
    started = Signal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._jobs: dict[tuple[str, str], DetachedJob] = {}
        self._errors: dict[tuple[str, str], str] = {}
        self._pool = QThreadPool(self)  # starts and probes the processes
        self._pool.setMaxThreadCount(1)

    def launch(self, workspace: Workspace, name: str, args: list[str]) -> DetachedJob:
        """Start ``trainer <args>`` for run ``name``, detached, its output in ``runs/<name>/trainer.log``."""
        key = (str(workspace.root), name)
        old = self._jobs.get(key)
        if old is not None and old.running:
            raise RuntimeError(f"run {name!r} is already running")
        run_dir = workspace.runs / name
        job = DetachedJob(without_events_flag(args), workspace.root, log_path(run_dir), run_dir / "events.jsonl",
                          title=f"train {name}", parent=self, pool=self._pool)
        self._jobs[key] = job
        self._errors.pop(key, None)
        job.exited.connect(lambda code, error, k=key, j=job: self._finished(k, j, code, error))
        job.start()
        self.started.emit(*key)
        return job

    def _finished(self, key: tuple[str, str], job: DetachedJob, code: int, error: str) -> None:
        if code != 0:
            self._errors[key] = error or f"trainer exited with code {code}"
        if self._jobs.get(key) is job:
            del self._jobs[key]
        job.deleteLater()
        self.finished.emit(key[0], key[1], code, error)

    def job(self, workspace: Workspace, name: str) -> DetachedJob | None:
        return self._jobs.get((str(workspace.root), name))

    def jobs(self) -> list[DetachedJob]:
        return list(self._jobs.values())

    def running(self, workspace: Workspace | None = None) -> list[str]:
        root = str(workspace.root) if workspace else None
        return [n for (r, n), j in self._jobs.items() if j.running and (root is None or r == root)]

    def names(self, workspace: Workspace) -> list[str]:
        """Runs this application launched in ``workspace`` (running, or ended with an error it remembers)."""
        root = str(workspace.root)
        return [n for (r, n) in {**self._jobs, **self._errors} if r == root]

    def error(self, workspace: Workspace, name: str) -> str:
        return self._errors.get((str(workspace.root), name), "")

    def forget(self, workspace: Workspace, name: str) -> None:
        self._errors.pop((str(workspace.root), name), None)

    def cancel_all(self) -> None:
        for job in list(self._jobs.values()):
            job.cancel()

    def release(self) -> None:
        """At quit: stop following the runs, without waiting and without stopping them (they go on training;
        the next session shows them live again)."""
        for job in self._jobs.values():
            job.stop_following()


_jobs: TrainingJobs | None = None


def training_jobs() -> TrainingJobs:
    """The application's :class:`TrainingJobs` (created on first use, owned by the QApplication)."""
    global _jobs
    app = QCoreApplication.instance()
    if _jobs is None or not shiboken6.isValid(_jobs) or (app is not None and _jobs.parent() is not app):
        _jobs = TrainingJobs(app)
        if app is not None:
            app.aboutToQuit.connect(_jobs.release)
    return _jobs


# ---- the model of one page ----------------------------------------------------------------------------------------
class RunsModel(QObject):
    """Every run of a workspace with its live state.

    Signals: ``runsChanged()`` (runs appeared or disappeared), ``runUpdated(name)`` (a row or new events),
    ``refreshed(int)`` (a scan was applied; the number of runs), ``error(str)``, ``jobFinished(name, code,
    error)`` (a trainer process this application started has exited).
    """

    runsChanged = Signal()
    runUpdated = Signal(str)
    refreshed = Signal(int)
    error = Signal(str)
    jobFinished = Signal(str, int, str)  # run name, exit code, the engine's one-line error

    def __init__(self, workspace: Workspace, parent: QObject | None = None,
                 jobs: TrainingJobs | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.jobs = jobs or training_jobs()
        self._states: dict[str, RunState] = {}
        self._order: list[str] = []
        self._catalog: Any = None
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._tasks: deque[object] = deque(maxlen=16)  # keeps the Task wrappers alive while they run
        self._busy = False
        self._again = False
        self._closed = False
        self._last_error = ""
        self._poll = QTimer(self)
        self._poll.setSingleShot(True)
        self._poll.timeout.connect(self.refresh)
        self._soon = QTimer(self)
        self._soon.setSingleShot(True)
        self._soon.setInterval(60)
        self._soon.timeout.connect(self.refresh)
        self._watcher = QFileSystemWatcher(self)
        self._watcher.fileChanged.connect(lambda _p: self._schedule())
        self._watcher.directoryChanged.connect(lambda _p: self._schedule())
        workspace.runs.mkdir(parents=True, exist_ok=True)
        self._watcher.addPath(str(workspace.runs))
        root = str(workspace.root)
        self.jobs.finished.connect(self._job_finished)
        self.jobs.started.connect(self._job_started)
        self._root = root
        for name in self.jobs.names(workspace):
            self._ensure_pending(name)
        self.refresh()

    # ---- access
    def names(self) -> list[str]:
        return list(self._order)

    def states(self) -> list[RunState]:
        return [self._states[n] for n in self._order]

    def state(self, name: str) -> RunState | None:
        return self._states.get(name)

    def any_live(self) -> bool:
        return any(s.live for s in self._states.values())

    # ---- scanning
    def _schedule(self) -> None:
        """A scan soon; a burst of changes (one per training step) makes one scan, the timer is not restarted."""
        if not self._soon.isActive():
            self._soon.start()

    def refresh(self) -> None:
        """Scan the catalogue and the events files now (in the worker); coalesces with a scan in flight."""
        if self._closed:
            return
        if self._busy:
            self._again = True
            return
        self._busy = True
        self._again = False
        tails = {n: TailPos(s.tail.path, s.tail.inode, s.tail.offset, s.tail.head)
                 for n, s in self._states.items() if s.tail}
        logs = {n: TailPos(s.log_tail.path, s.log_tail.inode, s.log_tail.offset, s.log_tail.head)
                for n, s in self._states.items() if s.log_tail}
        pending = self.jobs.names(self.workspace)
        ws = self.workspace

        def work() -> ScanResult:
            if self._catalog is None:
                self._catalog = open_catalog(ws)
            return scan_runs(self._catalog, ws, tails, logs, pending)

        task = submit(work, self._scanned, self._scan_failed, pool=self._pool)
        self._tasks.append(task)

    def _scanned(self, result: ScanResult) -> None:
        self._busy = False
        if self._closed:
            return
        self._last_error = ""
        added = removed = False
        updated: set[str] = set()
        seen = set()
        for row in result.rows:
            seen.add(row.name)
            state = self._states.get(row.name)
            if state is None:
                state = self._new_state(row.name)
                added = True
            if state.update_row(row):
                updated.add(row.name)
            job = self.jobs.job(self.workspace, row.name)
            state.job_running = job is not None and job.running
            read = result.tails.get(row.name)
            if read is not None and self._apply_read(state, read):
                updated.add(row.name)
        for name, read in result.logs.items():
            state = self._states.get(name)
            if state is not None and self._apply_log(state, read):
                updated.add(name)
        pending = set(self.jobs.names(self.workspace))
        for name in list(self._states):
            if name in seen:
                continue
            if name in pending:
                state = self._states[name]
                state.in_catalog = False
                job = self.jobs.job(self.workspace, name)
                running = job is not None and job.running
                error = self.jobs.error(self.workspace, name)
                if (running, error) != (state.job_running, state.job_error):
                    state.job_running, state.job_error = running, error
                    updated.add(name)
                continue
            del self._states[name]
            self._order.remove(name)
            removed = True
        if added:
            self._order.sort(key=lambda n: (self._states[n].id, n))
        if added or removed:
            self.runsChanged.emit()
        for name in self._order:
            if name in updated:
                self.runUpdated.emit(name)
        self._sync_watches()
        self.refreshed.emit(len(self._order))
        if self._again or result.more:
            self._soon.start(0)
        else:
            self._poll.start(FAST_POLL_MS if self.any_live() else SLOW_POLL_MS)

    def _scan_failed(self, message: str) -> None:
        self._busy = False
        if self._closed:
            return
        first = message.splitlines()[0] if message else "unknown error"
        if first != self._last_error:
            self._last_error = first
            self.error.emit(f"Could not read the runs: {first}")
        self._poll.start(SLOW_POLL_MS)

    def _apply_read(self, state: RunState, read: TailRead) -> bool:
        current = state.tail
        if current is not None and current.path == read.path and read.start != current.offset:
            return False  # a stale read (the state moved on since it was asked for)
        changed = False
        if read.reset and current is not None and current.offset > 0:
            state.reset_events()
            changed = True
        head = read.head[: min(len(read.head), read.offset)]  # only bytes that belong to lines already read
        state.tail = TailPos(read.path, read.inode, read.offset, head)
        for event in read.events:
            state.apply(event)
        return changed or bool(read.events)

    @staticmethod
    def _apply_log(state: RunState, read: TailRead) -> bool:
        current = state.log_tail
        if current is not None and current.path == read.path and read.start != current.offset:
            return False  # stale
        head = read.head[: min(len(read.head), read.offset)]
        state.log_tail = TailPos(read.path, read.inode, read.offset, head)
        for line in read.lines:
            state.add_log(line)
        return bool(read.lines)

    def _new_state(self, name: str) -> RunState:
        state = RunState(name)
        self._states[name] = state
        self._order.append(name)
        return state

    def _ensure_pending(self, name: str) -> RunState:
        state = self._states.get(name)
        if state is None:
            state = self._new_state(name)
            job = self.jobs.job(self.workspace, name)
            state.job_running = job is not None and job.running
            state.job_error = self.jobs.error(self.workspace, name)
            self.runsChanged.emit()
        return state

    def _sync_watches(self) -> None:
        want = {str(Path(s.run_dir or self.workspace.runs / s.name) / "events.jsonl")
                for s in self._states.values() if s.live}
        have = set(self._watcher.files())
        gone = have - want
        if gone:
            self._watcher.removePaths(list(gone))
        new = [p for p in want - have if Path(p).exists()]
        if new:
            self._watcher.addPaths(new)

    # ---- jobs of this app
    def _mine(self, root: str) -> bool:
        return root == self._root and not self._closed

    def _job_started(self, root: str, name: str) -> None:
        if self._mine(root):
            state = self._ensure_pending(name)
            state.job_running, state.job_error = True, ""
            self.runUpdated.emit(name)
            self._schedule()

    def _job_finished(self, root: str, name: str, code: int, error: str) -> None:
        if self._mine(root):
            state = self._states.get(name)
            if state is not None:
                state.job_running = False
                state.job_error = self.jobs.error(self.workspace, name)
                if code != 0:
                    state.add_log(f"trainer stopped with an error: {error}" if error
                                  else f"trainer exited with code {code}")
                self.runUpdated.emit(name)
            self.jobFinished.emit(name, code, error)
            self._schedule()

    # ---- actions
    def launch(self, name: str, args: list[str]) -> None:
        """Start ``trainer <args>`` for run ``name``, detached: it goes on when the application quits."""
        self.jobs.launch(self.workspace, name, args)

    def cancel(self, name: str) -> str:
        """Graceful cancel (SIGTERM): the engine finishes its step, checkpoints, exits. Returns what was done."""
        job = self.jobs.job(self.workspace, name)
        if job is not None and job.running:
            job.cancel()
            return f"Cancelling {name}: the step finishes, then a checkpoint is written."
        state = self._states.get(name)
        if state is not None and state.alive and state.pid:
            try:
                os.kill(state.pid, signal.SIGTERM)
            except OSError as exc:
                return f"Could not signal process {state.pid} of {name}: {exc}"
            self._schedule()
            return f"Cancelling {name} (process {state.pid}): the step finishes, then a checkpoint is written."
        return f"{name} is not running."

    def resume(self, name: str) -> None:
        state = self._states.get(name)
        if state is None or not state.config:
            raise RuntimeError(f"no saved configuration for run {name!r}")
        self.jobs.launch(self.workspace, name, resume_args(name, state.config))

    def delete(self, names: Iterable[str], remove_files: bool, on_done: Callable[[list[str]], None]) -> None:
        """Remove catalogue rows (and, when asked, the run folders) in the worker; ``on_done(messages)``."""
        targets = []
        for name in names:
            state = self._states.get(name)
            if state is None:
                continue
            if state.live:
                raise RuntimeError(f"{name} is still running: cancel it first")
            targets.append((name, state.run_dir, state.in_catalog))
            self.jobs.forget(self.workspace, name)
        ws = self.workspace

        def work() -> list[str]:
            catalog = open_catalog(ws)
            messages = []
            for name, run_dir, in_catalog in targets:
                if in_catalog:
                    catalog.delete_run(name)
                if remove_files and run_dir:
                    messages.append(_remove_run_dir(Path(run_dir), name, ws))
            catalog.close()
            return [m for m in messages if m]

        def done(messages: list[str]) -> None:
            for name, _, in_catalog in targets:
                if not in_catalog and name in self._states:
                    del self._states[name]
                    self._order.remove(name)
                    self.runsChanged.emit()
            on_done(messages)
            self.refresh()

        self._tasks.append(submit(work, done, lambda msg: on_done([msg.splitlines()[0]]), pool=self._pool))

    def close(self) -> None:
        """Stop polling and watching (running jobs go on: they belong to :func:`training_jobs`)."""
        if self._closed:
            return
        self._closed = True
        self._poll.stop()
        self._soon.stop()
        for sig, slot in ((self.jobs.finished, self._job_finished), (self.jobs.started, self._job_started)):
            try:
                sig.disconnect(slot)
            except (RuntimeError, TypeError):
                pass


def _remove_run_dir(run_dir: Path, name: str, ws: Workspace) -> str:
    """Remove a run folder, only when it really is one (named as the run, holding a run's files)."""
    try:
        resolved = run_dir.resolve()
    except OSError:
        return ""
    if not resolved.is_dir():
        return ""
    root = ws.root.resolve()
    looks_like_run = any((resolved / p).exists() for p in ("events.jsonl", "config.yaml", "checkpoints", LOG_NAME))
    if resolved.name != name or not looks_like_run or resolved in (root, *root.parents):
        return f"kept {resolved}: it does not look like the folder of run {name}"
    shutil.rmtree(resolved, ignore_errors=True)
    return "" if not resolved.exists() else f"could not remove every file of {resolved}"


# ---- the table ------------------------------------------------------------------------------------------------------
COLUMNS = ("Run", "Loss", "Dataset", "Status", "Progress", "Best", "Val R@1", "Test R@1", "Test R@5",
           "NDCG@5", "Started")
HEADER_TIPS = {
    "Best": "★ the best checkpoint: its validation mean R@1 and its step",
    "Val R@1": "Mean R@1 over the directions on the validation split, at the best checkpoint",
    "Test R@1": "Mean R@1 over the directions on the test split (best checkpoint)",
    "Test R@5": "Mean R@5 over the directions on the test split (best checkpoint)",
    "NDCG@5": "Mean NDCG@5 over the directions on the test split (best checkpoint)",
}
PROGRESS_COLUMN = COLUMNS.index("Progress")
STATUS_COLUMN = COLUMNS.index("Status")
BEST_COLUMN = COLUMNS.index("Best")
STATUS_COLOURS = {"running": "#1565c0", "starting": "#1565c0", "done": "#2e7d32", "failed": "#c62828",
                  "cancelled": "#8d6e63", "interrupted": "#ef6c00"}
ProgressRole = Qt.ItemDataRole.UserRole + 1
NameRole = Qt.ItemDataRole.UserRole + 2


class RunsTableModel(QAbstractTableModel):
    """One row per run, in the model's order; rows are inserted and removed, never reset (selection stays)."""

    def __init__(self, runs: RunsModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runs = runs
        self._names: list[str] = list(runs.names())
        runs.runsChanged.connect(self._sync)
        runs.runUpdated.connect(self._updated)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._names)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return HEADER_TIPS.get(COLUMNS[section])
        return None

    def name_at(self, row: int) -> str:
        return self._names[row]

    def row_of(self, name: str) -> int:
        return self._names.index(name) if name in self._names else -1

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        state = self.runs.state(self._names[index.row()])
        if state is None:
            return None
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(state, col)
        if role == NameRole:
            return state.name
        if role == ProgressRole:
            return state.fraction
        if role == Qt.ItemDataRole.ForegroundRole and col == STATUS_COLUMN:
            return QColor(STATUS_COLOURS.get(state.display_status, "#444444"))
        if role == Qt.ItemDataRole.FontRole and col in (0, STATUS_COLUMN):
            font = QFont()
            font.setBold(col == 0 or state.live)
            return font
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(state, col)
        if role == Qt.ItemDataRole.TextAlignmentRole and col >= BEST_COLUMN and col != len(COLUMNS) - 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _text(s: RunState, col: int) -> str:
        name = COLUMNS[col]
        if name == "Run":
            return s.name
        if name == "Loss":
            return s.loss or str(s.config.get("loss", ""))
        if name == "Dataset":
            return s.dataset or str(s.config.get("dataset", ""))
        if name == "Status":
            return s.display_status
        if name == "Progress":
            if not s.total:
                return ""
            return f"{s.step}/{s.total}"
        if name == "Best":
            step, score = s.best
            return f"★ {_pct(score)} @{step}" if step is not None else ""
        if name == "Val R@1":
            return _pct(s.best_val_metrics().get("mean_R@1"))
        test = s.latest_metrics("test")
        if name == "Test R@1":
            return _pct(test.get("mean_R@1"))
        if name == "Test R@5":
            return _pct(test.get("mean_R@5"))
        if name == "NDCG@5":
            return _pct(test.get("mean_NDCG@5"))
        if name == "Started":
            return time.strftime("%Y-%m-%d %H:%M", time.localtime(s.started_at)) if s.started_at else ""
        return ""

    @staticmethod
    def _tooltip(s: RunState, col: int) -> str:
        name = COLUMNS[col]
        if name == "Best":
            step, score = s.best
            path = s.best_path or s.metrics.get("best_checkpoint", "")
            return f"best checkpoint: step {step}, mean R@1 {_pct(score)} on {s.val_split}\n{path}" if step else ""
        if name == "Status":
            if s.display_status == "interrupted":
                return "The catalogue says running but its process is gone: resume it from its last checkpoint."
            if s.error or s.job_error:
                return s.error or s.job_error
            return f"pid {s.pid}" if s.live and s.pid else ""
        if name == "Run":
            return s.run_dir
        return ""

    def _sync(self) -> None:
        names = self.runs.names()
        keep = set(names)
        for row in reversed(range(len(self._names))):
            if self._names[row] not in keep:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._names[row]
                self.endRemoveRows()
        have = set(self._names)
        for name in names:
            if name not in have:
                row = len(self._names)
                self.beginInsertRows(QModelIndex(), row, row)
                self._names.append(name)
                self.endInsertRows()

    def _updated(self, name: str) -> None:
        row = self.row_of(name)
        if row >= 0:
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
