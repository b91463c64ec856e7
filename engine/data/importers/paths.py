"""Resolving paths named by a source inside the roots they must stay in.

Two checks, both needed:

* :func:`resolve_inside` is lexical (``..`` collapsed, no symlinks followed): a source cannot name
  a file outside its root with ``../`` or an absolute path. It gives the item key.
* :func:`real_path_inside` decides by the **resolved** path (``os.path.realpath``): every file an
  importer reads or records (image, mesh, view, caption ``.txt``) must really lie inside one of the
  allowed roots, so a symlink inside the root pointing at ``/etc/passwd`` is skipped and reported.
  The allowed roots are the import root plus every ``--allow-outside DIR`` (for a root whose
  sub-folders are symlinks to another disk, a common way to lay datasets out).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from engine.data.importers.source import ImportFailed


class PathOutsideRoot(ValueError):
    """A path named by a source escapes its root; str() says which and where."""


def resolve_root(root: str | os.PathLike[str], what: str) -> Path:
    """The absolute, symlink-resolved root folder; ImportFailed when it is not a folder."""
    path = Path(root).expanduser()
    if "\x00" in os.fspath(path):
        raise ImportFailed(f"{os.fspath(path)!r}: {what} contains a NUL byte")
    try:
        if not path.exists():
            raise ImportFailed(f"{path}: {what} does not exist")
        if not path.is_dir():
            raise ImportFailed(f"{path}: {what} is not a folder")
        return path.resolve()
    except OSError as exc:
        raise ImportFailed(f"{path}: {what} is unusable ({exc.strerror or exc})") from exc


def allowed_roots(root: Path, allow_outside: Iterable[str | os.PathLike[str]] = ()) -> tuple[Path, ...]:
    """The real paths a source's files may lie in: ``root`` and every ``--allow-outside`` folder."""
    roots = [Path(os.path.realpath(root))]
    for extra in allow_outside:
        real = resolve_root(extra, "--allow-outside folder")
        if real not in roots:
            roots.append(real)
    return tuple(roots)


def real_path_inside(path: str | os.PathLike[str], roots: Iterable[Path]) -> Path:
    """The real (symlink-resolved) path of ``path``; PathOutsideRoot when it lies outside every root.

    This is the one check of where an importer may read: every file it opens or records goes
    through it. ``roots`` are real paths (see :func:`allowed_roots`).
    """
    text = os.fspath(path)
    if "\x00" in text:
        raise PathOutsideRoot(f"path {text!r} contains a NUL byte")
    try:
        real = os.path.realpath(text)
    except (OSError, ValueError) as exc:  # a symlink loop is resolved as far as it goes, not raised
        raise PathOutsideRoot(f"path {text!r} cannot be resolved ({exc})") from exc
    roots = tuple(roots)
    for root in roots:
        base = os.fspath(root)
        if real == base or real.startswith(base.rstrip(os.sep) + os.sep):
            return Path(real)
    shown = ", ".join(str(r) for r in roots)
    raise PathOutsideRoot(
        f"{text} resolves (through a symlink) to {real}, outside the import root ({shown}); "
        "pass --allow-outside DIR to allow files there"
    )


def resolve_inside(root: Path, name: str | os.PathLike[str]) -> Path:
    """``root / name`` normalised, or PathOutsideRoot when it is not inside ``root``.

    ``root`` must be absolute and normalised (see :func:`resolve_root`); an absolute ``name`` is
    accepted only when it lies inside ``root``. Lexical only: see :func:`real_path_inside`.
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
