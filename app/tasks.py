"""Run a function on Qt's thread pool and get its result back on the GUI thread via signals."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, SignalInstance

from app.thread_priority import lower_this_thread
from engine.errors import CrossfoldError


class TaskSignals(QObject):
    finished = Signal(object)
    failed = Signal(str)


class Task(QRunnable):
    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__()
        self.fn = fn
        self.signals = TaskSignals()

    def run(self) -> None:
        lower_this_thread()
        try:
            result = self.fn()
        except CrossfoldError as exc:  # the user's input or workspace (a damaged catalogue...): its one line
            self._deliver(self.signals.failed, str(exc))
        except Exception as exc:  # noqa: BLE001 - reported to the GUI, never swallowed
            self._deliver(self.signals.failed, f"{exc}\n{traceback.format_exc(limit=3)}")
        else:
            self._deliver(self.signals.finished, result)

    def _deliver(self, signal: SignalInstance, value: object) -> None:
        try:
            signal.emit(value)
        except RuntimeError:
            pass  # whoever asked (and this task's signals with it) was deleted meanwhile: nobody to tell


def submit(
    fn: Callable[[], Any],
    on_done: Callable[[Any], None],
    on_error: Callable[[str], None] | None = None,
    pool: QThreadPool | None = None,
) -> Task:
    task = Task(fn)
    task.signals.finished.connect(on_done)
    if on_error is not None:
        task.signals.failed.connect(on_error)
    (pool or QThreadPool.globalInstance()).start(task)
    return task
