"""The one object through which the rest of Crossfold reads and writes the catalogue."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Select, delete, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from engine.catalog.backup import backup_catalog, backup_due, beside, is_good
from engine.catalog.damage import DB_ERRORS, CatalogDamaged, empty_but_backed_up, translate
from engine.catalog.models import DATASET_KINDS, MODALITIES, Dataset, Item, Observation, Run, utcnow
from engine.catalog.records import FILE_STAMP, REVISION, AddResult, DatasetSummary, ItemRecord
from engine.catalog.schema import ensure_schema, make_engine, missing_tables, rewrite_prefix, schema_lock
from engine.catalog.snapshot import snapshot_engine
from engine.disk import fault_error, fault_of
from engine.errors import CrossfoldError
from engine.names import check_name
from engine.stored_paths import to_stored

log = logging.getLogger(__name__)
_CHUNK = 500  # rows per multi-row INSERT (SQLite's variable limit is 32766)


class CatalogError(CrossfoldError, LookupError):
    """A catalogue lookup failed; the message says what to do."""


class Catalog:
    def __init__(self, path: str | Path, backups: Path | bool = True, root: Path | None = None) -> None:
        """Open (creating or migrating) the catalogue; :class:`CatalogDamaged` when SQLite cannot read it.

        ``backups``: the folder of its backups (a workspace's ``backups/``), ``True`` for ``backups/`` beside the
        file, ``False`` for none. A copy is made there before a migration and at most once a day on open.
        ``root``: the folder its paths are stored relative to (:mod:`engine.stored_paths`; the workspace root,
        by default the file's folder): paths come back absolute, against wherever that folder is now."""
        self.path = Path(path)
        self.root = Path(root) if root is not None else self.path.absolute().parent
        self.backups: Path | None = beside(self.path) if backups is True else (Path(backups) if backups else None)
        if self.path.is_dir():
            raise CatalogDamaged(self.path, "it is a directory, not a database file", self.backups)
        if empty_but_backed_up(self.path, self.backups):
            raise CatalogDamaged(self.path, "it is empty, 0 bytes", self.backups)
        self.engine = make_engine(self.path, self.root)
        new = not self.path.exists()
        try:
            with schema_lock(self.path):  # two threads or processes opening a new catalogue create it once
                folder = self.backups
                backup = (lambda: backup_catalog(self.path, folder)) if folder is not None and not new else None
                self.schema_version = ensure_schema(self.engine, before_migration=backup)
                with self.engine.connect() as conn:
                    missing = missing_tables(conn)
                if missing:
                    raise CatalogDamaged(self.path, f"table {', '.join(missing)} is missing", self.backups)
                if self.backups is not None and not new:
                    _daily_backup(self.path, self.backups)
        except (*DB_ERRORS, OSError) as exc:
            self.engine.dispose()
            if (fault := fault_of(exc, self.path)) is None:
                raise (translate(exc, self.path, self.backups) or exc) if isinstance(exc, DB_ERRORS) else exc from None
            self._open_read_only(fault)
        except BaseException:
            self.engine.dispose()
            raise
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    #: why the catalogue is open for reading only (:data:`engine.disk.NO_SPACE` or ``READ_ONLY``), None when not
    read_only: str | None = None

    def _open_read_only(self, fault: str) -> None:
        """Reads on a disk that cannot be written (:mod:`engine.catalog.snapshot`); writes raise its fault."""
        try:
            self.engine = snapshot_engine(self.path, fault, self.root)
            with self.engine.connect() as conn:
                missing = missing_tables(conn)
        except DB_ERRORS as exc:
            raise (translate(exc, self.path, self.backups) or exc) from None
        if missing:
            self.engine.dispose()
            raise CatalogDamaged(self.path, f"table {', '.join(missing)} is missing", self.backups)
        self.read_only = fault

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction; a database error that is the file's fault comes out as :class:`CatalogDamaged`."""
        try:
            with self._sessions.begin() as session:
                yield session
        except DB_ERRORS as exc:
            translated = (fault_error(self.read_only, self.path.parent) if self.read_only is not None
                          else translate(exc, self.path, self.backups))
            if translated is None:
                raise
            raise translated from None

    # ---- datasets -------------------------------------------------------------------------
    def dataset(self, name: str) -> Dataset | None:
        with self.session() as s:
            return s.scalar(select(Dataset).where(Dataset.name == name))

    def require_dataset(self, name: str) -> Dataset:
        ds = self.dataset(name)
        if ds is None:
            known = ", ".join(d.name for d in self.datasets()) or "none yet"
            raise CatalogError(f"no dataset named {name!r} in {self.path} (known: {known})")
        return ds

    def datasets(self) -> list[Dataset]:
        with self.session() as s:
            return list(s.scalars(select(Dataset).order_by(Dataset.name)))

    def create_dataset(
        self,
        name: str,
        kind: str,
        source_format: str,
        root: str | Path = "",
        meta: dict[str, Any] | None = None,
    ) -> Dataset:
        """Return the dataset called ``name``, creating it if needed (same kind required)."""
        if kind not in DATASET_KINDS:
            raise ValueError(f"dataset kind must be one of {DATASET_KINDS}, not {kind!r}")
        with self.session() as s:
            ds = s.scalar(select(Dataset).where(Dataset.name == name))
            if ds is not None:
                if ds.kind != kind:
                    raise CatalogError(f"dataset {name!r} exists with kind {ds.kind}, not {kind}")
                return ds
            check_name("dataset", name)
            ds = Dataset(name=name, kind=kind, source_format=source_format, root=str(root), meta=meta or {})
            s.add(ds)
            s.flush()
            return ds

    def update_dataset_meta(self, dataset_id: int, **meta: Any) -> None:
        with self.session() as s:
            ds = s.get(Dataset, dataset_id)
            if ds is None:
                raise CatalogError(f"no dataset with id {dataset_id}")
            ds.meta = {**(ds.meta or {}), **meta}

    def dataset_files(self, dataset_id: int) -> list[str]:
        """The files a dataset's items name (assets, images, views), in item order, each once."""
        with self.session() as s:
            assets = s.scalars(select(Item.asset_path).where(Item.dataset_id == dataset_id, Item.asset_path != "")
                               .order_by(Item.id))
            found = list(assets)
            found += s.scalars(select(Observation.path).join(Item, Item.id == Observation.item_id)
                               .where(Item.dataset_id == dataset_id, Observation.path.is_not(None))
                               .order_by(Observation.item_id, Observation.id))
        return list(dict.fromkeys(p for p in found if p))

    def relocate_dataset(self, dataset_id: int, old: str, new: str) -> None:
        """Every path of the dataset at or under the folder ``old`` (its root, its items' files, the roots and
        sources its imports recorded) moved to ``new``, in one transaction."""
        with self.session() as s:
            ds = s.get(Dataset, dataset_id)
            if ds is None:
                raise CatalogError(f"no dataset with id {dataset_id}")
            rewrite_prefix(s.connection(), to_stored(old, self.root), to_stored(new, self.root), dataset_id)
            s.expire(ds)
            ds.meta = _moved_meta(dict(ds.meta or {}), old, new)

    def delete_dataset(self, name: str) -> None:

        with self.session() as s:
            ds = s.scalar(select(Dataset).where(Dataset.name == name))
            if ds is not None:
                s.delete(ds)

    # ---- items and observations ----------------------------------------------------------
    def add_records(self, dataset_id: int, records: Iterable[ItemRecord]) -> AddResult:
        """Add items and their observations; what is already there is not added twice.

        An item is identified by its key within the dataset; an observation by (modality, text or
        path). Re-importing a source therefore adds nothing, and a second source with more captions
        for the same keys adds only the new captions.
        """
        totals = [0, 0, 0, 0]  # items added, items updated, observations added, captioned items added
        with self.session() as s:
            existing: dict[str, int] = dict(
                s.execute(select(Item.key, Item.id).where(Item.dataset_id == dataset_id)).all()
            )
            seen: dict[int, set[tuple[str, str, int | None]]] = defaultdict(set)
            if existing:
                rows = s.execute(
                    select(Observation.item_id, Observation.modality, Observation.text, Observation.path,
                           Observation.view_index)
                    .join(Item, Item.id == Observation.item_id)
                    .where(Item.dataset_id == dataset_id)
                )
                for item_id, modality, text, path, view_index in rows:
                    seen[item_id].add(_obs_key(modality, text if modality == "text" else path, view_index))

            batch: list[ItemRecord] = []
            for record in records:
                batch.append(record)
                if len(batch) >= _CHUNK:
                    totals = [t + n for t, n in zip(totals, self._add_batch(s, dataset_id, batch, existing, seen),
                                                    strict=True)]
                    batch = []
            if batch:
                totals = [t + n for t, n in zip(totals, self._add_batch(s, dataset_id, batch, existing, seen),
                                                strict=True)]
        return AddResult(*totals)

    @staticmethod
    def _add_batch(
        s: Session,
        dataset_id: int,
        batch: Sequence[ItemRecord],
        existing: dict[str, int],
        seen: dict[int, set[tuple[str, str, int | None]]],
    ) -> tuple[int, int, int, int]:
        """(items added, items updated, observations added, items added with a caption) for one batch."""
        merged: dict[str, ItemRecord] = {}
        for rec in batch:  # the same key twice in one batch: merge the observations
            if rec.key in merged:
                m = merged[rec.key]
                m.captions += rec.captions
                m.images += rec.images
                m.views += rec.views
            else:
                merged[rec.key] = ItemRecord(rec.key, rec.split, rec.category, rec.asset_path, dict(rec.meta),
                                             list(rec.captions), list(rec.images), list(rec.views))
        new = [r for k, r in merged.items() if k not in existing]
        new_keys = {r.key for r in new}
        if new:
            rows = s.execute(
                insert(Item).returning(Item.id, Item.key),
                [
                    {"dataset_id": dataset_id, "key": r.key, "split": r.split, "category": r.category,
                     "asset_path": r.asset_path, "meta": r.meta}
                    for r in new
                ],
            ).all()
            existing.update({key: item_id for item_id, key in rows})
        obs_rows: list[dict[str, Any]] = []
        updated = 0
        for rec in merged.values():
            item_id = existing[rec.key]
            before = len(obs_rows)
            have = seen[item_id]
            for caption in rec.captions:
                k = _obs_key("text", caption, None)
                if k not in have:
                    have.add(k)
                    obs_rows.append(_obs_row(item_id, "text", text=caption))
            for path in rec.images:
                k = _obs_key("image", path, None)
                if k not in have:
                    have.add(k)
                    obs_rows.append(_obs_row(item_id, "image", path=path))
            for i, path in enumerate(rec.views):
                k = _obs_key("view", path, i)
                if k not in have:
                    have.add(k)
                    obs_rows.append(_obs_row(item_id, "view", path=path, view_index=i))
            if len(obs_rows) > before and rec.key not in new_keys:
                updated += 1
        for start in range(0, len(obs_rows), _CHUNK):
            s.execute(insert(Observation), obs_rows[start : start + _CHUNK])
        return len(new), updated, len(obs_rows), sum(1 for r in new if r.captions)

    def replace_views(self, views: dict[int, Sequence[str]]) -> int:
        """Set the ``view`` observations of items (item id -> view paths in order).

        A view row whose item, index and path stay the same keeps its id (indexes label views by observation
        id: a rendered-again item keeps its entries, and a freed id is not handed to another item's view)."""
        wanted = {(item_id, i): str(p) for item_id, paths in views.items() for i, p in enumerate(paths)}
        ids = list(views)
        with self.session() as s:
            stale: list[int] = []
            for start in range(0, len(ids), _CHUNK):
                for obs_id, item_id, path, index in s.execute(
                    select(Observation.id, Observation.item_id, Observation.path, Observation.view_index)
                    .where(Observation.item_id.in_(ids[start : start + _CHUNK]), Observation.modality == "view")
                ):
                    if wanted.get((item_id, index)) == path:
                        del wanted[(item_id, index)]  # kept as it is
                    else:
                        stale.append(obs_id)
            for start in range(0, len(stale), _CHUNK):
                s.execute(delete(Observation).where(Observation.id.in_(stale[start : start + _CHUNK])))
            rows = [_obs_row(item_id, "view", path=p, view_index=i) for (item_id, i), p in sorted(wanted.items())]
            for start in range(0, len(rows), _CHUNK):
                s.execute(insert(Observation), rows[start : start + _CHUNK])
        return sum(len(paths) for paths in views.values())

    # ---- keeping a dataset current (engine/data/importers/sync.py) ------------------------
    def item_stamps(self, dataset_id: int) -> dict[str, tuple[int, dict[str, Any] | None]]:
        """key -> (item id, the file stamp recorded for it: ``meta["file"]``, None when none was)."""
        stamp = func.json_extract(Item.meta, f"$.{FILE_STAMP}")
        with self.session() as s:
            rows = s.execute(select(Item.key, Item.id, stamp).where(Item.dataset_id == dataset_id)).all()
        return {key: (item_id, _stamp(value)) for key, item_id, value in rows}

    def item_revisions(self, dataset_id: int) -> dict[int, int]:
        """item id -> the dataset revision at which it was added or last changed (0: before revisions)."""
        revision = func.json_extract(Item.meta, f"$.{REVISION}")
        with self.session() as s:
            rows = s.execute(select(Item.id, revision).where(Item.dataset_id == dataset_id)).all()
        return {item_id: int(value) if isinstance(value, int) else 0 for item_id, value in rows}

    def refresh_items(self, changes: dict[int, dict[str, Any]], drop_views: bool = False) -> None:
        """Merge ``changes[item id]`` into each item's meta (its new file stamp and revision), in one transaction;
        ``drop_views``: their ``view`` observations go too (renders of a mesh that changed since)."""
        ids = list(changes)
        with self.session() as s:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                for item in s.scalars(select(Item).where(Item.id.in_(chunk))):
                    item.meta = {**(item.meta or {}), **changes[item.id]}
                if drop_views:
                    s.execute(delete(Observation).where(Observation.item_id.in_(chunk),
                                                        Observation.modality == "view"))

    def remove_items(self, item_ids: Sequence[int]) -> int:
        """Delete items with their observations (one transaction); returns how many items were deleted."""
        ids = list(item_ids)
        removed = 0
        with self.session() as s:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                s.execute(delete(Observation).where(Observation.item_id.in_(chunk)))
                removed += s.execute(delete(Item).where(Item.id.in_(chunk))).rowcount or 0
        return removed

    def set_item_meta(self, item_id: int, **meta: Any) -> None:
        with self.session() as s:
            item = s.get(Item, item_id)
            if item is not None:
                item.meta = {**(item.meta or {}), **meta}

    def items(
        self,
        dataset_id: int,
        split: str | None = None,
        category: str | None = None,
        text: str | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[Item]:
        with self.session() as s:
            q = self._item_query(dataset_id, split, category, text).order_by(Item.id).offset(offset)
            if limit is not None:
                q = q.limit(limit)
            return list(s.scalars(q))

    def count_items(
        self, dataset_id: int, split: str | None = None, category: str | None = None, text: str | None = None
    ) -> int:
        with self.session() as s:
            sub = self._item_query(dataset_id, split, category, text).subquery()
            return int(s.scalar(select(func.count()).select_from(sub)) or 0)

    @staticmethod
    def _item_query(dataset_id: int, split: str | None, category: str | None, text: str | None):  # noqa: ANN205
        q = select(Item).where(Item.dataset_id == dataset_id)
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

    def item(self, item_id: int) -> Item | None:
        """An item with its observations loaded."""
        with self.session() as s:
            item = s.get(Item, item_id)
            if item is not None:
                _ = list(item.observations)
            return item

    def item_by_key(self, dataset_id: int, key: str) -> Item | None:
        with self.session() as s:
            item = s.scalar(select(Item).where(Item.dataset_id == dataset_id, Item.key == key))
            if item is not None:
                _ = list(item.observations)
            return item

    def observations(
        self, dataset_id: int, modality: str, split: str | None = None
    ) -> list[tuple[int, int, str, int | None]]:
        """(observation id, item id, text or path, view index) of one modality, by item then view."""
        value = Observation.text if modality == "text" else Observation.path
        q = (
            select(Observation.id, Observation.item_id, value, Observation.view_index)
            .join(Item, Item.id == Observation.item_id)
            .where(Item.dataset_id == dataset_id, Observation.modality == modality)
            .order_by(Observation.item_id, Observation.view_index, Observation.id)
        )
        if split:
            q = q.where(Item.split == split)
        with self.session() as s:
            return [tuple(r) for r in s.execute(q).all()]  # type: ignore[misc]

    def observation_ids(
        self, dataset_id: int, modality: str, split: str | None = None, category: str | None = None
    ) -> list[int]:
        """Ids of one modality's observations of the items passing the filters (one indexed query)."""
        q = (
            select(Observation.id)
            .join(Item, Item.id == Observation.item_id)
            .where(Item.dataset_id == dataset_id, Observation.modality == modality)
        )
        if split:
            q = q.where(Item.split == split)
        if category:
            q = q.where(Item.category == category)
        with self.session() as s:
            return list(s.scalars(q))

    def item_ids(self, dataset_id: int, split: str | None = None, category: str | None = None) -> list[int]:
        q = select(Item.id).where(Item.dataset_id == dataset_id)
        if split:
            q = q.where(Item.split == split)
        if category:
            q = q.where(Item.category == category)
        with self.session() as s:
            return list(s.scalars(q.order_by(Item.id)))

    def items_with_observations(self, item_ids: Sequence[int]) -> dict[int, Item]:
        """Items by id with their observations loaded (two queries per 500 items)."""
        from sqlalchemy.orm import selectinload

        ids = list(item_ids)
        found: dict[int, Item] = {}
        with self.session() as s:
            for start in range(0, len(ids), _CHUNK):
                rows = s.scalars(select(Item).options(selectinload(Item.observations))
                                 .where(Item.id.in_(ids[start : start + _CHUNK])))
                found.update((item.id, item) for item in rows)
        return found

    def observation_items(self, observation_ids: Sequence[int]) -> dict[int, int]:
        """observation id -> item id."""
        with self.session() as s:
            q = select(Observation.id, Observation.item_id).where(Observation.id.in_(list(observation_ids)))
            return dict(s.execute(q).all())

    def most_views(self, dataset_id: int) -> int:
        """The largest number of ``view`` observations any item of the dataset has (0 when none has views)."""
        per_item = (
            select(func.count().label("n"))
            .select_from(Observation)
            .join(Item, Item.id == Observation.item_id)
            .where(Item.dataset_id == dataset_id, Observation.modality == "view")
            .group_by(Observation.item_id)
            .subquery()
        )
        with self.session() as s:
            return int(s.scalar(select(func.max(per_item.c.n))) or 0)

    def categories(self, dataset_id: int) -> list[str]:
        """The dataset's named categories, sorted ("" is an item's lack of one, not a category)."""
        with self.session() as s:
            return list(s.scalars(select(Item.category).where(Item.dataset_id == dataset_id, Item.category != "")
                                  .distinct().order_by(Item.category)))

    def set_split(self, item_ids: Sequence[int], split: str) -> None:
        with self.session() as s:
            for start in range(0, len(item_ids), _CHUNK):
                s.execute(update(Item).where(Item.id.in_(item_ids[start : start + _CHUNK])).values(split=split))

    # ---- runs -----------------------------------------------------------------------------
    def upsert_run(self, name: str, **fields: Any) -> Run:
        """Create the run called ``name`` or update the given fields of it."""
        with self.session() as s:
            run = s.scalar(select(Run).where(Run.name == name))
            if run is None:
                run = Run(name=name, loss=fields.pop("loss", ""))
                s.add(run)
            for key, value in fields.items():
                setattr(run, key, value)
            if fields.get("status") == "running" and run.started_at is None:
                run.started_at = utcnow()
            if fields.get("status") in ("done", "failed", "cancelled") and fields.get("finished_at") is None:
                run.finished_at = utcnow()
            s.flush()
            return run

    def merge_run_metrics(self, name: str, metrics: dict[str, Any]) -> None:
        with self.session() as s:
            run = s.scalar(select(Run).where(Run.name == name))
            if run is not None:
                run.metrics = {**(run.metrics or {}), **metrics}

    def run(self, name: str) -> Run | None:
        with self.session() as s:
            return s.scalar(select(Run).where(Run.name == name))

    def require_run(self, name: str) -> Run:
        run = self.run(name)
        if run is None:
            known = ", ".join(r.name for r in self.runs()) or "none yet"
            raise CatalogError(f"no run named {name!r} in {self.path} (known: {known})")
        return run

    def runs(self) -> list[Run]:
        with self.session() as s:
            return list(s.scalars(select(Run).order_by(Run.id)))

    def delete_run(self, name: str) -> None:
        with self.session() as s:
            run = s.scalar(select(Run).where(Run.name == name))
            if run is not None:
                s.delete(run)

    # ---- summaries ------------------------------------------------------------------------
    def summaries(self) -> list[DatasetSummary]:
        """Every dataset with its counts, by name: a few aggregate queries whatever the number of datasets."""
        with self.session() as s:
            return _summaries(s, None)

    def summary(self, name: str) -> DatasetSummary:
        with self.session() as s:
            dataset_id = s.scalar(select(Dataset.id).where(Dataset.name == name))
            found = _summaries(s, dataset_id) if dataset_id is not None else []
        if not found:
            self.require_dataset(name)  # raises, naming the datasets there are
        return found[0]


def _summaries(s: Session, dataset_id: int | None) -> list[DatasetSummary]:
    """The summaries of one dataset (``dataset_id``) or of all, by name, from aggregate queries only.

    Counts come from covering indexes (``ix_items_dataset_split``, ``ix_items_dataset_category``,
    ``ix_obs_item_modality``); each modality is counted by a ``count(*) FILTER (WHERE modality = ...)`` rather
    than a ``GROUP BY modality`` (which sorts every observation in a temporary B-tree), and no row becomes an ORM
    object. A modality outside :data:`MODALITIES` (only a hand-edited file has one) is counted by a second query.
    """

    def only(q: Select) -> Select:
        return q if dataset_id is None else q.where(Item.dataset_id == dataset_id)

    by_split: dict[int, dict[str, int]] = defaultdict(dict)
    for ds_id, split, n in s.execute(only(select(Item.dataset_id, Item.split, func.count()))
                                     .group_by(Item.dataset_id, Item.split)):
        by_split[ds_id][split] = n
    categories: dict[int, int] = dict(s.execute(  # type: ignore[arg-type]
        only(select(Item.dataset_id, func.count(func.distinct(Item.category)))).where(Item.category != "")  # "": none
        .group_by(Item.dataset_id)).all())
    has_caption = (select(Observation.id).where(Observation.item_id == Item.id, Observation.modality == "text")
                   .exists())
    captioned: dict[int, int] = dict(s.execute(  # type: ignore[arg-type]
        only(select(Item.dataset_id, func.count()).where(has_caption)).group_by(Item.dataset_id)).all())
    by_modality: dict[int, dict[str, int]] = defaultdict(dict)
    per_modality = [func.count().filter(Observation.modality == m) for m in MODALITIES]
    counted = only(select(Item.dataset_id, func.count(), *per_modality)
                   .join(Observation, Observation.item_id == Item.id)).group_by(Item.dataset_id)
    unknown: list[int] = []
    for ds_id, total, *known in s.execute(counted):
        by_modality[ds_id] = {m: n for m, n in zip(MODALITIES, known, strict=True) if n}
        if sum(known) != total:
            unknown.append(ds_id)
    if unknown:
        others = (select(Item.dataset_id, Observation.modality, func.count())
                  .join(Observation, Observation.item_id == Item.id)
                  .where(Item.dataset_id.in_(unknown), Observation.modality.not_in(MODALITIES))
                  .group_by(Item.dataset_id, Observation.modality))
        for ds_id, modality, n in s.execute(others):
            by_modality[ds_id][modality] = n
    datasets = select(Dataset.id, Dataset.name, Dataset.kind, Dataset.source_format, Dataset.root,
                      Dataset.created_at, Dataset.meta).order_by(Dataset.name)
    if dataset_id is not None:
        datasets = datasets.where(Dataset.id == dataset_id)
    return [
        DatasetSummary(
            name=name,
            kind=kind,
            source_format=source_format,
            root=root,
            items=sum(by_split[ds_id].values()),
            captioned_items=int(captioned.get(ds_id) or 0),
            observations=sum(by_modality[ds_id].values()),
            by_modality=by_modality[ds_id],
            by_split=by_split[ds_id],
            categories=int(categories.get(ds_id) or 0),
            created_at=created_at.isoformat() if created_at else "",
            meta=dict(meta or {}),
        )
        for ds_id, name, kind, source_format, root, created_at, meta in s.execute(datasets)
    ]


def _daily_backup(path: Path, folder: Path) -> None:
    """A backup when the newest is a day old and the file passes ``quick_check``; a failure only warns."""
    try:
        if backup_due(folder) and is_good(path):
            backup_catalog(path, folder)
    except (OSError, sqlite3.Error) as exc:
        log.warning("no backup of %s: %s", path, exc)


def _moved_meta(meta: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """A dataset's meta with the paths its imports recorded (``source``, ``roots``) moved from ``old`` to ``new``."""

    def moved(value: Any) -> Any:
        if not isinstance(value, str) or not (value == old or value.startswith(old.rstrip("/") + "/")):
            return value
        return new + value[len(old):]

    def entry(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        value = {**value, "source": moved(value.get("source"))} if "source" in value else dict(value)
        if isinstance(value.get("roots"), list):
            value["roots"] = [moved(r) for r in value["roots"]]
        return value

    meta = entry(meta)
    if "last_import" in meta:
        meta["last_import"] = entry(meta["last_import"])
    if isinstance(meta.get("imports"), list):
        meta["imports"] = [entry(i) for i in meta["imports"]]
    return meta


def _obs_row(
    item_id: int, modality: str, text: str | None = None, path: str | None = None, view_index: int | None = None
) -> dict[str, Any]:
    """Every row with the same columns, so SQLAlchemy sends a chunk as one multi-row INSERT."""
    return {"item_id": item_id, "modality": modality, "text": text, "path": path, "view_index": view_index}


def _stamp(value: Any) -> dict[str, Any] | None:
    """``json_extract``'s answer for an object: its JSON text (None when absent or not an object)."""
    if not isinstance(value, str):
        return None
    try:
        decoded = json.loads(value)
    except ValueError:
        return None
    return decoded if isinstance(decoded, dict) else None


def _obs_key(modality: str, value: str | None, view_index: int | None) -> tuple[str, str, int | None]:
    return (modality, value or "", view_index if modality == "view" else None)
