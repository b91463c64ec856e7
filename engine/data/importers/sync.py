"""A folder imported again into its dataset: the dataset follows the folder (issue 19, section 4).

``trainer import folder DIR --name N`` on a dataset that was imported from the same folder (the same source and
format in its ``meta["imports"]``) synchronises it:

- a file with no item yet is **added** (as any import adds it);
- an item whose file is gone (or no longer an importable image or mesh: reported) is **removed**, its observations
  with it; only items whose file lies under the folder (or an ``--allow-outside`` folder) are candidates, so the
  items another source merged into the dataset stay;
- an item whose file's size or mtime differs from the stamp recorded at its import (``meta["file"]``) is
  **changed**: its stamp is updated, it gets the new revision, and a mesh's views are dropped (they were rendered
  from the old file: ``trainer render`` renders it again, its render cache entry being keyed by the file's hash);
- the others are **unchanged**: nothing is written for them (an item imported before stamps existed gets its stamp).

A folder that is gone fails as any import does; one that holds none of its files any more (an unmounted drive's
mount point) is refused, nothing removed.

Every import that adds, changes or removes items moves the dataset's ``meta["revision"]`` on by one; the items a
later import (not the one that made the dataset) adds or changes carry the revision too (``meta["revision"]``).
``trainer index`` records the revision an index was built at, re-encodes the items newer than it and drops the
entries of items and observations that are gone (``engine/indexing.py``): an id freed by a removed item and handed
to a new one is never read as the old one.
The split of an item that stays is never touched (it is a hash of its key).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.catalog.records import FILE_STAMP, REVISION, ItemRecord
from engine.data.import_formats import FOLDER
from engine.data.importers.report import ImportReport
from engine.data.importers.source import ImportFailed

if TYPE_CHECKING:
    from engine.catalog.repository import Catalog


def file_stamp(path: Path) -> dict[str, int]:
    """What a rescan compares: the file's size and modification time (ns)."""
    st = os.stat(path)
    return {"size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}


def known_stamps(catalog: Catalog, fmt: str, name: str, source: str) -> dict[str, dict[str, Any]]:
    """key -> recorded file stamp of the dataset's items when ``source`` is a folder imported into ``name`` before
    (a rescan: the loader need not check again a file whose stamp is the same); else empty."""
    dataset = catalog.dataset(name) if fmt == FOLDER else None
    if dataset is None or not _imported_from(dataset.meta, fmt, source):
        return {}
    return {key: stamp for key, (_, stamp) in catalog.item_stamps(dataset.id).items() if stamp is not None}


def _imported_from(meta: dict[str, Any] | None, fmt: str, source: str) -> bool:
    imports = (meta or {}).get("imports")
    listed = imports if isinstance(imports, list) else [(meta or {}).get("last_import")]
    return any(isinstance(i, dict) and (i.get("format"), i.get("source")) == (fmt, source) for i in listed)


def with_revision(records: Iterable[ItemRecord | None], revision: int) -> Iterator[ItemRecord | None]:
    """Each record stamped with the revision it is imported at (kept only by the items it adds: an existing item
    gets a new revision only when its file changed)."""
    for record in records:
        if record is not None:
            record.meta = {**record.meta, REVISION: revision}
        yield record


@dataclass
class FolderSync:
    """Compares the records of a folder with the items its earlier import made; :meth:`apply` writes the result."""

    catalog: Catalog
    dataset_id: int
    roots: tuple[Path, ...]
    revision: int
    meshes: bool
    owners: dict[str, str]  # real path -> key of every file of the dataset before this import (files_in_dataset)
    stamps: dict[str, tuple[int, dict[str, Any] | None]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    changed: dict[int, dict[str, Any]] = field(default_factory=dict)
    restamped: dict[int, dict[str, Any]] = field(default_factory=dict)
    unchanged: int = 0
    removed: int = 0

    def __post_init__(self) -> None:
        self.stamps = self.catalog.item_stamps(self.dataset_id)

    def records(self, records: Iterable[ItemRecord | None]) -> Iterator[ItemRecord | None]:
        """``records`` as they come, sorting each into added, changed or unchanged on the way. An unchanged record
        without captions goes no further (None: it would add nothing): the duplicate check (two ``realpath`` per
        file) and the catalogue's merge of every unchanged item were most of a rescan's time. One with captions
        goes on: a caption file put beside an unchanged picture adds its captions."""
        for record in records:
            if record is not None and self._sort(record) and not record.captions:
                yield None
                continue
            yield record

    def _sort(self, record: ItemRecord) -> bool:
        """Counts ``record`` as added, changed or unchanged; whether it is unchanged."""
        self.seen.add(record.key)
        known = self.stamps.get(record.key)
        if known is None:
            return False  # added: the catalogue inserts it
        item_id, old = known
        new = record.meta.get(FILE_STAMP)
        if old is not None and old != new:
            self.changed[item_id] = {FILE_STAMP: new, REVISION: self.revision}
            return False
        if old is None:
            self.restamped[item_id] = {FILE_STAMP: new}
        self.unchanged += 1
        return True

    def apply(self, report: ImportReport) -> None:
        """Once every record went by: write the changes, drop the items whose file is gone, count them in
        ``report``."""
        if self.changed:
            self.catalog.refresh_items(self.changed, drop_views=self.meshes)
        if self.restamped:
            self.catalog.refresh_items(self.restamped)
        bases = tuple(os.fspath(root).rstrip(os.sep) + os.sep for root in self.roots)
        under = {key for path, key in self.owners.items() if _inside(path, bases)}
        gone = [self.stamps[key][0] for key in sorted(under - self.seen) if key in self.stamps]
        if gone and not self.seen:  # an unmounted drive's empty mount point must not empty the dataset
            raise ImportFailed(f"{self.roots[0]}: holds none of the {len(gone)} files imported from it (a drive "
                               "not mounted?); nothing was removed")
        self.removed = self.catalog.remove_items(gone) if gone else 0
        report.synced = True
        report.items_removed, report.items_changed, report.items_unchanged = (
            self.removed, len(self.changed), self.unchanged)

    @property
    def moved(self) -> bool:
        """Whether this sync changed or removed an item (the dataset's revision moves on)."""
        return bool(self.changed or self.removed)


def _inside(path: str, bases: tuple[str, ...]) -> bool:
    """Whether the real path ``path`` lies in one of the roots (each given with a trailing separator); string
    tests: ``Path.is_relative_to`` cost a tenth of a rescan of 100,000 files."""
    return (path + os.sep).startswith(bases)
