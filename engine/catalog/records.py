"""Plain records that importers and generators hand to the catalogue."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ItemRecord:
    """One item with its observations, as an importer found it.

    ``images`` are image files of an image-text item (usually one); ``views`` are pre-rendered views
    of a shape, in view order. Paths are absolute and already checked by the importer.
    """

    key: str
    split: str = "train"
    category: str = ""
    asset_path: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    captions: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    views: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DatasetSummary:
    name: str
    kind: str
    source_format: str
    root: str
    items: int
    observations: int
    by_modality: dict[str, int]
    by_split: dict[str, int]
    categories: int
    created_at: str
    meta: dict[str, Any]
    captioned_items: int = 0  # items with at least one caption (the others can be searched, not trained on)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "source_format": self.source_format,
            "root": self.root,
            "items": self.items,
            "captioned_items": self.captioned_items,
            "observations": self.observations,
            "by_modality": self.by_modality,
            "by_split": self.by_split,
            "categories": self.categories,
            "created_at": self.created_at,
            "meta": self.meta,
        }


@dataclass(frozen=True)
class AddResult:
    items_added: int
    items_updated: int
    observations_added: int
    captioned_items_added: int = 0  # of the items added, those with at least one caption


# Meta keys the importers keep for rescans (engine/data/importers/sync.py), not shown as an item's metadata:
FILE_STAMP = "file"  # an item's: its file's size and mtime at import
REVISION = "revision"  # a dataset's (moved on by every import that changes it) and an item's (the one that last did)
BOOKKEEPING_META = (FILE_STAMP, REVISION)


def dataset_revision(meta: dict[str, Any] | None) -> int:
    """A dataset's revision (``meta["revision"]``): moved on by every import that adds, changes or removes items,
    which carry the revision they were added or changed at (``engine/data/importers/sync.py``); 0 for a dataset
    imported before revisions existed."""
    value = (meta or {}).get(REVISION, 0)
    return value if isinstance(value, int) and value >= 0 else 0
