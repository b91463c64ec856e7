"""Copies of the catalogue made with SQLite's online backup API, in the folder the catalogue is given (a
workspace's ``backups/``: :attr:`engine.workspace.Workspace.backups`; a catalogue opened on its own keeps them
beside its file, :func:`beside`).

A copy is written to a temporary file in that folder and renamed into place, so a half-written copy
never replaces (or looks like) a good one. Copies are made before a schema migration and at most once
a day when a good catalogue is opened; the newest :data:`KEEP` are kept.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

from engine.atomic import replacing

KEEP = 5
DAILY_S = 24 * 3600
_PREFIX, _SUFFIX = "catalog-", ".sqlite"


def beside(catalog_path: Path) -> Path:
    """The backups folder of a catalogue opened without one: ``backups/`` beside its file."""
    return catalog_path.parent / "backups"


def backups(folder: Path) -> list[Path]:
    """The complete backups in ``folder``, newest first (temporary files never match)."""
    try:
        found = [p for p in folder.iterdir() if p.name.startswith(_PREFIX) and p.name.endswith(_SUFFIX)
                 and p.is_file()]
    except OSError:
        return []
    return sorted(found, key=lambda p: p.name, reverse=True)


def newest_backup(folder: Path) -> Path | None:
    found = backups(folder)
    return found[0] if found else None


def backup_time(path: Path) -> str:
    """``2026-11-30 12:00 UTC`` from the file's modification time."""
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M UTC")


def backup_catalog(catalog_path: Path, folder: Path, keep: int = KEEP) -> Path:
    """Copy the catalogue (consistently, even while others use it) to a new backup in ``folder``; prune old ones."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    final = folder / f"{_PREFIX}{stamp}{_SUFFIX}"
    with replacing(final) as tmp:
        src = _connect_existing(catalog_path)
        try:
            dst = sqlite3.connect(tmp)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            finally:
                dst.close()
        finally:
            src.close()
    prune(folder, keep)
    return final


def prune(folder: Path, keep: int = KEEP) -> None:
    for old in backups(folder)[keep:]:
        old.unlink(missing_ok=True)


def backup_due(folder: Path, every_s: float = DAILY_S) -> bool:
    """True when no backup in ``folder`` is younger than ``every_s`` (one directory listing, one stat)."""
    newest = newest_backup(folder)
    if newest is None:
        return True
    try:
        return time.time() - newest.stat().st_mtime >= every_s
    except OSError:
        return True


def is_good(path: Path) -> bool:
    """A readable SQLite file whose ``PRAGMA quick_check`` says ok."""
    try:
        conn = _connect_existing(path)
        try:
            return conn.execute("PRAGMA quick_check").fetchone() == ("ok",)
        finally:
            conn.close()
    except sqlite3.Error:
        return False


def _connect_existing(path: Path) -> sqlite3.Connection:
    """A connection to an existing file (``mode=rw``: never creates one; a WAL file may need its -shm)."""
    return sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=30)
