"""``bench/gui_responsiveness.py``'s ``StallProbe``: a long stall leaves every thread's stack, taken safely.

It used faulthandler's watchdog for that, whose C thread reads running threads' frames without the GIL: it
crashed the process now and then (SIGSEGV in ``faulthandler_thread`` -> ``dump_frame``) while another thread ran.
"""

from __future__ import annotations

import faulthandler
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _busy_worker(stop: threading.Event) -> None:
    while not stop.is_set():  # Python code, pushing and popping frames, as the app's workers do
        sum(i * i for i in range(200))


def test_a_long_stall_leaves_every_threads_stack_without_faulthandlers_watchdog(
        qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import gui_responsiveness as gr

    def watchdog(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("faulthandler's watchdog reads running threads' frames without the GIL")

    monkeypatch.setattr(faulthandler, "dump_traceback_later", watchdog)
    probe = gr.StallProbe(5, tmp_path / "dumps.txt")
    stop = threading.Event()
    worker = threading.Thread(target=_busy_worker, args=(stop,), name="busy-worker")
    worker.start()
    probe.start()
    try:
        qtbot.waitUntil(lambda: len(probe.ticks) > 5, timeout=10_000)
        start = time.perf_counter()
        time.sleep((gr.DUMP_MS + 100) / 1e3)  # the stall under test (the event loop blocked), not a synchronisation
        end = time.perf_counter()
        ticks = len(probe.ticks)
        qtbot.waitUntil(lambda: len(probe.ticks) > ticks + 2, timeout=10_000)
    finally:
        probe.stop()
        stop.set()
        worker.join()
        probe.close()

    ticks = np.array(probe.ticks)
    stall = int(np.flatnonzero(ticks <= start)[-1])  # the gap from tick `stall` to the next holds the sleep
    assert ticks[stall + 1] >= end
    dump = probe.dumps.get(stall + 1)  # keyed as the benchmark reads it: the tick that ended the stall
    assert dump is not None, sorted(probe.dumps)
    threads = gr.parse_dump(dump, probe.gui_ident)
    assert any(" test_a_long_stall_leaves" in frame for frame in threads["gui"])
    assert any(" _busy_worker" in frame for frames in threads["others"].values() for frame in frames)
    assert dump in (tmp_path / "dumps.txt").read_text()
