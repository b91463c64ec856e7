"""Faults of the machine, not of a file: a full disk and a read-only one, told apart from a damaged file.

:func:`fault_of` is the one place that classifies an error (an ``OSError``, an ``sqlite3`` error, SQLAlchemy's
wrapper of one, torch's ``RuntimeError`` of a failed write) as :data:`NO_SPACE`, :data:`READ_ONLY` or ``None`` (not
the machine: the caller judges it, e.g. as a damaged catalogue). :func:`machine_error` turns it into the one line a
person reads (:class:`DiskFull`, :class:`ReadOnlyWorkspace`); :func:`ensure_free` checks the space before a write
whose size is known (the packed store, the doctor's copies), so nothing is half-made and nothing is mapped past
the end of a disk (SIGBUS).
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path
from typing import BinaryIO

from engine.errors import CrossfoldError

NO_SPACE = "no space"
READ_ONLY = "read-only"

#: below this much free space, a failed write (EIO, SQLite's "disk I/O error" while writing) is a full disk
LOW_SPACE = 1 << 20

_NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
#: SQLite's extended I/O error codes of a write (a read error, IOERR_READ or IOERR_SHORT_READ, is the file's)
_SQLITE_WRITE_ERRORS = frozenset({"SQLITE_IOERR_WRITE", "SQLITE_IOERR_FSYNC", "SQLITE_IOERR_DIR_FSYNC",
                                  "SQLITE_IOERR_TRUNCATE", "SQLITE_IOERR_SHMSIZE", "SQLITE_IOERR_SHMMAP",
                                  "SQLITE_IOERR_SHMOPEN", "SQLITE_IOERR_MMAP", "SQLITE_IOERR_NOMEM",
                                  "SQLITE_IOERR_BEGIN_ATOMIC", "SQLITE_IOERR_COMMIT_ATOMIC", "SQLITE_IOERR"})


class DiskFull(CrossfoldError, OSError):
    """No space left where a command writes; ``kept``: what of its work is safe (a checkpoint, the rows so far)."""

    def __init__(self, where: Path, kept: str = "") -> None:
        self.where, self.kept = Path(where), kept
        free = free_bytes(self.where)
        shown = f"{free / 1e6:.0f} MB free" if free is not None else "free space unknown"
        message = f"no space left on the disk holding {self.where} ({shown}); free some and run the command again"
        super().__init__(errno.ENOSPC, message + (f"; kept: {kept}" if kept else ""))

    def __str__(self) -> str:
        return str(self.strerror)

    def keeping(self, kept: str) -> DiskFull:
        """The same fault, naming what was kept."""
        return DiskFull(self.where, kept)


class ReadOnlyWorkspace(CrossfoldError, OSError):
    """The workspace is on a read-only disk (or cannot be written): reads work, writes say so."""

    def __init__(self, where: Path) -> None:
        self.where = Path(where)
        super().__init__(errno.EROFS, f"the workspace is read-only: {self.where} (reading works; writing needs a "
                                      "writable disk)")

    def __str__(self) -> str:
        return str(self.strerror)


def existing(path: Path) -> Path:
    """``path`` or its nearest existing ancestor (statvfs needs one)."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def free_bytes(path: Path) -> int | None:
    """Free space for an unprivileged writer on the disk holding ``path`` (None when it cannot be asked)."""
    try:
        st = os.statvfs(existing(path))
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def read_only_disk(path: Path) -> bool:
    """The disk holding ``path`` is mounted read-only."""
    try:
        return bool(os.statvfs(existing(path)).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _low(path: Path) -> bool:
    free = free_bytes(path)
    return free is None or free < LOW_SPACE


def fault_of(exc: BaseException, path: Path) -> str | None:
    """:data:`NO_SPACE`, :data:`READ_ONLY`, or None when ``exc`` (raised writing or opening at ``path``) is not the
    machine's fault."""
    chain = _chain(exc)
    for err in chain:
        if isinstance(err, (DiskFull, ReadOnlyWorkspace)):
            return NO_SPACE if isinstance(err, DiskFull) else READ_ONLY
    if any(_a_write(err) for err in chain) and read_only_disk(path):
        return READ_ONLY  # a read-only mount: whatever a write on it raised
    for err in chain:
        if isinstance(err, OSError) and err.errno is not None:
            if err.errno in _NO_SPACE_ERRNOS:
                return NO_SPACE
            if err.errno == errno.EROFS or (err.errno in (errno.EACCES, errno.EPERM) and read_only_disk(path)):
                return READ_ONLY
            if err.errno == errno.EIO and _low(path):
                return NO_SPACE
        if isinstance(err, sqlite3.Error):
            name = getattr(err, "sqlite_errorname", "") or ""
            text = str(err).lower()
            if name == "SQLITE_FULL" or "disk is full" in text:
                return NO_SPACE
            if (name in _SQLITE_WRITE_ERRORS or (not name and "disk i/o error" in text)) and _low(path):
                return NO_SPACE
        if isinstance(err, RuntimeError) and "write" in str(err).lower() and _low(path):
            return NO_SPACE  # torch.save's PytorchStreamWriter: "file write failed"
    return None


def _a_write(err: BaseException) -> bool:
    """An error a write (or an open for writing) raises on a disk it may not write: EROFS, EACCES, EPERM, EIO,
    SQLite's read-only, can't-open and I/O errors (not "file is not a database", which is the file's)."""
    if isinstance(err, OSError):
        return err.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO)
    if not isinstance(err, sqlite3.Error):
        return False
    name = getattr(err, "sqlite_errorname", "") or ""
    text = str(err).lower()
    return name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_IOERR")) or any(
        word in text for word in ("readonly", "unable to open", "disk i/o error"))


def machine_error(exc: BaseException, path: Path, workspace: Path | None = None,
                  kept: str = "") -> DiskFull | ReadOnlyWorkspace | None:
    """The one-line error for a machine fault at ``path`` (in ``workspace``, named as the disk's holder), or None."""
    fault = fault_of(exc, path)
    if fault is None:
        return None
    if isinstance(exc, DiskFull):
        return exc.keeping(kept) if kept else exc
    if isinstance(exc, ReadOnlyWorkspace):
        return exc
    return fault_error(fault, Path(workspace) if workspace is not None else Path(path), kept)


def fault_error(fault: str, where: Path, kept: str = "") -> DiskFull | ReadOnlyWorkspace:
    """The one-line error of ``fault`` (:data:`NO_SPACE` or :data:`READ_ONLY`) for the workspace ``where``."""
    return DiskFull(where, kept) if fault == NO_SPACE else ReadOnlyWorkspace(where)


def ensure_free(path: Path, need: int, workspace: Path | None = None, kept: str = "") -> None:
    """:class:`DiskFull` unless the disk holding ``path`` has ``need`` bytes free (and :data:`LOW_SPACE` more)."""
    free = free_bytes(path)
    if free is not None and free < need + LOW_SPACE:
        raise DiskFull(Path(workspace) if workspace is not None else existing(path), kept)


def reserve(f: BinaryIO, size: int) -> None:
    """Size the open file ``f`` to ``size`` bytes backed by real disk space, before it is memory-mapped (a mapped
    page a full disk cannot hold is SIGBUS, not an error): :class:`DiskFull` when the space is not there."""
    ensure_free(Path(f.name), size)
    f.truncate(size)
    if size and hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(f.fileno(), 0, size)
        except OSError as exc:
            if exc.errno in _NO_SPACE_ERRNOS:
                raise DiskFull(existing(Path(f.name))) from None
            # a file system without fallocate: the free-space check above stands


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc``, what SQLAlchemy wraps (``orig``) and its causes, each once."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo and len(seen) < 8:
        err = todo.pop(0)
        if err is None or any(err is s for s in seen):
            continue
        seen.append(err)
        todo += [getattr(err, "orig", None), err.__cause__, err.__context__]
    return seen
