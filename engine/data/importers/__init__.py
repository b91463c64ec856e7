"""Importers of real dataset formats into the catalogue: ``run_import`` and one module per format.

Every format module has ``load(path, options, report) -> LoadedSource``: it parses the source
(raising :class:`ImportFailed` when the source is missing or not in its format) and yields item
records lazily, checking each item's files as it goes. ``run_import`` creates the dataset, streams
the records into ``Catalog.add_records`` (which batches the INSERTs), and returns the report.

Bad records never abort an import: each is skipped and reported with file, where (``line 4``,
``key 1000092795.jpg``, ``annotations[12]``) and why. Re-importing a source adds nothing twice.

Nothing outside the roots the user named is read: every file's real path must lie in the import
root or an ``allow_outside`` folder (``paths.real_path_inside``). A file already used by another
item of the dataset (same real path) is reported and skipped (``duplicates``). Importing into an
existing dataset merges, says so in the report's notes, and each import's source and format is
listed in the dataset's ``meta["imports"]``. A folder imported again into the dataset it was imported into
synchronises it: files added, removed and changed since (``sync``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.catalog.records import REVISION, ItemRecord, dataset_revision
from engine.catalog.repository import CatalogError
from engine.data.import_formats import (
    COCO,
    CSV,
    FLICKR_TOKEN,
    FOLDER,
    FORMATS,
    KARPATHY,
    OBJAVERSE,
    TEXT2SHAPE,
)
from engine.data.importers import coco, csv_table, flickr_token, folder, karpathy, objaverse, text2shape
from engine.data.importers.duplicates import files_in_dataset, storable, without_duplicates
from engine.data.importers.report import ImportReport, Problem
from engine.data.importers.source import ImportFailed, ImportOptions, LoadedSource
from engine.data.importers.sync import FolderSync, known_stamps, with_revision
from engine.mesh_files import DEFAULT_UP_AXIS, UP_AXES

if TYPE_CHECKING:
    from engine.catalog.models import Dataset
    from engine.catalog.repository import Catalog
    from engine.workspace import Workspace

__all__ = [
    "FORMATS", "ImportFailed", "ImportOptions", "ImportReport", "LoadedSource", "Problem", "run_import",
]

Loader = Callable[[Path, ImportOptions, ImportReport], LoadedSource]

_LOADERS: dict[str, Loader] = {
    TEXT2SHAPE: text2shape.load,
    KARPATHY: karpathy.load,
    COCO: coco.load,
    FLICKR_TOKEN: flickr_token.load,
    CSV: csv_table.load,
    FOLDER: folder.load,
    OBJAVERSE: objaverse.load,
}
if set(_LOADERS) != set(FORMATS):  # a format listed in engine.data.import_formats without its loader, or not listed
    raise ImportError(f"engine.data.importers: loaders for {sorted(_LOADERS)}, formats {sorted(FORMATS)}")

_PROGRESS_EVERY_S = 0.1  # at most ~10 progress callbacks a second (a tqdm redraw each)

def run_import(
    catalog: Catalog,
    workspace: Workspace,
    fmt: str,
    path: Path,
    name: str,
    *,
    images_root: Path | None = None,
    meshes_root: Path | None = None,
    img_key: str = "filepath",
    caption_key: str = "title",
    separator: str | None = None,
    allow_outside: Sequence[Path] = (),
    up_axis: str | None = None,
    captions: Path | None = None,
    lvis: Path | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> ImportReport:
    """Import ``path`` in format ``fmt`` into the dataset ``name`` (created if needed).

    ``up_axis`` (mesh datasets only; one of ``engine.mesh_files.UP_AXES``) is the meshes' up direction,
    stored in the dataset's meta as ``up_axis`` and used whenever they are rendered (default ``y``). A
    dataset keeps the up axis it was first imported with: importing into it with another one fails.

    ``on_progress(done, total)`` is called as items are checked and handed to the catalogue
    (``total``: the number of items the source names). The report (counts and every skipped
    record) is also written to ``workspace.logs``. ``captions`` and ``lvis`` (objaverse only): Cap3D's captions
    CSV and the LVIS annotations. ``allow_outside``: folders besides the images/
    meshes root whose files may be imported (through symlinks inside the root).
    """
    loader = _LOADERS.get(fmt)
    if loader is None:
        raise ImportFailed(f"{path}: unknown import format {fmt!r} (known: {', '.join(FORMATS)})")
    if not name or not name.strip():
        raise ImportFailed(f"{path}: the dataset name must not be empty")
    path = Path(path).expanduser()
    given = [flag for flag, value in (("--captions", captions), ("--lvis", lvis)) if value is not None]
    if given and fmt != OBJAVERSE:
        verb = "applies" if len(given) == 1 else "apply"
        raise ImportFailed(f"{path}: {' and '.join(given)} {verb} to objaverse imports only, not {fmt}")
    report = ImportReport(dataset=name, format=fmt, source=str(path.absolute()))
    options = ImportOptions(
        images_root=Path(images_root).expanduser() if images_root is not None else None,
        meshes_root=Path(meshes_root).expanduser() if meshes_root is not None else None,
        img_key=img_key,
        caption_key=caption_key,
        separator=separator,
        allow_outside=tuple(Path(p).expanduser() for p in allow_outside),
        captions=Path(captions).expanduser() if captions is not None else None,
        lvis=Path(lvis).expanduser() if lvis is not None else None,
    )
    if up_axis is not None and up_axis not in UP_AXES:
        raise ImportFailed(f"{path}: --up must be one of {', '.join(UP_AXES)}, not {up_axis!r}")
    options = replace(options, known=known_stamps(catalog, fmt, name, report.source))
    loaded = loader(path, options, report)
    if up_axis is not None and loaded.kind != "shape-text":
        raise ImportFailed(f"{path}: --up applies to meshes; this source holds {loaded.kind} items")
    before = existing = catalog.dataset(name)
    if up_axis is not None and existing is not None and existing.kind == "shape-text":
        stored = (existing.meta or {}).get("up_axis", DEFAULT_UP_AXIS)
        if stored != up_axis:
            raise ImportFailed(
                f"{path}: dataset {name!r} holds meshes imported with --up {stored}; import these with "
                f"--up {stored} or into a new dataset"
            )
    meta = {"source": report.source, **loaded.meta}
    if loaded.kind == "shape-text":
        meta["up_axis"] = up_axis or DEFAULT_UP_AXIS
    try:
        dataset = catalog.create_dataset(name, loaded.kind, fmt, loaded.root, meta=meta)
    except CatalogError as exc:
        raise ImportFailed(f"{path}: cannot import into {name!r}: {exc}") from exc
    imports = _previous_imports(before)
    if before is not None and all((i.get("format"), i.get("source")) != (fmt, report.source) for i in imports):
        earlier = "; ".join(f"{i.get('format')} {i.get('source')}" for i in imports) or before.source_format
        report.notes.append(
            f"merged into the existing dataset {name!r} (imported before from: {earlier}); "
            f"items with the same key get this source's captions too"
        )

    owners = files_in_dataset(catalog, dataset.id) if before is not None else {}
    revision = dataset_revision(dataset.meta) + 1  # of the items this import adds or changes
    again = before is not None and fmt == FOLDER and any(
        (i.get("format"), i.get("source")) == (fmt, report.source) for i in imports)
    sync = FolderSync(catalog, dataset.id, (loaded.root, *options.allow_outside), revision,
                      meshes=loaded.kind == "shape-text", owners=dict(owners)) if again else None
    found = with_revision(loaded.records, revision) if before is not None else loaded.records
    found = sync.records(found) if sync is not None else found
    records = without_duplicates(storable(found, path, report), owners, path, report)
    result = catalog.add_records(dataset.id, _with_progress(records, loaded.total, on_progress))
    report.items_added = result.items_added
    report.captioned_items_added = result.captioned_items_added
    report.items_updated = result.items_updated
    report.observations_added = result.observations_added
    if sync is not None:
        sync.apply(report)
    log = report.write_log(workspace.logs)
    this = {
        "source": report.source,
        "format": fmt,
        "roots": [str(Path(r).resolve()) for r in (loaded.root, *options.allow_outside) if r],  # dataset_roots
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "items_added": report.items_added,
        "captioned_items_added": report.captioned_items_added,
        "observations_added": report.observations_added,
        "skipped": report.skipped,
        "log": str(log),
    }
    imports = [i for i in imports if (i.get("format"), i.get("source")) != (fmt, report.source)] + [this]
    moved = {REVISION: revision} if report.items_added or (sync is not None and sync.moved) else {}
    catalog.update_dataset_meta(dataset.id, last_import=this, imports=imports, **moved)
    return report


def _previous_imports(dataset: Dataset | None) -> list[dict[str, Any]]:
    """The dataset's ``meta["imports"]`` (one entry per source and format), [] for a new dataset.

    A dataset imported before the list existed gets one entry from its ``source`` and format."""
    if dataset is None:
        return []
    meta = dict(dataset.meta or {})
    imports = meta.get("imports")
    if isinstance(imports, list):
        return [i for i in imports if isinstance(i, dict)]
    last = meta.get("last_import")
    if isinstance(last, dict):
        return [last]
    return [{"source": meta.get("source", ""), "format": dataset.source_format}]


def _with_progress(
    records: Iterable[ItemRecord | None],
    total: int | None,
    on_progress: Callable[[int, int | None], None] | None,
) -> Iterator[ItemRecord]:
    """The usable records, calling ``on_progress`` (throttled) as every item, used or not, goes by."""
    done = 0
    last = time.monotonic()
    if on_progress is not None:
        on_progress(0, total)
    for record in records:
        done += 1
        if on_progress is not None:
            now = time.monotonic()
            if now - last >= _PROGRESS_EVERY_S:
                last = now
                on_progress(done, total)
        if record is not None:
            yield record
    if on_progress is not None:
        on_progress(done, total)
