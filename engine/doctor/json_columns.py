"""The catalogue's JSON columns, checked row by row (a cut or damaged page can pass SQLite's integrity check and
still leave text that is not JSON), and mended: a run re-read from its run folder, a dataset's or an item's
``meta`` from the newest backup that holds it whole, an index row dropped (indexes are rebuilt by
``trainer index``)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, text

from engine.catalog.backup import backups
from engine.catalog.json_column import LenientJSON
from engine.catalog.models import Base

#: table -> the column that names a row to a person
_LABELS = {"datasets": "name", "runs": "name", "items": "key", "indexes": "path"}


@dataclass(frozen=True)
class BadValue:
    table: str
    column: str
    row_id: int
    label: str

    def subject(self) -> str:
        return f"{self.table} row {self.label!r}"


def json_columns() -> list[tuple[str, str]]:
    """(table, column) of every JSON column of the schema."""
    return [(table.name, col.name) for table in Base.metadata.sorted_tables for col in table.columns
            if isinstance(col.type, (JSON, LenientJSON))]


def bad_values(catalog: Any) -> list[BadValue]:
    """Rows whose JSON text SQLite's ``json_valid`` refuses."""
    found: list[BadValue] = []
    with catalog.session() as s:
        for table, column in json_columns():
            label = _LABELS.get(table, "id")
            rows = s.execute(text(f"SELECT id, CAST({label} AS TEXT) FROM {table} "
                                  f"WHERE {column} IS NOT NULL AND json_valid({column}) = 0"))
            found += [BadValue(table, column, int(i), str(name)) for i, name in rows]
    return found


def mend(workspace_backups: Path, catalog: Any, bad: list[BadValue], read_run: Any,
         run_dirs: dict[str, Path]) -> list[tuple[str, str]]:
    """Mend each bad value; returns (subject, what was done) for the report."""
    done: list[tuple[str, str]] = []
    with catalog.session() as s:
        for value in bad:
            if value.table == "runs" and value.label in run_dirs:
                disk = read_run(run_dirs[value.label])
                new = disk.config if value.column == "config" else disk.metrics
                action = f"re-read from {run_dirs[value.label]}"
            elif value.table == "indexes":
                s.execute(text("DELETE FROM indexes WHERE id = :i"), {"i": value.row_id})
                done.append((value.subject(), "index row dropped; rebuild it with 'trainer index'"))
                continue
            else:
                new = _from_backup(workspace_backups, value)
                action = "restored from a backup" if new is not None else "emptied (no backup holds it whole)"
                new = new if new is not None else {}
            s.execute(text(f"UPDATE {value.table} SET {value.column} = :v WHERE id = :i"),
                      {"v": json.dumps(new), "i": value.row_id})
            done.append((value.subject(), f"{value.column} {action}"))
    return done


def _from_backup(folder: Path, value: BadValue) -> dict[str, Any] | None:
    """The value of the same row (by its name or key) in the newest backup that holds it as valid JSON."""
    if value.table != "datasets":  # an item's key is unique only within its dataset: its meta is emptied
        return None
    label = _LABELS[value.table]
    for backup in backups(folder):
        with contextlib.suppress(sqlite3.Error, ValueError):
            conn = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
            try:
                row = conn.execute(f"SELECT {value.column} FROM {value.table} WHERE CAST({label} AS TEXT) = ? "
                                   f"AND json_valid({value.column})", (value.label,)).fetchone()
            finally:
                conn.close()
            if row is not None and isinstance(decoded := json.loads(row[0]), dict):
                return decoded
    return None
