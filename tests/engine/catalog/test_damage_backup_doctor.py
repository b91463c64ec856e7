"""Damaged catalogues (real SQLite files), backups, ``trainer doctor`` and a killed run's status."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.catalog import Catalog, CatalogDamaged, ItemRecord
from engine.catalog import schema as schema_mod
from engine.catalog.backup import KEEP, backup_catalog, backups
from engine.catalog.run_status import effective_status
from engine.doctor.checks import check
from engine.doctor.repair import repair
from engine.workspace import Workspace


def good_workspace(root: Path) -> Workspace:
    ws = Workspace.open(root)
    cat = ws.catalog()
    ds = cat.create_dataset("toy", "image-text", "csv")
    cat.add_records(ds.id, [ItemRecord(f"k{i}", captions=[f"caption {i} " * 8]) for i in range(200)])
    cat.close()
    ws.catalog().close()  # the second open of a good catalogue makes the day's backup
    return ws


def unwind(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()


@pytest.mark.parametrize("damage", ["random", "truncate", "flip", "directory", "drop"])
def test_damaged_catalogue_is_catalog_damaged_naming_backup_and_doctor(tmp_path: Path, damage: str) -> None:
    ws = good_workspace(tmp_path / "ws")
    path = ws.catalog_path
    unwind(path)
    if damage == "random":
        path.write_bytes(os.urandom(30_000))
    elif damage == "truncate":
        os.truncate(path, path.stat().st_size // 3)
    elif damage == "flip":
        with path.open("r+b") as f:
            f.seek(4096)
            page = f.read(4096)
            f.seek(4096)
            f.write(bytes(b ^ 0xFF for b in page))
    elif damage == "directory":
        path.unlink()
        path.mkdir()
    else:
        conn = sqlite3.connect(path)
        conn.execute("DROP TABLE observations")
        conn.commit()
        conn.close()
    with pytest.raises(CatalogDamaged) as caught:
        cat = Catalog(path)
        cat.summaries()
    message = str(caught.value)
    assert str(path) in message and "trainer doctor --repair" in message
    assert str(backups(ws.backups)[0]) in message and "\n" not in message


def test_backups_are_kept_to_the_newest_five_and_made_before_a_migration(tmp_path: Path) -> None:
    ws = good_workspace(tmp_path / "ws")
    assert len(backups(ws.backups)) == 1
    for _ in range(KEEP + 2):
        backup_catalog(ws.catalog_path, ws.backups)
    assert len(backups(ws.backups)) == KEEP
    assert not list((ws.root / "backups").glob(".*"))  # no temporary file left behind
    newest = backups(ws.backups)[0]

    def add_column(conn) -> None:  # a real migration step of a future schema version
        conn.execute(text("ALTER TABLE items ADD COLUMN note TEXT DEFAULT ''"))

    schema_mod.MIGRATIONS[schema_mod.SCHEMA_VERSION + 1] = add_column
    try:
        cat = Catalog(ws.catalog_path)
        version = schema_mod.ensure_schema(cat.engine, schema_mod.SCHEMA_VERSION + 1,
                                           before_migration=lambda: backup_catalog(ws.catalog_path, ws.backups))
    finally:
        del schema_mod.MIGRATIONS[schema_mod.SCHEMA_VERSION + 1]
    assert version == schema_mod.SCHEMA_VERSION + 1
    made = backups(ws.backups)[0]
    assert made != newest
    conn = sqlite3.connect(made)  # the backup holds the catalogue as it was before the step
    columns = [r[1] for r in conn.execute("PRAGMA table_info(items)")]
    assert "note" not in columns and conn.execute("SELECT count(*) FROM items").fetchone() == (200,)
    conn.close()


def test_doctor_repair_restores_backup_and_rebuilds_runs(tmp_path: Path) -> None:
    ws = good_workspace(tmp_path / "ws")
    run_dir = ws.runs / "r1"
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text("dataset: toy\nloss: clip\nname: r1\n")
    (run_dir / "events.jsonl").write_text('{"event": "started", "time": 1.0}\n{"event": "done", "time": 2.0}\n')
    killed = ws.runs / "r2"
    killed.mkdir()
    (killed / "config.yaml").write_text("dataset: gone\nloss: gcl\n")
    (killed / "events.jsonl").write_text('{"event": "started", "time": 1.0}\n{"event": "progr')
    (ws.logs).mkdir()
    (ws.logs / "import-gone-1.jsonl").write_text('{"event": "import", "dataset": "gone", "format": "coco", '
                                                 '"source": "/data/captions.json"}\n')
    unwind(ws.catalog_path)
    ws.catalog_path.write_bytes(os.urandom(20_000))
    assert check(ws).catalog_problem == "file is not a database"
    report = repair(ws)
    lines = "\n".join(f.line() for f in report.findings)
    assert "moved aside" in lines and "restored from" in lines
    assert "trainer import coco /data/captions.json --name gone" in lines
    cat = ws.catalog()
    assert [d.name for d in cat.datasets()] == ["toy"]
    assert {r.name: r.status for r in cat.runs()} == {"r1": "done", "r2": "interrupted"}
    assert list(ws.root.glob("catalog.sqlite.damaged-*"))


def test_killed_run_is_interrupted_live_one_running(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "catalog.sqlite")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        cat.upsert_run("live", loss="clip", status="running", pid=child.pid)
        run = cat.run("live")
        assert effective_status(run) == "running"  # started before the run was recorded: its process
        cat.upsert_run("mine", loss="clip", status="running", pid=os.getpid())
        assert effective_status(cat.run("mine")) == "running"
        cat.upsert_run("reused", loss="clip", status="running", pid=child.pid,
                       started_at=datetime.now(UTC) - timedelta(hours=1))
        assert effective_status(cat.run("reused")) == "interrupted"  # a newer process that is not a trainer
    finally:
        child.kill()
        child.wait()
    assert effective_status(cat.run("live")) == "interrupted"
    cat.upsert_run("done", loss="clip", status="done", pid=None)
    assert effective_status(cat.run("done")) == "done"
