"""Garbage is collected on the GUI thread only (``app/heap.py``), and a task's last reference is dropped there
(``app/tasks.py``): a Qt object finalised by a worker thread crashed or hung the suite (a worker inside SQLAlchemy
when CI segfaulted; the GUI thread deadlocked in ``QObject::~QObject`` when a collection started inside a Qt
call). Real threads, a real ``QThreadPool``; every wait is on a condition."""

from __future__ import annotations

import gc
import threading

from PySide6.QtCore import QObject

from app.heap import GuiThreadCollector
from app.tasks import _LIVE, submit

WAIT = 30_000  # ms


class _Probe:
    """Cyclic garbage holding a Qt object; says which thread finalised it."""

    def __init__(self, seen: list[str]) -> None:
        self.itself = self
        self.qobject = QObject()
        self.seen = seen

    def __del__(self) -> None:
        self.seen.append(threading.current_thread().name)


def _churn(n: int = 200_000) -> list[list[int]]:
    """``n`` new lists, kept: past every collection threshold (Python counts allocations net of frees)."""
    return [[i] for i in range(n)]


def _allocate_in_a_worker() -> list[list[int]]:
    kept: list[list[int]] = []
    worker = threading.Thread(target=lambda: kept.extend(_churn()), name="worker")
    worker.start()
    worker.join()
    return kept


def test_a_worker_never_collects_and_the_gui_thread_does(qtbot) -> None:
    main = threading.current_thread().name
    collector = GuiThreadCollector()
    collector.start()
    try:
        assert not gc.isenabled()
        seen: list[str] = []
        gc.collect()
        _Probe(seen)  # garbage from now on: only a collection finds it
        kept = _allocate_in_a_worker()
        assert seen == []  # the worker allocated 200,000 lists and collected nothing
        qtbot.waitUntil(lambda: seen == [main], timeout=WAIT)  # a timer's collection, on the GUI thread
        del kept
    finally:
        collector.stop()
    assert gc.isenabled() is False  # as the suite's own collector left it (tests/conftest.py)

    # the same without it: Python's automatic collection finalises the probe in the worker (what crashed)
    gc.enable()
    try:
        seen = []
        gc.collect()
        _Probe(seen)
        del _allocate_in_a_worker()[:]
        assert seen == ["worker"]
    finally:
        gc.disable()


def test_check_collects_only_past_the_thresholds(qtbot) -> None:
    collector = GuiThreadCollector()
    saved = gc.get_threshold()
    seen: list[str] = []
    try:
        gc.set_threshold(10**9, 10, 10)
        _Probe(seen)
        assert collector.check() == 0 and collector.collections == 0 and seen == []
        gc.set_threshold(0, 10, 10)  # Python's way to say "never collect": respected
        assert collector.check() == 0 and collector.collections == 0 and seen == []
        gc.set_threshold(1, 10**9, 10**9)  # read at each check (freeze_long_lived changes them while the app runs)
        assert collector.check() > 0
        assert collector.collections == 1 and seen == [threading.current_thread().name]
    finally:
        gc.set_threshold(*saved)


def test_a_tasks_last_reference_goes_on_the_gui_thread(qtbot) -> None:
    main = threading.current_thread().name
    seen: list[str] = []
    answers: list[int] = []
    for i in range(12):  # one at a time: each task ends and is let go while the next one's worker allocates
        task = submit(lambda i=i: (i, _churn(5_000)), lambda answer: answers.append(answer[0]))
        task.probe = _Probe(seen)  # type: ignore[attr-defined]
        del task  # nobody keeps it: only _LIVE and the worker hold it
        qtbot.waitUntil(lambda i=i: len(answers) == i + 1 and not _LIVE, timeout=WAIT)
    gc.collect()  # a task and its context form a cycle: what is left is collected here, on the GUI thread
    assert answers == list(range(12))
    assert seen == [main] * 12
