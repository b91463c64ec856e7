"""Worker threads of the app run a little below the GUI thread.

On Linux niceness is per thread, so a pool thread decoding thumbnails or encoding a query can be lowered
without touching the GUI thread: when both want the only free core, the GUI thread gets it and a repaint
does not wait behind background work. Engine processes are lower still (``app.engine_job.ENGINE_NICENESS``).
Elsewhere this does nothing.
"""

from __future__ import annotations

import os
import sys
import threading

WORKER_NICENESS = 5  # above the GUI thread's, below engine processes'

_done = threading.local()


def lower_this_thread() -> None:
    """Give the calling (worker) thread ``WORKER_NICENESS`` more than the process's main thread; once per thread."""
    if getattr(_done, "lowered", False) or not sys.platform.startswith("linux"):
        return
    _done.lowered = True
    if threading.current_thread() is threading.main_thread():
        return
    try:
        base = os.getpriority(os.PRIO_PROCESS, os.getpid())  # the main (GUI) thread's niceness
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), min(19, base + WORKER_NICENESS))
    except OSError:
        pass  # not allowed here (a sandbox): the thread keeps the GUI's priority
