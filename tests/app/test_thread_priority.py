"""The app's worker threads run below the GUI thread (Linux: niceness is per thread)."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from app.tasks import submit
from app.thread_priority import WORKER_NICENESS

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")


def this_thread_niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_a_background_task_runs_below_the_gui_thread_and_the_gui_thread_keeps_its_priority(qtbot) -> None:
    gui = this_thread_niceness()
    answers: list[int] = []
    tasks = []
    for n in range(1, 4):  # pool threads are reused: the value stays the same, it is not added again
        tasks.append(submit(this_thread_niceness, answers.append))
        qtbot.waitUntil(lambda n=n: len(answers) == n, timeout=20_000)
    assert answers == [min(19, gui + WORKER_NICENESS)] * 3
    assert this_thread_niceness() == gui
