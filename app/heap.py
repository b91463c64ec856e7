"""Keep Python's cyclic garbage collector from stalling the GUI thread.

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

#: Collections of generation 1 between two full collections (Python's default: 10).
FULL_COLLECTION_EVERY = 100


def freeze_long_lived() -> int:
    """Move every object tracked now to the permanent generation, and make full collections rarer; returns how
    many objects are frozen in all."""
    gc.freeze()
    first, second, _ = gc.get_threshold()
    gc.set_threshold(first, second, FULL_COLLECTION_EVERY)
    return gc.get_freeze_count()
