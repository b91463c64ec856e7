"""Python's cyclic garbage collector in the app: run on the GUI thread only, and kept from stalling it.

Left automatic, the collector runs in whichever thread allocates past its threshold. A pool thread reading the
catalogue then finalises whatever cyclic garbage a closed page or dialog left, destroying Qt objects off their own
thread while the GUI thread paints and delivers events; and a collection that starts inside a Qt call (a virtual
method's Python override looked up under a Qt lock) can destroy a ``QObject`` whose destructor waits for that same
lock. The suite met both: a segfault in CI with a worker inside SQLAlchemy's compiler, and the GUI thread deadlocked
in ``QObject::~QObject`` under a forced collection. So while the app runs automatic collection is off, and
:class:`GuiThreadCollector` collects on the GUI thread, from the event loop, by Python's own thresholds, every
:data:`INTERVAL_MS` (what calibre and pyqtgraph do for the same reason).

A full (generation 2) collection scans every tracked object: with torch, open_clip, SQLAlchemy and Qt loaded that
is about 450k objects and 200-400 ms on a 2-core machine, and while it runs no other thread — the GUI thread
included — can execute Python. A search worker allocating ORM objects triggers one now and then, and the event
loop stops for that long (``bench/gui_responsiveness.py`` measured 210-380 ms). The objects alive after start-up
and after a model is loaded (modules, classes, weights' wrappers) live as long as the app, so they are moved to
the permanent generation (:func:`gc.freeze`), which later collections do not scan.

What the app keeps allocating while it runs (run states' points, search results, ORM rows of workers) still
reaches a full collection now and then: 60-70 ms with the GIL held, measured in the load phase of
``bench/gui_responsiveness.py``. :func:`freeze_long_lived` therefore also makes full collections ten times rarer
(generation 2 runs after 100 collections of generation 1 instead of 10): the young generations are still
collected as usual, so short-lived cycles are freed as before; older cyclic garbage waits longer.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

#: Collections of generation 1 between two full collections (Python's default: 10).
FULL_COLLECTION_EVERY = 100
#: How often the GUI thread looks at the allocation counts, in ms.
INTERVAL_MS = 500


class GuiThreadCollector(QObject):
    """Turns automatic collection off on :meth:`start` and collects on this object's (the GUI) thread; :meth:`stop`
    collects once more and gives collection back to Python as it was."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.collections = 0  # collections run so far (for tests and diagnostics)
        self._was_enabled = gc.isenabled()
        self._timer = QTimer(self)
        self._timer.setInterval(INTERVAL_MS)
        self._timer.timeout.connect(self.check)

    def start(self) -> None:
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        gc.collect()
        if self._was_enabled:
            gc.enable()

    def check(self) -> int:
        """Collect the oldest generation past its threshold, as Python would at an allocation (the thresholds read
        now: :func:`freeze_long_lived` changes them); the number of unreachable objects found."""
        counts, threshold = gc.get_count(), gc.get_threshold()
        generation = -1
        for g in range(3):
            if threshold[g] <= 0 or counts[g] <= threshold[g]:  # a threshold of 0: collection turned off
                break
            generation = g
        if generation < 0:
            return 0
        self.collections += 1
        return gc.collect(generation)


def freeze_long_lived() -> int:
    """Move every object tracked now to the permanent generation, and make full collections rarer; returns how
    many objects are frozen in all."""
    gc.freeze()
    first, second, _ = gc.get_threshold()
    gc.set_threshold(first, second, FULL_COLLECTION_EVERY)
    return gc.get_freeze_count()
