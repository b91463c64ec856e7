from __future__ import annotations

from pathlib import Path

import pytest

from engine.workspace import ENV_VAR, Workspace, resolve_workspace


def test_explicit_beats_env_beats_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert resolve_workspace() == tmp_path / "xdg" / "crossfold"
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    assert resolve_workspace() == tmp_path / "env"
    assert resolve_workspace(tmp_path / "flag") == tmp_path / "flag"


def test_open_creates_folder_and_catalogue(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "w")
    assert ws.root.is_dir()
    ws.catalog()
    assert ws.catalog_path.is_file()
    assert ws.renders == ws.root / "renders"


def test_workspace_owns_every_top_level_folder(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    assert ws.catalog_path == tmp_path / "catalog.sqlite"
    assert ws.backups == tmp_path / "backups" and ws.jobs == tmp_path / "jobs"
    assert ws.packed == tmp_path / "renders" / "packed"
    assert (ws.datasets, ws.runs, ws.indexes, ws.logs) == (tmp_path / "datasets", tmp_path / "runs",
                                                            tmp_path / "indexes", tmp_path / "logs")
    catalog = ws.catalog()
    assert catalog.backups == ws.backups  # the catalogue keeps its backups where the workspace says
    catalog.close()
