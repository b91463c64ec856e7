"""A job made of stages run one after the other: :class:`StagedJob`, a :class:`~app.job_interface.Job`.

Each :class:`Stage` has a label ("rendering") and a factory that builds its job when its turn comes (typically an
:class:`~app.engine_job.EngineJob`: one child process per stage). The staged job shows one bar: stage ``k`` of ``n``
fills the ``k``-th ``n``-th of it, by its own progress events, with the message ``"k/n label"`` (and the child's
counts; the bar never goes back within a stage, though a child may count several steps from 0). It ends

* ``finished(results)`` once every stage finished: ``results`` holds each stage's result (a ``trainer`` job's ``done``
  report, or None), in order;
* ``failed("<label> failed: <the stage's one line>")`` when a stage failed; the stages before it keep what they did
  and the later ones are not started;
* ``cancelled()`` after :meth:`cancel`: the running stage is cancelled (a child gets SIGTERM) and no later one starts.

The staged job owns its stages' jobs (one built without a parent becomes its child). Used by "Open a folder…"
(import, render, index: :mod:`app.open_folder`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal

from app.job_interface import Job

__all__ = ["STEPS", "Stage", "StagedJob"]

STEPS = 1000  # bar units per stage


@dataclass(frozen=True)
class Stage:
    """One stage: its label, the factory of its job (called when the stage starts; the job is not started yet),
    and the child's own name for its progress that says no more than the label (``"import"``: not repeated)."""

    label: str
    make: Callable[[], Job]
    quiet: str = ""


class StagedJob(QObject):
    """Stages as one job (see the module docstring). Besides the protocol's signals: ``stage_started(index, text)``
    when a stage's job starts (``text``: ``"2/3 rendering"``)."""

    progress = Signal(int, int, str)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    stage_started = Signal(int, str)

    def __init__(self, stages: Sequence[Stage], title: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.stages = list(stages)
        self.title = title
        self.results: list[object] = []  # each finished stage's result
        self.current: Job | None = None  # the running stage's job
        self.index = -1  # the running (or last) stage
        self._started = False
        self._ended = False
        self._cancel_requested = False
        self._within = 0  # how far the running stage has come, in STEPS

    @property
    def running(self) -> bool:
        return self._started and not self._ended

    def stage_text(self, index: int) -> str:
        return f"{index + 1}/{len(self.stages)} {self.stages[index].label}"

    def start(self) -> None:
        if self._started:
            raise RuntimeError(f"job {self.title!r} was already started")
        self._started = True
        QTimer.singleShot(0, self, self._next)  # never end from inside start()

    def cancel(self) -> None:
        """Cancel the running stage (it ends ``cancelled``, and so does this job); no later stage starts."""
        if self._ended or self._cancel_requested:
            return
        self._cancel_requested = True
        if self.current is not None and self.current.running:
            self.current.cancel()
        elif self._started:
            QTimer.singleShot(0, self, self._end_cancelled)  # between stages: nothing to stop

    # ---- the stages ---------------------------------------------------------------------------------------------
    def _next(self) -> None:
        if self._ended:
            return
        if self._cancel_requested:
            self._end_cancelled()
            return
        self.index += 1
        if self.index >= len(self.stages):
            self._ended = True
            self.current = None
            self.finished.emit(list(self.results))
            return
        stage, index = self.stages[self.index], self.index
        job = stage.make()
        if isinstance(job, QObject) and job.parent() is None:
            job.setParent(self)  # the stages' jobs go with this one
        self.current = job
        self._within = 0
        job.progress.connect(lambda done, total, message: self._progress(index, done, total, message))
        job.finished.connect(lambda result: self._stage_finished(index, result))
        job.failed.connect(lambda message: self._stage_failed(index, message))
        job.cancelled.connect(lambda: self._stage_cancelled(index))
        self.progress.emit(index * STEPS, len(self.stages) * STEPS, self.stage_text(index))
        job.start()
        self.stage_started.emit(index, self.stage_text(index))

    def _progress(self, index: int, done: int, total: int, message: str) -> None:
        if self._ended or index != self.index:
            return
        within = min(STEPS, STEPS * done // total) if total > 0 else 0
        within = self._within = max(self._within, within)  # a child's later steps count from 0 again: never back
        text = self.stage_text(index)
        detail = "" if message in ("", self.stages[index].quiet) else message
        if total > 0:
            text += f" ({detail + ' ' if detail else ''}{done:,} of {total:,})"
        elif detail:
            text += f" ({detail})"
        self.progress.emit(index * STEPS + within, len(self.stages) * STEPS, text)

    def _stage_finished(self, index: int, result: object) -> None:
        if self._ended or index != self.index:
            return
        self.results.append(result)
        self._next()

    def _stage_failed(self, index: int, message: str) -> None:
        if self._ended or index != self.index:
            return
        self._ended = True
        line = (message.splitlines() or [""])[0] or "it stopped with no message"
        self.failed.emit(f"{self.stages[index].label} failed: {line}")

    def _stage_cancelled(self, index: int) -> None:
        if not self._ended and index == self.index:
            self._end_cancelled()

    def _end_cancelled(self) -> None:
        if self._ended:
            return
        self._ended = True
        self.cancelled.emit()
