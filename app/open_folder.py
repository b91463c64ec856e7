"""What "Open a folder…" runs (issue 19, §3): the README's "Your own data" as one job of three ``trainer`` commands.

A folder of images or meshes (captions optional) becomes a searchable dataset in three stages, each a child
``trainer ... --events -`` (the app's :class:`~app.staged_job.StagedJob` runs them one after the other):

1. ``trainer import folder DIR --name N [--up AXIS]``: the import; the same folder again is a sync (``unchanged``);
2. ``trainer render N`` (meshes only): renders what is missing (the cache serves the rest);
3. ``trainer index --model M --pretrained P --dataset N``: the zero-shot run named by the engine's default
   (:func:`engine.names.default_pretrained_run_name`), so the same folder with the same weights reuses its run and
   finds its indexes up to date.

Qt-free: the dialog asks for an :class:`OpenFolderPlan`, :func:`stage_args` turns it into the commands, and
:func:`opened_line` / :func:`run_of` read the stages' ``done`` reports. :func:`scan_folder` looks at a bounded number
of the folder's files (on a worker) to tell meshes from images before the import does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.data.import_formats import FOLDER
from engine.mesh_files import MESH_SUFFIXES
from engine.names import folded_name

__all__ = ["IMPORTING", "INDEXING", "RENDERING", "SCAN_LIMIT", "FolderContents", "OpenFolderPlan",
           "default_dataset_name", "opened_line", "run_of", "scan_folder", "stage_args"]

IMPORTING, RENDERING, INDEXING = "importing", "rendering", "building the search index"
SCAN_LIMIT = 2000  # files looked at before the dialog says what the folder holds (a folder may hold 100k)


@dataclass(frozen=True)
class FolderContents:
    """What the first files of a folder are (at most :data:`SCAN_LIMIT` looked at; ``complete``: all were)."""

    images: int = 0
    meshes: int = 0
    captioned_images: int = 0  # with a same-stem .txt beside them
    captioned_meshes: int = 0
    first_mesh_suffix: str = ""  # ".off": suggests the up axis
    complete: bool = True

    @property
    def holds_meshes(self) -> bool:
        """The import will make a mesh dataset: the folder importer's rule (the kind with more captioned files, all
        files when none has a caption) on the files looked at."""
        if self.captioned_images or self.captioned_meshes:
            return self.captioned_meshes > self.captioned_images
        return self.meshes > self.images

    @property
    def empty(self) -> bool:
        return not (self.images or self.meshes)

    def describe(self) -> str:
        """For the dialog: ``12 meshes (0 with captions)``; ``at least`` when the scan stopped short."""
        if self.empty:
            return "no images or meshes" + ("" if self.complete else f" in its first {SCAN_LIMIT:,} files")
        count, captioned, noun = ((self.meshes, self.captioned_meshes, "mesh") if self.holds_meshes
                                  else (self.images, self.captioned_images, "image"))
        plural = noun + ("es" if noun == "mesh" else "s") if count != 1 else noun
        return f"{'' if self.complete else 'at least '}{count:,} {plural} ({captioned:,} with captions)"


def scan_folder(folder: Path, limit: int = SCAN_LIMIT) -> FolderContents:
    """Count the images and meshes among the first ``limit`` files under ``folder`` (hidden files and folders
    skipped, symlinked folders not followed, as the importer walks). A worker's job: it reads directories."""
    from engine.data.importers.checks import IMAGE_SUFFIXES  # the importer's list (loads the importers)

    counts = {"images": 0, "meshes": 0, "captioned_images": 0, "captioned_meshes": 0}
    first_mesh, seen, pending = "", 0, [folder]
    while pending:
        current = pending.pop()
        try:
            with os.scandir(current) as listing:
                entries = [e for e in listing if not e.name.startswith(".")]
        except OSError:
            continue
        names = {e.name for e in entries}
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(Path(entry.path))
                    continue
            except OSError:
                continue
            seen += 1
            stem, suffix = os.path.splitext(entry.name)
            suffix = suffix.lower()
            kind = "meshes" if suffix in MESH_SUFFIXES else "images" if suffix in IMAGE_SUFFIXES else ""
            if kind:
                counts[kind] += 1
                counts[f"captioned_{kind}"] += f"{stem}.txt" in names
                first_mesh = first_mesh or (suffix if kind == "meshes" else "")
            if seen >= limit:
                return FolderContents(**counts, first_mesh_suffix=first_mesh, complete=False)
    return FolderContents(**counts, first_mesh_suffix=first_mesh, complete=True)


def default_dataset_name(folder: str | Path) -> str:
    """The dataset name a folder suggests: its own name, folded to what names allow (``My Shapes``: ``My-Shapes``)."""
    return folded_name(Path(str(folder).rstrip("/\\") or "/").name, "my-folder")


@dataclass(frozen=True)
class OpenFolderPlan:
    """What the dialog asked: the folder, the dataset, the meshes' up axis, the weights; and the render's size."""

    folder: str  # absolute
    name: str  # the dataset
    meshes: bool  # a mesh folder: rendered, searched as shapes
    model: str
    pretrained: str  # an open_clip tag or a weights file
    up_axis: str = ""  # meshes: ``--up`` ("" leaves the importer's default)
    views: int | None = None  # render: views per mesh (None: trainer's default)
    size: int | None = None  # render: view size in pixels (None: trainer's default)
    workers: int | None = None  # render processes (None: trainer's default)

    @property
    def target(self) -> str:
        """The Search page's target for the dataset (:data:`engine.search.TARGETS`)."""
        return "shapes" if self.meshes else "images"


def stage_args(plan: OpenFolderPlan) -> list[tuple[str, list[str]]]:
    """``(stage label, trainer arguments without --workspace)`` for each stage, in order."""
    imported = ["import", FOLDER, plan.folder, "--name", plan.name]
    if plan.meshes and plan.up_axis:
        imported += ["--up", plan.up_axis]
    stages = [(IMPORTING, [*imported, "--events", "-"])]
    if plan.meshes:
        rendered = ["render", plan.name]
        for flag, value in (("--views", plan.views), ("--size", plan.size), ("--workers", plan.workers)):
            if value is not None:
                rendered += [flag, str(value)]
        stages.append((RENDERING, [*rendered, "--events", "-"]))
    stages.append((INDEXING, ["index", "--model", plan.model, "--pretrained", plan.pretrained, "--dataset",
                              plan.name, "--events", "-"]))
    return stages


def _report(results: Sequence[Mapping[str, Any] | None], i: int) -> Mapping[str, Any]:
    found = results[i] if i < len(results) else None
    return found if isinstance(found, Mapping) else {}


def _count(report: Mapping[str, Any], key: str) -> int:
    value = report.get(key, 0)
    return value if isinstance(value, int) else 0


def run_of(results: Sequence[Mapping[str, Any] | None]) -> str:
    """The zero-shot run the index stage made or reused (its ``done`` report's ``run``; "" when unknown)."""
    run = _report(results, len(results) - 1).get("run") if results else ""
    return run if isinstance(run, str) else ""


def opened_line(plan: OpenFolderPlan, results: Sequence[Mapping[str, Any] | None]) -> str:
    """What the finished job did, in one line, from its stages' reports (in :func:`stage_args`' order)."""
    imported = _report(results, 0)
    if imported.get("synced"):
        changes = [f"{label} {_count(imported, key)}" for label, key in (
            ("added", "items_added"), ("removed", "items_removed"), ("changed", "items_changed"))
            if _count(imported, key)]
        parts = [f"{', '.join(changes)}, unchanged {_count(imported, 'items_unchanged')}" if changes
                 else f"nothing changed in the folder ({_count(imported, 'items_unchanged'):,} items unchanged)"]
    else:
        parts = [f"{_count(imported, 'items_added'):,} new items "
                 f"({_count(imported, 'captioned_items_added'):,} with captions)"]
    if plan.meshes:
        rendered = _report(results, 1)
        parts.append(f"{_count(rendered, 'rendered'):,} meshes rendered, {_count(rendered, 'cached'):,} from the "
                     "cache" + (f", {len(rendered['failed'])} failed" if rendered.get("failed") else ""))
    indexed = _report(results, len(results) - 1)
    modalities = indexed.get("modalities")
    actions = {d.get("action") for d in modalities.values() if isinstance(d, Mapping)} \
        if isinstance(modalities, Mapping) else set()
    state = "indexes up to date" if actions == {"up-to-date"} else "indexed"
    parts.append(f"zero-shot run {run_of(results) or '?'}: {state}")
    return f"Opened {plan.name}: " + "; ".join(parts) + "."
