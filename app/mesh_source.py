"""Whether an import's source holds meshes, and one of them to preview (the Import dialog's up axis row).

Qt-free and cheap: a bounded walk of the folder the meshes come from that stops at the first mesh file, run on a
worker by the dialog. A format whose root is a meshes folder (Text2Shape, Objaverse) holds meshes by definition;
a folder import holds them when the walk finds one; the other formats hold images.
"""

from __future__ import annotations

import html
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from engine.catalog import Catalog
from engine.data.import_formats import FOLDER, MESHES, OBJAVERSE, ImportFormat
from engine.mesh_files import MESH_SUFFIXES, UP_AXIS_TABLE, up_axis_of

__all__ = ["MAX_SCANNED", "MeshSource", "dataset_up_axis", "first_mesh", "mesh_source", "up_axis_hint"]

MAX_SCANNED = 4000  # directory entries looked at, at most, before the walk gives up


@dataclass(frozen=True)
class MeshSource:
    """What the dialog shows for a source: the up axis row (``meshes``) and the mesh it previews (may be None)."""

    meshes: bool = False
    preview: str | None = None


def first_mesh(folder: Path, limit: int = MAX_SCANNED) -> Path | None:
    """The first mesh file found walking ``folder`` breadth first (files of a folder before its sub-folders, names
    sorted), looking at no more than ``limit`` entries; None when none was found within them."""
    pending: deque[Path] = deque([folder])
    seen = 0
    while pending and seen < limit:
        try:
            with os.scandir(pending.popleft()) as entries:
                listed = sorted(entries, key=lambda e: e.name)[: max(0, limit - seen)]
        except OSError:
            continue
        seen += len(listed)
        subfolders = []
        for entry in listed:
            try:
                if entry.is_dir():
                    subfolders.append(Path(entry.path))
                elif Path(entry.name).suffix.lower() in MESH_SUFFIXES and entry.is_file():
                    return Path(entry.path)
            except OSError:
                continue
        pending.extend(subfolders)
    return None


def mesh_source(fmt: ImportFormat, source: str, meshes_root: str = "", limit: int = MAX_SCANNED) -> MeshSource:
    """Whether importing ``source`` in format ``fmt`` brings meshes, and the first mesh found to preview."""
    if not source:
        return MeshSource(fmt.root == MESHES)
    path = Path(source).expanduser()
    if fmt.root == MESHES:
        if fmt.name == OBJAVERSE:
            folder = path / "glbs" if (path / "glbs").is_dir() else path
        else:
            folder = Path(meshes_root).expanduser() if meshes_root else (path if fmt.folder else path.parent)
        found = first_mesh(folder, limit)
        return MeshSource(True, str(found) if found else None)
    if fmt.name == FOLDER and path.is_dir():
        found = first_mesh(path, limit)
        return MeshSource(found is not None, str(found) if found else None)
    return MeshSource(False)


def up_axis_hint() -> str:
    """The README's table of which way is up, as rich text (the up axis row's tooltip)."""
    rows = "".join(f"<tr><td>{html.escape(s)}</td><td>{html.escape(f)}</td><td><b>{a}</b></td></tr>"
                   for s, f, a in UP_AXIS_TABLE)
    return ("<p>The axis that points up in the mesh files. It is stored with the dataset and used whenever its "
            "meshes are rendered.</p><table cellspacing='4'><tr><th align='left'>mesh set</th>"
            f"<th align='left'>format</th><th align='left'>up</th></tr>{rows}</table>"
            "<p>Shapes lying on their side in the preview: try another axis.</p>")


def dataset_up_axis(catalog: Catalog, name: str) -> str:
    """The up axis dataset ``name`` was imported with (``y`` when it has none, or is gone): how a mesh dropped on
    the Search page is turned by default, as the engine renders it for the run on that dataset."""
    dataset = next((d for d in catalog.datasets() if d.name == name), None)
    return up_axis_of(dataset.meta if dataset is not None else None)
