"""Background priority for engine processes started by the app.

The app sets ``CROSSFOLD_NICE`` (see ``app.engine_job.engine_environment``) so that training, indexing and imports
run below the GUI: on a 2-core machine they would otherwise keep both cores busy and the GUI thread would
wait for a core on every repaint. Run from a terminal, the trainer keeps the priority it was given.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

from engine.errors import CrossfoldError

NICE_VARIABLE = "CROSSFOLD_NICE"


def lower_priority(environ: MutableMapping[str, str] | None = None) -> int | None:
    """Run this process at niceness ``CROSSFOLD_NICE`` (0-19) if that is lower priority than it has now.

    Absolute, not an increment: the app may start a trainer from one of its worker threads, which already
    run a little below the GUI (``app.thread_priority``), and the trainer must not add to that. The priority
    is never raised. The variable is then removed from ``environ`` (``os.environ`` by default): child
    processes (DataLoader workers, torchrun's) inherit the niceness itself. Returns the niceness now, or None
    when the variable is unset or the platform has no niceness (Windows). A value that is not a whole number
    from 0 to 19 is an error naming the variable.
    """
    env = os.environ if environ is None else environ
    value = env.pop(NICE_VARIABLE, "").strip()
    if not value or not hasattr(os, "setpriority"):
        return None
    try:
        target = int(value)
    except ValueError:
        target = -1
    if not 0 <= target <= 19:
        raise CrossfoldError(f"{NICE_VARIABLE} must be a whole number from 0 to 19, not {value!r}")
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if target > current:
        os.setpriority(os.PRIO_PROCESS, 0, target)
    return os.getpriority(os.PRIO_PROCESS, 0)
