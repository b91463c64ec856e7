"""Removing a run's folder, only when it really is one (named as the run, holding a run's files, not the
workspace or one of its parents). Never raises: returns a line for people when something was kept."""

from __future__ import annotations

import shutil
from pathlib import Path

from engine.run.folder import RunFolder
from engine.workspace import Workspace


def remove_run_dir(run_dir: Path, name: str, ws: Workspace) -> str:
    """Remove the folder of run ``name``; ``""`` when it is gone (or was never there), else why it was kept."""
    try:
        resolved = run_dir.resolve()
    except OSError:
        return ""
    if not resolved.is_dir():
        return ""
    root = ws.root.resolve()
    looks_like_run = RunFolder(resolved).looks_like_run()
    if resolved.name != name or not looks_like_run or resolved in (root, *root.parents):
        return f"kept {resolved}: it does not look like the folder of run {name}"
    shutil.rmtree(resolved, ignore_errors=True)
    return "" if not resolved.exists() else f"could not remove every file of {resolved}"
