"""Run a function on a Qt thread pool and get its result back on the GUI thread: :class:`Task`, a
:class:`~app.job_interface.Job`.

``submit(fn, on_done, on_error)`` is the short form for the many small look-ups of the pages (a result, or an
error message). A longer piece of work takes a :class:`TaskContext` (``Task(fn, context=True)``): it reports
``progress`` and looks at ``context.cancelled`` (or calls ``context.check()``) to stop early when asked.

A task's signals are emitted on its worker thread and delivered, queued, on the GUI thread. A started task
keeps itself alive until it has ended (:data:`_LIVE`), so a page or dialog that is closed (and collected)
while its look-up runs deletes nothing the worker still uses; ``submit(..., owner=widget)`` drops the answer
when that widget is gone by then.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal, SignalInstance

from app.thread_priority import lower_this_thread
from engine.errors import CrossfoldError

_LIVE: set[Task] = set()  # started and not yet ended: held here, not only by whoever asked


class Cancelled(Exception):  # not an error: the task was asked to stop
    """Raised by :meth:`TaskContext.check` once the task was asked to stop; ends it ``cancelled``."""


class TaskContext:
    """What a task's function is given (``Task(fn, context=True)``): progress out, cancellation in."""

    def __init__(self, task: Task) -> None:
        self._task = task

    @property
    def cancelled(self) -> bool:
        return self._task._cancel_requested.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` when the task was asked to stop (call it between steps)."""
        if self.cancelled:
            raise Cancelled

    def progress(self, done: int, total: int = 0, message: str = "") -> None:
        self._task._deliver(self._task.progress, int(done), int(total), message)


class _Runnable(QRunnable):
    """What the pool runs (the pool owns and deletes it, on its thread); the task it serves is a ``QObject`` of
    the GUI thread, so the worker lets go of it before saying it is done: the last reference is always dropped
    on the GUI thread (a ``QObject`` destroyed off its thread can crash the process)."""

    def __init__(self, task: Task) -> None:
        super().__init__()
        self.task: Task | None = task

    def run(self) -> None:
        task, self.task = self.task, None
        assert task is not None
        gone = task._worker_gone
        try:
            task._run()
        finally:
            del task
            gone.set()


class Task(QObject):
    """A function run on a thread pool, as a :class:`~app.job_interface.Job` (see there for the signals)."""

    progress = Signal(int, int, str)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, fn: Callable[..., Any], title: str = "", *, context: bool = False,
                 pool: QThreadPool | None = None, parent: QObject | None = None) -> None:
        """``fn()`` (or ``fn(context)`` with ``context=True``) runs on ``pool`` (default: the global pool)."""
        super().__init__(parent)
        self.fn = fn
        self.title = title or getattr(fn, "__name__", "task")
        self.context = TaskContext(self)
        self._takes_context = context
        self._pool = pool or QThreadPool.globalInstance()
        self._lock = threading.Lock()  # guards _state and _runnable between the GUI thread and the worker
        self._state = "new"  # new -> queued -> running -> ended
        self._runnable: _Runnable | None = None
        self._cancel_requested = threading.Event()
        self._worker_gone = threading.Event()  # set once no worker holds this task any more

    @property
    def running(self) -> bool:
        return self._state in ("queued", "running")

    def start(self) -> None:
        with self._lock:
            if self._state != "new":
                raise RuntimeError(f"task {self.title!r} was already started")
            self._state = "queued"
            self._runnable = _Runnable(self)
            # Connected last, so it runs after the caller's slots of the same signal.
            for signal in (self.finished, self.failed, self.cancelled):
                signal.connect(self._release)
            _LIVE.add(self)
            self._pool.start(self._runnable)

    def cancel(self) -> None:
        """Still queued: taken off the queue, ``cancelled`` follows. Running: ``context.cancelled`` turns True."""
        self._cancel_requested.set()
        with self._lock:
            if self._state != "queued" or self._runnable is None:
                return
            # The worker sets ``running`` under the lock before anything else, so the runnable is alive here.
            taken = self._pool.tryTake(self._runnable)
            if taken:
                self._state, self._runnable = "ended", None
                self._worker_gone.set()
        if taken:
            QTimer.singleShot(0, self, self._cancelled_in_queue)

    def _cancelled_in_queue(self) -> None:
        self.cancelled.emit()

    def _release(self, *_args: object) -> None:
        # On the GUI thread, once the end was delivered; let go after this event, never inside an emission, and
        # only once the worker has let go (it is returning from ``run``: a moment at most).
        QTimer.singleShot(0, self._let_go)

    def _let_go(self) -> None:
        if self._worker_gone.wait(1.0):
            _LIVE.discard(self)
        else:
            QTimer.singleShot(10, self._let_go)

    # ---- worker side ------------------------------------------------------------------------------------------
    def _run(self) -> None:
        with self._lock:
            self._state, self._runnable = "running", None
        lower_this_thread()
        try:
            self.context.check()  # asked to stop after the pool dequeued it
            result = self.fn(self.context) if self._takes_context else self.fn()
        except Cancelled:
            self._end(self.cancelled)
        except CrossfoldError as exc:  # the user's input or workspace (a damaged catalogue...): its one line
            self._end(self.failed, str(exc))
        except Exception as exc:  # noqa: BLE001 - reported to the GUI, never swallowed
            self._end(self.failed, f"{exc}\n{traceback.format_exc(limit=3)}")
        else:
            self._end(self.finished, result)

    def _end(self, signal: SignalInstance, *args: object) -> None:
        with self._lock:
            self._state = "ended"
        self._deliver(signal, *args)

    def _deliver(self, signal: SignalInstance, *args: object) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:
            pass  # whoever asked (and this task with it) was deleted meanwhile: nobody to tell


def submit(
    fn: Callable[[], Any],
    on_done: Callable[[Any], None],
    on_error: Callable[[str], None] | None = None,
    pool: QThreadPool | None = None,
    *,
    owner: QObject | None = None,
) -> Task:
    """Run ``fn()`` on ``pool``; ``on_done(result)`` or ``on_error(message)`` on the GUI thread.

    ``owner``: the widget the answer is for; when it was deleted before the answer came (a dialog closed
    meanwhile), the answer is dropped instead of reaching a deleted widget through a lambda.
    """
    task = Task(fn, pool=pool)
    task.finished.connect(_for_owner(on_done, owner))
    if on_error is not None:
        task.failed.connect(_for_owner(on_error, owner))
    task.start()
    return task


def _for_owner(callback: Callable[[Any], None], owner: QObject | None) -> Callable[[Any], None]:
    if owner is None:
        return callback

    def deliver(value: Any) -> None:
        if shiboken6.isValid(owner):
            callback(value)

    return deliver
