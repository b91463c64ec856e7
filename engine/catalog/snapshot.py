"""The catalogue opened for reading only, when its disk cannot be written (full, or mounted read-only).

SQLite opens a WAL catalogue through its ``-shm`` file, which it must create or grow: on a full or read-only disk
that fails ("disk I/O error"), though the file itself is fine. Then the catalogue is opened read-only: ``immutable``
when no WAL content is pending (the main file is all there is, and nobody can change it on such a disk), else
``mode=ro`` through the existing ``-shm`` (see :func:`engine.catalog.schema.make_engine`). Reads work; a write
raises, and :class:`engine.catalog.Catalog` says why
(the machine's fault, :mod:`engine.disk`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Engine, create_engine

from engine.catalog.models import bind_root
from engine.catalog.schema import SCHEMA_VERSION, missing_tables, stored_version
from engine.disk import fault_error


def pending_wal(path: Path) -> bool:
    """The catalogue's ``-wal`` holds content not yet in the main file."""
    wal = path.with_name(path.name + "-wal")
    try:
        return wal.stat().st_size > 0
    except OSError:
        return False


def snapshot_uri(path: Path) -> str:
    """SQLite's URI of ``path`` opened read-only (``immutable`` when no WAL content is pending)."""
    return f"file:{quote(str(path))}?mode=ro" + ("" if pending_wal(path) else "&immutable=1")


def snapshot_engine(path: Path, fault: str, root: Path | None = None) -> Engine:
    """A read-only engine on ``path`` (its path columns read against ``root``, as :func:`make_engine`'s); the
    machine's error for ``fault`` when even that cannot read a current catalogue (none there yet, one that needs a
    migration, a WAL that cannot be read)."""
    if not path.is_file():
        raise fault_error(fault, path.parent)
    uri = snapshot_uri(path)
    engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True, timeout=30,
                                                                       check_same_thread=False))
    if root is not None:
        bind_root(engine.dialect, root)
    try:
        with engine.connect() as conn:
            version = stored_version(conn)
            missing = missing_tables(conn) if version is not None else []
    except Exception:
        engine.dispose()
        raise
    if version != SCHEMA_VERSION and not missing:
        engine.dispose()
        raise fault_error(fault, path.parent)  # a migration (or a new catalogue) must write
    return engine
