"""Keep Python's cyclic garbage collector from stalling the GUI thread.

A full (generation 2) collection scans every tracked object: with torch, open_clip, SQLAlchemy and Qt loaded that
is about 450k objects and 200-400 ms on a 2-core machine, and while it runs no other thread — the GUI thread
included — can execute Python. A search worker allocating ORM objects triggers one now and then, and the event
loop stops for that long (``bench/gui_responsiveness.py`` measured 210-380 ms). The objects alive after start-up
and after a model is loaded (modules, classes, weights' wrappers) live as long as the app, so they are moved to
the permanent generation (:func:`gc.freeze`), which later collections do not scan.
"""

from __future__ import annotations

import gc


def freeze_long_lived() -> int:
    """Move every object tracked now to the permanent generation; returns how many are frozen in all."""
    gc.freeze()
    return gc.get_freeze_count()
