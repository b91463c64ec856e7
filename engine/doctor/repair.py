"""``trainer doctor --repair``: put a damaged catalogue aside, restore the newest good backup (or start an
empty catalogue), then rebuild what the workspace still records.

Runs come back from ``runs/*/config.yaml`` + ``events.jsonl``; indexes are rebuildable with ``trainer index``
(the report says which); datasets come back only from a backup, and the report says how to re-import the
lost ones (the import logs in ``logs/`` name their source). Renders are a cache.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from engine.atomic import replacing
from engine.catalog.backup import backups
from engine.catalog.run_status import INTERRUPTED, effective_status
from engine.disk import ReadOnlyWorkspace, ensure_free, fault_error, read_only_disk
from engine.doctor.aside import move_aside, put_back
from engine.doctor.checks import DoctorReport, catalog_problem, check_contents, file_problem, report_aside
from engine.doctor.json_columns import bad_values, mend
from engine.doctor.runs_on_disk import read_run, run_dirs
from engine.errors import CrossfoldError
from engine.workspace import Workspace

DEMO_DATASETS = ("shapes-demo", "scenes-demo")
__all__ = ["move_aside", "repair", "restore"]


def repair(workspace: Workspace) -> DoctorReport:
    path = workspace.catalog_path
    report = DoctorReport(str(workspace.root), str(path))
    problem = catalog_problem(path, workspace.backups)
    if problem is not None:
        report.catalog_problem = None
        room_to_restore(workspace)  # before anything is moved
        aside = move_aside(path)
        report.add(path, f"damaged ({problem})", f"moved aside to {aside}", "fixed")
        restored = restore_newest_good_backup(path, workspace.backups, report)
        if restored is None:
            report.add(path, "no good backup", "started an empty catalogue", "fixed")
    return _rebuilt(workspace, report)


def restore(workspace: Workspace, aside: Path) -> DoctorReport:
    """``trainer doctor --restore FILE``: put a catalogue set aside (that passes the checks) back in place; the live
    one is kept aside (``before-restore-<time>``), nothing is copied or deleted."""
    path = workspace.catalog_path
    aside = Path(aside).expanduser().absolute()
    if not aside.is_file():
        raise CrossfoldError(f"{aside}: no such catalogue file; 'trainer doctor' lists the ones set aside")
    if (problem := file_problem(aside)) is not None:
        raise CrossfoldError(f"{aside}: does not pass the checks ({problem}); not restored")
    if read_only_disk(path):
        raise ReadOnlyWorkspace(workspace.root)
    ensure_free(path, 0, workspace.root)
    report = DoctorReport(str(workspace.root), str(path))
    kept = put_back(aside, path)
    report.add(path, f"restored from {aside}", f"the catalogue it replaced is kept at {kept}" if kept else "",
               "fixed")
    return _rebuilt(workspace, report)


def room_to_restore(workspace: Workspace) -> None:
    """The disk can take a restored backup (the largest) before anything is moved; a read-only one cannot."""
    if read_only_disk(workspace.catalog_path):
        raise ReadOnlyWorkspace(workspace.root)
    sizes = [p.stat().st_size for p in backups(workspace.backups)]
    ensure_free(workspace.catalog_path, max(sizes, default=0), workspace.root, "the catalogue, untouched")


def _rebuilt(workspace: Workspace, report: DoctorReport) -> DoctorReport:
    """Open the catalogue, mend what it holds (runs, JSON values), then check it all again."""
    catalog = workspace.catalog()
    try:
        if catalog.read_only is not None:
            raise fault_error(catalog.read_only, workspace.root, "the catalogue, untouched")
        on_disk = run_dirs(workspace)
        for subject, action in mend(workspace.backups, catalog, bad_values(catalog), read_run, on_disk):
            report.add(subject, "held a value that is not valid JSON", action, "fixed")
        rebuild_runs(workspace, catalog, report)
        report_lost_datasets(workspace, catalog, report)
        check_contents(workspace, catalog, report)
    finally:
        catalog.close()
    report_aside(workspace, report)
    report.backups = [str(p) for p in backups(workspace.backups)]
    return report


def restore_newest_good_backup(path: Path, folder: Path, report: DoctorReport) -> Path | None:
    """Copy the newest backup in ``folder`` that passes the checks into place (temp file + rename); None if none
    does."""
    for backup in backups(folder):
        problem = file_problem(backup)
        if problem is not None:
            report.add(backup, f"backup unusable ({problem})", "skipped", "warning")
            continue
        with replacing(path) as tmp:
            shutil.copyfile(backup, tmp)
        report.add(path, f"restored from {backup}", "what changed since that backup is rebuilt below", "fixed")
        return backup
    return None


def rebuild_runs(workspace: Workspace, catalog: Any, report: DoctorReport) -> None:
    """Runs missing from the catalogue, or whose recorded state their events contradict, re-read from disk."""
    rows = {r.name: r for r in catalog.runs()}
    datasets = {d.name: d.id for d in catalog.datasets()}
    for name, run_dir in run_dirs(workspace).items():
        disk = read_run(run_dir)
        row = rows.get(name)
        dataset_id = datasets.get(str(disk.config.get("dataset", "")))
        if row is None:
            catalog.upsert_run(name, loss=str(disk.config.get("loss", "")), dataset_id=dataset_id,
                               config=disk.config, status=disk.status, pid=None, run_dir=str(run_dir),
                               started_at=disk.started_at, finished_at=disk.finished_at, metrics=disk.metrics)
            report.add(f"run {name}", "was not in the catalogue", f"re-read from {run_dir} ({disk.status})", "fixed")
            continue
        stale = row.status == "running" and effective_status(row) == INTERRUPTED
        ended = disk.status != INTERRUPTED and row.status != disk.status  # e.g. a backup from before it ended
        if stale or ended:
            catalog.upsert_run(name, status=disk.status, pid=None, finished_at=disk.finished_at)
            report.add(f"run {name}", f"recorded as {row.status}", f"now {disk.status}, as its events say", "fixed")


def report_lost_datasets(workspace: Workspace, catalog: Any, report: DoctorReport) -> None:
    """Datasets that runs or import logs name but the catalogue lacks: how to get each back."""
    present = {d.name for d in catalog.datasets()}
    imports = _imports(workspace.logs)
    wanted = set(imports)
    wanted.update(str(r.config.get("dataset")) for r in catalog.runs() if (r.config or {}).get("dataset"))
    for name in sorted(wanted - present):
        if name in imports:
            fmt, source = imports[name]
            how = f"re-import it: trainer import {fmt} {source} --name {name} (with --images-root/--meshes-root " \
                  "as the first time)"
        elif name in DEMO_DATASETS:
            how = "regenerate it: trainer demo-data"
        else:
            how = "re-import it with 'trainer import' (no import log names its source)"
        report.add(f"dataset {name}", "is lost (not in the catalogue or its backup)", how)


def _imports(logs: Path) -> dict[str, tuple[str, str]]:
    """dataset -> (format, source) from the newest import log of each (``logs/import-*.jsonl``)."""
    found: dict[str, tuple[str, str]] = {}
    if not logs.is_dir():
        return found
    for log in sorted(logs.glob("import-*.jsonl")):
        try:
            with log.open(encoding="utf-8", errors="replace") as f:
                head = json.loads(f.readline() or "{}")
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(head, dict) and head.get("dataset") and head.get("format"):
            found[str(head["dataset"])] = (str(head["format"]), str(head.get("source", "SOURCE")))
    return found
