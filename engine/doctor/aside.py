"""Catalogues set aside beside the live one: ``catalog.sqlite.damaged-<time>`` (moved by a repair) and
``catalog.sqlite.before-restore-<time>`` (the live one, kept when ``trainer doctor --restore`` put another in its
place). Never deleted here: the doctor names each, says whether it passes the checks, and how to put it back."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from engine.errors import CrossfoldError

LABELS = ("damaged", "before-restore")
SIDE_FILES = ("-wal", "-shm", "-journal")


def move_aside(path: Path, label: str = "damaged") -> Path:
    """Rename the catalogue (and its -wal/-shm, which belong to it) to ``<name>.<label>-<UTC time>`` (a rename:
    no space needed, nothing copied)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.{label}-{stamp}")
    n = 1
    while aside.exists():
        aside, n = path.with_name(f"{path.name}.{label}-{stamp}-{n}"), n + 1
    os.replace(path, aside)
    for suffix in SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.replace(side, aside.with_name(aside.name + suffix))
    return aside


def aside_files(path: Path) -> list[Path]:
    """The catalogues set aside beside ``path``, newest name first (their -wal/-shm not listed)."""
    try:
        found = [p for p in path.parent.iterdir() if p.is_file() and any(
            p.name.startswith(f"{path.name}.{label}-") for label in LABELS) and not p.name.endswith(SIDE_FILES)]
    except OSError:
        return []
    return sorted(found, key=lambda p: p.name, reverse=True)


def counts(path: Path) -> tuple[int, int] | None:
    """(datasets, runs) in a catalogue file, None when they cannot be counted."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return (conn.execute("SELECT count(*) FROM datasets").fetchone()[0],
                    conn.execute("SELECT count(*) FROM runs").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def restore_command(aside: Path, workspace: Path) -> str:
    return f"trainer doctor --restore {aside} --workspace {workspace}"


def put_back(aside: Path, path: Path) -> Path | None:
    """Rename ``aside`` (with its side files) onto the live catalogue ``path``, which is kept as
    ``before-restore-<time>`` first (returned; None when there was none)."""
    if aside.parent.resolve() != path.parent.resolve() or not aside.is_file():
        raise CrossfoldError(f"{aside}: not a catalogue beside {path}; --restore takes one of the files "
                             f"'trainer doctor' lists ({path.name}.damaged-*)")
    kept = move_aside(path, "before-restore") if path.exists() else None
    for suffix in SIDE_FILES:
        side = aside.with_name(aside.name + suffix)
        if side.exists():
            os.replace(side, path.with_name(path.name + suffix))
    os.replace(aside, path)
    return kept
