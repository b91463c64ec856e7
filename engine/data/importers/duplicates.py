"""One file, one item: an image, view or mesh already used by another item of the dataset is skipped.

Files are identified by their real (symlink-resolved) path, so ``sub/e.png`` and ``e.png`` under two
``--images-root``, or a symlink and its target, are the same file: the first item keeps it; a later
item naming it is reported (otherwise the same picture could sit in train and in test). This holds
across imports into the same dataset: the files already in the catalogue are loaded first.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from engine.catalog.models import Item, Observation
from engine.catalog.records import ItemRecord
from engine.data.importers.report import ImportReport

if TYPE_CHECKING:
    from engine.catalog.repository import Catalog


def files_in_dataset(catalog: Catalog, dataset_id: int) -> dict[str, str]:
    """Real path -> item key of every image, view and mesh file of the dataset."""
    owners: dict[str, str] = {}
    with catalog.session() as s:
        rows = s.execute(
            select(Observation.path, Item.key)
            .join(Item, Item.id == Observation.item_id)
            .where(Item.dataset_id == dataset_id, Observation.path.is_not(None))
        ).all()
        assets = s.execute(
            select(Item.asset_path, Item.key).where(Item.dataset_id == dataset_id, Item.asset_path != "")
        ).all()
    for path, key in [*rows, *assets]:
        if path:
            owners.setdefault(os.path.realpath(path), key)
    return owners


def without_duplicates(
    records: Iterable[ItemRecord | None], owners: dict[str, str], source: Path, report: ImportReport
) -> Iterator[ItemRecord | None]:
    """``records`` with every file another item already has dropped (reported); ``owners`` grows.

    A record left with no file at all is skipped (None), its captions with it.
    """
    for record in records:
        if record is None:
            yield None
            continue
        dropped: list[str] = []

        def keep(path: str, record: ItemRecord = record, dropped: list[str] = dropped) -> bool:
            real = os.path.realpath(path)
            owner = owners.get(real)
            if owner is not None and owner != record.key:
                dropped.append(f"{real} is already item {owner!r}")
                return False
            return True

        images = [p for p in record.images if keep(p)]
        views = [p for p in record.views if keep(p)]
        asset = record.asset_path if record.asset_path and keep(record.asset_path) else ""
        if not dropped:
            _own(owners, record.key, record.images + record.views + [record.asset_path])
            yield record
            continue
        where = f"key {record.key}"
        if not images and not views and not asset:
            report.skip(source, where, f"duplicate file: {'; '.join(dropped)}; "
                                       f"{len(record.captions)} caption(s) skipped")
            yield None
            continue
        for why in dropped:
            report.skip(source, where, f"duplicate file dropped: {why}")
        _own(owners, record.key, images + views + [asset])
        record.images, record.views, record.asset_path = images, views, asset
        yield record


def storable(
    records: Iterable[ItemRecord | None], source: Path, report: ImportReport
) -> Iterator[ItemRecord | None]:
    """``records`` without what the catalogue cannot store as UTF-8 text (reported).

    Lone surrogates come from file names that are not UTF-8 (``os.walk`` decodes them with
    ``surrogateescape``) and from ``"\\udcff"`` escapes in JSON. A record whose key or file has one is
    skipped; a caption with one is dropped.
    """
    for record in records:
        if record is None:
            yield None
            continue
        if not all(_utf8(t) for t in (record.key, record.asset_path, *record.images, *record.views)):
            report.skip(source, f"key {record.key!r}", "file name is not valid UTF-8; "
                                                      f"{len(record.captions)} caption(s) skipped")
            yield None
            continue
        captions = [c for c in record.captions if _utf8(c)]
        if len(captions) < len(record.captions):
            bad = len(record.captions) - len(captions)
            report.skip(source, f"key {record.key}", f"{bad} caption(s) not valid Unicode text (lone surrogates)")
            if not captions:
                yield None
                continue
            record.captions = captions
        yield record


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _own(owners: dict[str, str], key: str, paths: list[str]) -> None:
    for path in paths:
        if path:
            owners.setdefault(os.path.realpath(path), key)
