"""One interface for every piece of work the app runs off the GUI thread: the :class:`Job` protocol.

Three kinds of job satisfy it, and a page handles any of them the same way:

* :class:`app.engine_job.EngineJob`: a child ``trainer <command> --events -`` (``QProcess``); progress from its
  JSON-line ``progress`` events;
* :class:`app.detached.DetachedJob`: a detached ``trainer train`` that outlives the app, followed by its pid;
  progress from the run's ``events.jsonl``;
* :class:`app.tasks.Task`: a Python function on a ``QThreadPool`` worker; progress and cancellation through
  the :class:`~app.tasks.TaskContext` it is given.

The protocol (all signals arrive on the GUI thread):

``title: str``
    What the status bar's job list shows.
``start()``
    Starts the work (once). ``running`` is True from then until the job has ended.
``progress(done: int, total: int, message: str)``
    Zero or more times while it runs. ``total`` 0: not known (show a busy bar); ``message``: the stage or a
    short note, possibly empty.
``finished(result: object)``
    It completed. ``result``: a task's return value; for a ``trainer`` job, its ``done`` event (a dict), or
    ``None`` when it printed none.
``failed(message: str)``
    It ended with an error; ``message`` is the one-line error (a task's also carries a short traceback).
``cancelled()``
    It stopped short because :meth:`cancel` (or ``kill``) asked it to, or (a training run) it was cancelled
    from elsewhere: the engine wrote a ``cancelled`` event.
``cancel()``
    Asks it to stop; it never blocks. A job that has not started its work yet ends at once; one that is
    running stops at its next safe point (a child or detached ``trainer`` gets SIGTERM, a task's function
    sees ``context.cancelled``). What actually happened is what is reported: work that completed before the
    request took effect still ends ``finished``.

Exactly one of ``finished`` / ``failed`` / ``cancelled`` is emitted per job, always after ``start()`` has
returned (never from inside ``start()`` or ``cancel()``). :func:`on_end` connects to all three.

Services that answer many small requests (``app.search_worker.SearchService``, ``app.thumbnails``) are not
jobs: they have channels and queues of their own. See docs/ARCHITECTURE.md for the layers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from PySide6.QtCore import QObject, Signal, SignalInstance
from PySide6.QtWidgets import QProgressBar


@runtime_checkable
class Job(Protocol):
    """See the module docstring."""

    title: str

    @property
    def progress(self) -> SignalInstance: ...  # (done: int, total: int, message: str)

    @property
    def finished(self) -> SignalInstance: ...  # (result: object)

    @property
    def failed(self) -> SignalInstance: ...  # (message: str)

    @property
    def cancelled(self) -> SignalInstance: ...  # ()

    @property
    def running(self) -> bool: ...

    def start(self) -> None: ...

    def cancel(self) -> None: ...


def on_end(job: Job, callback: Callable[[], None]) -> None:
    """Call ``callback()`` when ``job`` ends, whichever way (finished, failed or cancelled)."""
    job.finished.connect(lambda _result: callback())
    job.failed.connect(lambda _message: callback())
    job.cancelled.connect(callback)


def connect_job(
    job: Job,
    *,
    progress: Callable[[int, int, str], Any] | None = None,
    finished: Callable[[Any], Any] | None = None,
    failed: Callable[[str], Any] | None = None,
    cancelled: Callable[[], Any] | None = None,
) -> Job:
    """Connect a page's slots to a job (any kind); returns the job."""
    for signal, slot in ((job.progress, progress), (job.finished, finished), (job.failed, failed),
                         (job.cancelled, cancelled)):
        if slot is not None:
            signal.connect(slot)
    return job


def show_progress(bar: QProgressBar, done: int, total: int, fmt: str | None = None) -> None:
    """Show a job's ``progress(done, total, ...)`` on a bar: a busy bar while ``total`` is not known."""
    if total > 0:
        bar.setRange(0, total)
        bar.setValue(min(done, total))
    else:
        bar.setRange(0, 0)
    if fmt is not None:
        bar.setFormat(fmt)


class JobTracker(QObject):
    """Every running job the status bar lists (children, detached training runs, tasks added to it)."""

    changed = Signal(list)  # titles of the running jobs
    added = Signal(object)  # a job just started (app.catalog_changes watches its end)

    def __init__(self) -> None:
        super().__init__()
        self._jobs: list[Job] = []

    def add(self, job: Job) -> None:
        if job in self._jobs:
            return
        self._jobs.append(job)
        on_end(job, lambda: self._remove(job))
        self.changed.emit(self.titles())
        self.added.emit(job)

    def remove(self, job: Job) -> None:
        """No longer show ``job`` (it ended, or the app stopped following it)."""
        self._remove(job)

    def _remove(self, job: Job) -> None:
        if job in self._jobs:
            self._jobs.remove(job)
        self.changed.emit(self.titles())

    def titles(self) -> list[str]:
        return [j.title for j in self._jobs]

    def jobs(self) -> list[Job]:
        return list(self._jobs)


_tracker: JobTracker | None = None


def tracker() -> JobTracker:
    """The application's tracker (created on first use, on the GUI thread)."""
    global _tracker
    if _tracker is None:
        _tracker = JobTracker()
    return _tracker
