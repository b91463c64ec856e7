"""A catalogue SQLite cannot read, turned into one line naming the file, the backup and the repair."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from sqlalchemy import exc as sa_exc

from engine.catalog.backup import backup_time, newest_backup
from engine.disk import machine_error
from engine.errors import CrossfoldError

DB_ERRORS: tuple[type[BaseException], ...] = (sa_exc.DatabaseError, sqlite3.DatabaseError)


class CatalogDamaged(CrossfoldError):
    """The catalogue file is unreadable, not a database, or misses part of its schema."""

    def __init__(self, path: Path, problem: str, backups: Path | None = None) -> None:
        self.path, self.problem = Path(path), problem
        super().__init__(damaged_message(self.path, problem, backups))


class CatalogUnavailable(CrossfoldError):
    """The catalogue is fine but cannot be used now (locked, read-only, no permission)."""


def damaged_message(path: Path, problem: str, backups: Path | None = None) -> str:
    """One line: the file, its problem, the repair and the newest backup in ``backups`` (the catalogue's folder of
    backups; ``None``: it keeps none)."""
    repair = f"run 'trainer doctor --repair --workspace {path.parent}'"
    backup = newest_backup(backups) if backups is not None else None
    if backup is not None:
        where = f"a backup from {backup_time(backup)} is at {backup}"
    else:
        where = "no backup found: the repair starts an empty catalogue and rebuilds runs and indexes"
    return f"{path} is damaged ({problem}); {repair} ({where})"


def _sqlite_message(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).splitlines()[0] if str(orig) else type(orig).__name__


def translate(exc: BaseException, path: Path, backups: Path | None = None) -> CrossfoldError | None:
    """The one-line error for a database error at the catalogue (whose backups are in ``backups``), or None when
    it is not the file's fault (a constraint violation is a bug or a conflict, raised as it is)."""
    orig = getattr(exc, "orig", None) or exc
    if isinstance(orig, sqlite3.IntegrityError) or isinstance(exc, sa_exc.IntegrityError):
        return None
    if path.is_dir():
        return CatalogDamaged(path, "it is a directory, not a database file", backups)
    if (fault := machine_error(exc, path, path.parent)) is not None:
        return fault  # a full or read-only disk is never the file's damage
    message = _sqlite_message(exc)
    low = message.lower()
    if "locked" in low or "busy" in low:
        return CatalogUnavailable(f"{path}: the catalogue is locked by another process ({message}); try again")
    if "readonly" in low or "read-only" in low:
        return CatalogUnavailable(f"{path}: the catalogue cannot be written ({message}); check its permissions")
    if "unable to open" in low:
        return CatalogUnavailable(f"{path}: cannot open the catalogue ({message}); check the folder and its "
                                  "permissions")
    if match := re.search(r"no such (table|column): (\S+)", message):
        return CatalogDamaged(path, f"{match.group(1)} {match.group(2)} is missing", backups)
    return CatalogDamaged(path, message, backups)


def empty_but_backed_up(path: Path, backups: Path | None) -> bool:
    """A zero-byte catalogue with backups (in ``backups``) was truncated (a new one is never empty for long)."""
    try:
        empty = path.is_file() and path.stat().st_size == 0
    except OSError:
        return False
    wal = path.with_name(path.name + "-wal")
    return empty and not wal.exists() and backups is not None and newest_backup(backups) is not None
