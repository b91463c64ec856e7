"""The ``trainer train`` processes this application started: one :class:`TrainingJobs` per application
(:func:`training_jobs`), owned by the QApplication.

The runs are started detached (:class:`~app.detached.DetachedJob`): they outlive the pages and the application
itself, so closing the Training page, or quitting, does not stop a run. Their output goes to
``runs/<name>/trainer.log``; their events to ``runs/<name>/events.jsonl`` (read by :class:`app.runs.RunsModel`).
"""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, QThreadPool, Signal

from app.detached import DetachedJob
from engine.run.folder import RunFolder
from engine.workspace import Workspace


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
        folder = RunFolder.of(workspace, name)
        job = DetachedJob(without_events_flag(args), workspace.root, folder.log, folder.events,
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
