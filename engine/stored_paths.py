"""How a path is stored in the catalogue: relative to the workspace when it lies inside it, else as it is.

A workspace can then be moved, copied, synced or put on another disk and keep working: a run folder, an index
file, a render or a demo set's file is stored as ``runs/r1``, ``indexes/r1/...``, ``renders/...`` and read back
against wherever the workspace is now. Source data outside the workspace (an imported dataset's root and its
files) stays absolute. The rule is lexical (no file is touched): ``/ws/runs/r1`` is inside ``/ws``,
``/ws2/x`` and ``/ws/../x`` are not. The catalogue applies it to its path columns, in both directions, with the
root it is handed (:class:`engine.catalog.models.WorkspacePath`); no other module needs to.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePath


def to_stored(value: str | os.PathLike[str], root: Path) -> str:
    """``value`` as the catalogue stores it: relative (POSIX separators) when it is an absolute path inside
    ``root``, else unchanged (``""``, a relative path, a path outside the workspace)."""
    text = os.fspath(value)
    if not text or not os.path.isabs(text):
        return text
    try:
        inside = PurePath(os.path.normpath(text)).relative_to(root)
    except ValueError:
        return text
    return inside.as_posix() if inside.parts else "."


def from_stored(value: str, root: Path) -> str:
    """A stored path as the rest of Crossfold uses it: a relative one resolved against ``root`` (the workspace
    as it is now); an absolute one (or ``""``) unchanged."""
    if not value or os.path.isabs(value):
        return value
    return str(root / value) if value != "." else str(root)


def is_inside(value: str | os.PathLike[str], root: Path) -> bool:
    """Whether ``value`` is an absolute path inside ``root`` (the same lexical rule as :func:`to_stored`)."""
    text = os.fspath(value)
    return bool(text) and os.path.isabs(text) and to_stored(text, root) != text
