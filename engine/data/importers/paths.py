"""Resolving paths named by a source inside the root they must stay in.

The check is lexical (``..`` collapsed, no symlinks followed) against a root resolved once: a
source cannot name a file outside its root with ``../`` or an absolute path, while a root whose
sub-folders are symlinks to another disk (a common way to lay datasets out) keeps working.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.data.importers.source import ImportFailed


class PathOutsideRoot(ValueError):
    """A path named by a source escapes its root; str() says which and where."""


def resolve_root(root: str | os.PathLike[str], what: str) -> Path:
    """The absolute, symlink-resolved root folder; ImportFailed when it is not a folder."""
    path = Path(root).expanduser()
    if not path.exists():
        raise ImportFailed(f"{path}: {what} does not exist")
    if not path.is_dir():
        raise ImportFailed(f"{path}: {what} is not a folder")
    return path.resolve()


def resolve_inside(root: Path, name: str | os.PathLike[str]) -> Path:
    """``root / name`` normalised, or PathOutsideRoot when it is not inside ``root``.

    ``root`` must be absolute and normalised (see :func:`resolve_root`); an absolute ``name`` is
    accepted only when it lies inside ``root``.
    """
    text = os.fspath(name)
    if "\x00" in text:
        raise PathOutsideRoot(f"path {text!r} contains a NUL byte")
    base = os.fspath(root)
    candidate = os.path.normpath(os.path.join(base, text))  # string ops: this runs once per record
    if candidate != base and not candidate.startswith(base.rstrip(os.sep) + os.sep):
        raise PathOutsideRoot(f"path {text!r} is outside {root}")
    return Path(candidate)


def key_inside(root: Path, path: Path) -> str:
    """The POSIX-style path of ``path`` relative to ``root`` (an item key)."""
    return path.relative_to(root).as_posix()


class KeyResolver:
    """Item keys (paths relative to ``root``) of the names a source writes, each resolved once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._keys: dict[str, str] = {}

    def key(self, name: str) -> str:
        """The key of ``name``; PathOutsideRoot when it escapes the root."""
        key = self._keys.get(name)
        if key is None:
            key = self._keys[name] = key_inside(self.root, resolve_inside(self.root, name))
        return key
