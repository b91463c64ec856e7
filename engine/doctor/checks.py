"""``trainer doctor``: check the catalogue file, its schema, and its runs and indexes against the workspace.

The checks read; :mod:`engine.doctor.repair` changes things. A finding names the file or thing, the
problem and what to do (or, after a repair, what was done).
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.catalog.backup import backups
from engine.catalog.damage import empty_but_backed_up
from engine.catalog.models import Base
from engine.catalog.run_status import INTERRUPTED, effective_status
from engine.catalog.snapshot import snapshot_uri
from engine.disk import fault_error, fault_of
from engine.doctor.aside import aside_files, counts, restore_command
from engine.doctor.json_columns import bad_values
from engine.doctor.runs_on_disk import run_dirs
from engine.run.folder import RunFolder
from engine.workspace import Workspace

INDEX_SUFFIX = ".hnsw"


@dataclass
class Finding:
    subject: str  # the file, run or dataset concerned
    problem: str
    action: str  # what to do, or what the repair did
    severity: str = "error"  # error | warning | fixed

    def line(self) -> str:
        return f"[{self.severity}] {self.subject}: {self.problem}" + (f"; {self.action}" if self.action else "")


@dataclass
class DoctorReport:
    workspace: str
    catalog: str
    catalog_problem: str | None = None
    backups: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.catalog_problem is None and not any(f.severity == "error" for f in self.findings)

    def add(self, subject: str | Path, problem: str, action: str = "", severity: str = "error") -> None:
        self.findings.append(Finding(str(subject), problem, action, severity))

    def as_dict(self) -> dict[str, Any]:
        return {"workspace": self.workspace, "catalog": self.catalog, "ok": self.ok,
                "catalog_problem": self.catalog_problem, "backups": self.backups,
                "findings": [asdict(f) for f in self.findings]}


def catalog_problem(path: Path, backups: Path) -> str | None:
    """Why SQLite cannot use the catalogue file (``PRAGMA integrity_check``, the schema's tables), or None
    (``backups``: the folder of its backups)."""
    if not path.exists():
        return None  # a new workspace: the catalogue is created on first use
    if path.is_dir():
        return "it is a directory, not a database file"
    if empty_but_backed_up(path, backups):
        return "it is empty, 0 bytes"
    return file_problem(path)


def file_problem(path: Path) -> str | None:
    """``integrity_check`` and the schema's tables of an existing SQLite file (a catalogue or a backup); on a full
    or read-only disk, checked read-only (:mod:`engine.catalog.snapshot`): the machine's fault is not the file's."""
    problem = _file_problem(path, f"file:{path}?mode=rw")
    if isinstance(problem, sqlite3.Error):
        if fault_of(problem, path) is None:
            return str(problem).splitlines()[0] or type(problem).__name__
        problem = _file_problem(path, snapshot_uri(path))
        if isinstance(problem, sqlite3.Error):
            return None if fault_of(problem, path) is not None else str(problem).splitlines()[0]
    return problem


def _file_problem(path: Path, uri: str) -> str | sqlite3.Error | None:
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=30)
    except sqlite3.Error as exc:
        return exc
    try:
        rows = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
        if rows != ["ok"]:
            more = f" (and {len(rows) - 1} more problems)" if len(rows) > 1 else ""
            return f"integrity check: {rows[0]}{more}"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables and path.stat().st_size == 0:
            return None  # an empty file is an empty database
        missing = sorted(set(Base.metadata.tables) - tables)
        if missing:
            return f"table {', '.join(missing)} is missing"
        return None
    except sqlite3.Error as exc:
        return exc
    finally:
        conn.close()


def check(workspace: Workspace) -> DoctorReport:
    """Every check; the catalogue's contents are only checked when the file itself is good."""
    path = workspace.catalog_path
    report = DoctorReport(str(workspace.root), str(path), backups=[str(p) for p in backups(workspace.backups)])
    report.catalog_problem = catalog_problem(path, workspace.backups)
    report_aside(workspace, report)
    if report.catalog_problem is not None:
        report.add(path, f"damaged ({report.catalog_problem})", "run 'trainer doctor --repair'")
        return report
    catalog = workspace.catalog()
    try:
        report_disk(workspace, catalog, report)
        check_contents(workspace, catalog, report)
    finally:
        catalog.close()
    return report


def report_disk(workspace: Workspace, catalog: Any, report: DoctorReport) -> None:
    """A full or read-only disk: a warning (reads work), never the catalogue's damage."""
    if catalog.read_only is not None:
        fault = fault_error(catalog.read_only, workspace.root)
        report.add(workspace.root, str(fault), "the catalogue is readable and intact; it is read only until then",
                   "warning")


def report_aside(workspace: Workspace, report: DoctorReport) -> None:
    """Every catalogue set aside beside the live one (:mod:`engine.doctor.aside`), with how to put it back."""
    live = counts(workspace.catalog_path) if workspace.catalog_path.is_file() else (0, 0)
    for aside in aside_files(workspace.catalog_path):
        restore = f"to put it back (the live catalogue is kept aside): {restore_command(aside, workspace.root)}"
        problem = file_problem(aside)
        if problem is not None:
            report.add(aside, f"a catalogue set aside, damaged ({problem})",
                       "kept for recovery; delete it once nothing in it is needed", "warning")
            continue
        held = counts(aside)
        more = held is not None and live is not None and (held[0] > live[0] or held[1] > live[1])
        what = f" holding {held[0]} datasets and {held[1]} runs" if held is not None else ""
        report.add(aside, f"a catalogue set aside that passes the checks{what}", restore,
                   "error" if more else "warning")


def check_contents(workspace: Workspace, catalog: Any, report: DoctorReport) -> None:
    for bad in bad_values(catalog):
        report.add(bad.subject(), f"{bad.column} is not valid JSON (a damaged page)", "repair mends it")
    datasets = {d.id: d.name for d in catalog.datasets()}
    rows = {r.name: r for r in catalog.runs()}
    on_disk = run_dirs(workspace)
    for name, run in rows.items():
        if not (Path(run.run_dir) if run.run_dir else RunFolder.of(workspace, name).path).is_dir():
            report.add(f"run {name}", f"its folder {run.run_dir} is gone", "delete the run or restore the folder",
                       "warning")
        if effective_status(run) == INTERRUPTED and run.status == "running":
            report.add(f"run {name}", "recorded as running but its process is gone (killed)",
                       "repair records it as interrupted; resume it with --resume latest", "warning")
        if run.dataset_id is None and (run.config or {}).get("dataset"):
            report.add(f"run {name}", f"its dataset {run.config['dataset']!r} is not in the catalogue",
                       "re-import the dataset (see the import logs in logs/)", "warning")
    for name in sorted(set(on_disk) - set(rows)):
        report.add(on_disk[name], f"run {name} is not in the catalogue", f"repair re-reads it from {RunFolder.CONFIG}")
    _check_indexes(workspace, catalog, report, {r.id: r.name for r in rows.values()}, datasets)


def _check_indexes(workspace: Workspace, catalog: Any, report: DoctorReport, run_names: dict[int, str],
                   datasets: dict[int, str]) -> None:
    from engine.index import registry
    from engine.index.errors import StaleIndexError
    from engine.index.loading import verify

    recorded: set[Path] = set()
    for row in registry.rows(catalog):
        run = run_names.get(row.run_id) if row.run_id is not None else None
        recorded.add(Path(row.path).resolve())
        rebuild = f"rebuild it with 'trainer index --run {run}'" if run else "rebuild it with 'trainer index'"
        try:
            verify(registry.manifest_of(row, run))
        except StaleIndexError as exc:
            report.add(row.path, f"index of {datasets.get(row.dataset_id, '?')} ({row.modality}): {exc.problem}",
                       rebuild)
    if workspace.indexes.is_dir():
        for path in sorted(workspace.indexes.rglob(f"*{INDEX_SUFFIX}")):
            if path.resolve() not in recorded:
                run = path.parent.name
                report.add(path, "index file has no catalogue row",
                           f"rebuild it with 'trainer index --run {run}' (indexes are rebuildable)", "warning")
