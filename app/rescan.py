"""Rescan a dataset imported from a folder: what the Datasets page's "Rescan" button runs and says (issue 19, §4).

A rescan is the same import again: ``trainer import folder DIR --name N --events -`` with the options the import
recorded (its ``--allow-outside`` folders, the meshes' up axis), which the engine turns into a synchronisation
(``engine/data/importers/sync.py``): files added, removed and changed since are followed, the rest left as is.
Qt-free: the page builds the job from :func:`rescan_args` and says :func:`rescan_line` when it ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.data.import_formats import FOLDER

__all__ = ["FolderImport", "folder_import", "rescan_args", "rescan_line"]


@dataclass(frozen=True)
class FolderImport:
    """A folder a dataset was imported from, with the options to import it again the same way."""

    folder: str  # the source as the import recorded it (what makes the next import of it a sync)
    allow_outside: tuple[str, ...] = ()  # the extra roots it was imported with (``--allow-outside``)
    up_axis: str = ""  # meshes: the dataset's up axis (``--up``); "" for images


def folder_import(meta: Mapping[str, Any] | None, source_format: str = "", kind: str = "") -> FolderImport | None:
    """The newest folder import listed in a dataset's ``meta["imports"]`` (a dataset imported before that list
    existed: its ``last_import``, else its ``source`` when its format is ``folder``); None when it has none."""
    meta = meta or {}
    imports = meta.get("imports")
    if not isinstance(imports, list):
        last = meta.get("last_import")
        imports = [last] if isinstance(last, dict) else [{"source": meta.get("source", ""), "format": source_format}]
    folders = [i for i in imports if isinstance(i, dict) and i.get("format") == FOLDER
               and isinstance(i.get("source"), str) and i["source"]]
    if not folders:
        return None
    newest = folders[-1]  # the list is kept in the order of the imports, the newest last
    roots = newest.get("roots")
    extra = tuple(str(r) for r in roots[1:] if r) if isinstance(roots, list) else ()  # [folder, *allow_outside]
    up = meta.get("up_axis") if kind == "shape-text" else None
    return FolderImport(newest["source"], extra, up if isinstance(up, str) else "")


def rescan_args(name: str, source: FolderImport) -> list[str]:
    """The ``trainer`` arguments that rescan ``source`` into the dataset ``name`` (without ``--workspace``)."""
    args = ["import", FOLDER, source.folder, "--name", name]
    if source.up_axis:
        args += ["--up", source.up_axis]
    for folder in source.allow_outside:
        args += ["--allow-outside", folder]
    return [*args, "--events", "-"]


def rescan_line(name: str, report: Mapping[str, Any] | None) -> str:
    """What a finished rescan did, in one line: ``Rescanned holiday: added 1, removed 1, changed 0, unchanged 29``
    (and how many files were skipped, when some were)."""
    report = report or {}

    def count(key: str) -> int:
        value = report.get(key, 0)
        return value if isinstance(value, int) else 0

    line = (f"Rescanned {name}: added {count('items_added')}, removed {count('items_removed')}, "
            f"changed {count('items_changed')}, unchanged {count('items_unchanged')}")
    skipped = count("skipped")
    return line + (f" ({skipped} file{'s' if skipped != 1 else ''} skipped: see the import log)" if skipped else "")
