"""Read-only catalogue queries for browsing a dataset page by page (the app's Datasets page).

Shaped for large datasets: :func:`item_ids` returns the ids of the matching items in one indexed
query (cheap even for 100k items), and :func:`item_cards` the few details a grid cell needs for one
page of those ids. :func:`item_detail` returns one item with every observation. All results are
plain frozen dataclasses, safe to hand from a worker thread to another thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from sqlalchemy import Select, func, select

from engine.catalog.models import Dataset, Item, Observation
from engine.catalog.repository import Catalog, CatalogError
from engine.mesh_files import DEFAULT_UP_AXIS
from engine.mesh_files import MESH_SUFFIXES as MESH_FILE_SUFFIXES

_CHUNK = 900  # ids per IN (...) clause, well under SQLite's variable limit


@dataclass(frozen=True)
class DatasetFacets:
    """What the filters of one dataset can take: its splits and categories (sorted)."""

    dataset_id: int
    name: str
    kind: str
    splits: tuple[str, ...]
    categories: tuple[str, ...]


@dataclass(frozen=True)
class ItemCard:
    """One grid cell: the item, its thumbnail (first view, else its first image) and first caption."""

    id: int
    key: str
    split: str
    category: str
    thumbnail: str  # a file path, "" when the item has no view or image
    caption: str  # the first caption, "" when none


@dataclass(frozen=True)
class ItemDetail:
    id: int
    dataset: str
    key: str
    split: str
    category: str
    asset_path: str
    meta: dict[str, Any] = field(default_factory=dict)
    captions: tuple[str, ...] = ()
    views: tuple[str, ...] = ()  # view paths in view order
    images: tuple[str, ...] = ()
    mesh_path: str = ""  # the asset if it is a mesh file, resolved against the dataset's root
    up_axis: str = "y"  # the dataset's up axis (``--up`` at import): how the mesh is turned upright
    roots: tuple[str, ...] = ()  # the folders the dataset was imported from (its meshes' textures come from there)


def dataset_roots(root: str | None, meta: dict[str, Any] | None) -> tuple[Path, ...]:
    """The folders a dataset's files were imported from: its root and every import's ``roots`` (the source's
    root and its ``--allow-outside`` folders). A mesh's side files (textures) are read from inside these only."""
    found = [root] if root else []
    for entry in (meta or {}).get("imports") or []:
        if isinstance(entry, dict) and isinstance(entry.get("roots"), list):
            found += [r for r in entry["roots"] if isinstance(r, str) and r]
    return tuple(dict.fromkeys(Path(r) for r in found))


def dataset_facets(catalog: Catalog, name: str) -> DatasetFacets:
    with catalog.session() as s:
        ds = s.scalar(select(Dataset).where(Dataset.name == name))
        if ds is None:
            raise CatalogError(f"no dataset named {name!r} in {catalog.path}")
        splits = s.scalars(select(Item.split).where(Item.dataset_id == ds.id).distinct().order_by(Item.split))
        cats = s.scalars(select(Item.category).where(Item.dataset_id == ds.id).distinct().order_by(Item.category))
        return DatasetFacets(ds.id, ds.name, ds.kind, tuple(splits), tuple(c for c in cats if c))


def _filtered(q: Select, dataset_id: int, split: str | None, category: str | None, text: str | None) -> Select:
    q = q.where(Item.dataset_id == dataset_id)
    if split:
        q = q.where(Item.split == split)
    if category:
        q = q.where(Item.category == category)
    if text:
        matching = select(Observation.item_id).where(
            Observation.modality == "text", Observation.text.icontains(text, autoescape=True)
        )
        q = q.where(Item.id.in_(matching))
    return q


def item_ids(
    catalog: Catalog,
    dataset_id: int,
    split: str | None = None,
    category: str | None = None,
    text: str | None = None,
) -> list[int]:
    """Ids of the items matching the filters, in id order (caption text: case-insensitive substring)."""
    q = _filtered(select(Item.id), dataset_id, split, category, text).order_by(Item.id)
    with catalog.session() as s:
        return list(s.scalars(q))


def item_cards(catalog: Catalog, ids: Sequence[int]) -> list[ItemCard]:
    """The cards of ``ids``, in the order given (ids not in the catalogue are left out)."""
    items: dict[int, tuple[str, str, str]] = {}
    thumbs: dict[int, tuple[int, str]] = {}  # item id -> (rank, path); lower rank wins
    captions: dict[int, str] = {}
    with catalog.session() as s:
        for start in range(0, len(ids), _CHUNK):
            chunk = list(ids[start : start + _CHUNK])
            for item_id, key, split, category in s.execute(
                select(Item.id, Item.key, Item.split, Item.category).where(Item.id.in_(chunk))
            ):
                items[item_id] = (key, split, category)
            for item_id, modality, path, _view in s.execute(
                select(Observation.item_id, Observation.modality, Observation.path, Observation.view_index)
                .where(Observation.item_id.in_(chunk), Observation.modality.in_(("view", "image")))
                .order_by(Observation.item_id, Observation.view_index, Observation.id)
            ):
                rank = 0 if modality == "view" else 1  # a view wins over an image; then the first one
                if path and (item_id not in thumbs or rank < thumbs[item_id][0]):
                    thumbs[item_id] = (rank, path)
            first = (
                select(func.min(Observation.id))
                .where(Observation.item_id.in_(chunk), Observation.modality == "text")
                .group_by(Observation.item_id)
            )
            for item_id, text in s.execute(
                select(Observation.item_id, Observation.text).where(Observation.id.in_(first))
            ):
                captions[item_id] = text or ""
    return [
        ItemCard(i, *items[i], thumbs.get(i, (0, ""))[1], captions.get(i, ""))
        for i in ids
        if i in items
    ]


def item_detail(catalog: Catalog, item_id: int) -> ItemDetail:
    with catalog.session() as s:
        row = s.execute(
            select(Item, Dataset.name, Dataset.root, Dataset.meta)
            .join(Dataset, Dataset.id == Item.dataset_id)
            .where(Item.id == item_id)
        ).first()
        if row is None:
            raise CatalogError(f"no item with id {item_id} in {catalog.path}")
        item, dataset, root, ds_meta = row
        obs = list(
            s.execute(
                select(Observation.modality, Observation.text, Observation.path, Observation.view_index)
                .where(Observation.item_id == item_id)
                .order_by(Observation.view_index, Observation.id)
            )
        )
        return ItemDetail(
            id=item.id,
            dataset=dataset,
            key=item.key,
            split=item.split,
            category=item.category,
            asset_path=item.asset_path,
            meta=dict(item.meta or {}),
            captions=tuple(t or "" for m, t, _, _ in obs if m == "text"),
            views=tuple(p or "" for m, _, p, _ in obs if m == "view"),
            images=tuple(p or "" for m, _, p, _ in obs if m == "image"),
            mesh_path=_mesh_path(item.asset_path, root),
            up_axis=str((ds_meta or {}).get("up_axis") or DEFAULT_UP_AXIS),
            roots=tuple(str(r) for r in dataset_roots(root, ds_meta)),
        )


def _mesh_path(asset_path: str, root: str | None) -> str:
    if not asset_path or PurePath(asset_path).suffix.lower() not in MESH_FILE_SUFFIXES:
        return ""
    path = Path(asset_path)
    return str(path if path.is_absolute() or not root else Path(root) / path)


@dataclass(frozen=True)
class ExportRow:
    """One embedding's row of ``trainer export`` (:mod:`engine.export`): its catalogue id (the index label: an
    observation id, or the item id of a pooled shape), its item, the caption or file, and the item's facts."""

    id: int
    item: int
    value: str
    key: str
    split: str
    category: str


def _export_query(dataset_id: int, modalities: Sequence[str] | None, *columns: Any) -> Select:
    if modalities is None:
        has_views = select(Observation.id).where(Observation.item_id == Item.id, Observation.modality == "view")
        return select(*columns).where(Item.dataset_id == dataset_id, has_views.exists())
    return (select(*columns).select_from(Observation).join(Item, Item.id == Observation.item_id)
            .where(Item.dataset_id == dataset_id, Observation.modality.in_(modalities)))


def export_count(catalog: Catalog, dataset_id: int, modalities: Sequence[str] | None) -> int:
    """How many rows :func:`export_rows` walks through."""
    with catalog.session() as s:
        return int(s.scalar(_export_query(dataset_id, modalities, func.count())) or 0)


def export_rows(catalog: Catalog, dataset_id: int, modalities: Sequence[str] | None, after: int,
                limit: int) -> list[ExportRow]:
    """At most ``limit`` rows with ids above ``after``, in id order (one page of a keyset walk: memory stays flat
    however large the dataset): the observations of ``modalities`` (captions' text, else their file), or with
    ``modalities=None`` the items that have rendered views (their asset file)."""
    if modalities is None:
        ident = Item.id
        q = _export_query(dataset_id, None, Item.id, Item.id, Item.asset_path, Item.key, Item.split, Item.category)
    else:
        ident = Observation.id
        value = Observation.text if tuple(modalities) == ("text",) else Observation.path
        q = _export_query(dataset_id, modalities, Observation.id, Observation.item_id, value, Item.key, Item.split,
                          Item.category)
    q = q.where(ident > after).order_by(ident).limit(limit)
    with catalog.session() as s:
        return [ExportRow(int(i), int(item), v or "", k, sp, c) for i, item, v, k, sp, c in s.execute(q)]


def item_views(catalog: Catalog, item_ids: Sequence[int]) -> list[tuple[int, str]]:
    """(item id, view file) of the rendered views of ``item_ids``, by item then view."""
    out: list[tuple[int, str]] = []
    with catalog.session() as s:
        for start in range(0, len(item_ids), _CHUNK):
            q = (select(Observation.item_id, Observation.path)
                 .where(Observation.item_id.in_(item_ids[start : start + _CHUNK]), Observation.modality == "view")
                 .order_by(Observation.item_id, Observation.view_index, Observation.id))
            out.extend((int(i), p or "") for i, p in s.execute(q))
    return out
