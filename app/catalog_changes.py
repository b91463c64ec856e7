"""The one signal that the catalogue changed: :func:`catalog_changes` ``.changed()``.

Every job the app runs (an import, the demo datasets, a rescan, an index build, a render, a training run: each is
added to :func:`app.job_interface.tracker` when it starts) may write the catalogue, so the notifier emits
``changed`` once after any of them ends, however it ended (a cancelled import may have written part of a dataset).
Every page that lists datasets or runs listens to it (the run form's datasets, the Search page's runs and its A/B
sides) instead of to one another; jobs that end together are announced once (the signal is queued to the next
turn of the event loop).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from app.job_interface import Job, on_end, tracker


class CatalogChanges(QObject):
    """Emits ``changed()`` on the GUI thread after a job that may have written the catalogue ended."""

    changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.changed)

    def watch(self, job: Job) -> None:
        """Announce a change when ``job`` ends."""
        on_end(job, self.notify)

    def notify(self) -> None:
        """Announce a change (coalesced with others in the same turn of the event loop)."""
        self._timer.start()


_notifier: CatalogChanges | None = None


def catalog_changes() -> CatalogChanges:
    """The application's notifier (created on first use, on the GUI thread), watching every tracked job."""
    global _notifier
    if _notifier is None:
        _notifier = CatalogChanges()
        tracker().added.connect(_notifier.watch)
        for job in tracker().jobs():  # already running
            _notifier.watch(job)
    return _notifier
