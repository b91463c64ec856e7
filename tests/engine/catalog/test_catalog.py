from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.catalog import Catalog, CatalogError, ItemRecord, SchemaError
from engine.catalog import schema as schema_mod


@pytest.fixture()
def catalog(tmp_path: Path) -> Catalog:
    return Catalog(tmp_path / "catalog.sqlite")


def _records() -> list[ItemRecord]:
    return [
        ItemRecord("a", split="train", category="chair", captions=["red chair", "a chair in red"],
                   views=["/v/a0.png", "/v/a1.png"]),
        ItemRecord("b", split="test", category="table", captions=["round table"], images=["/i/b.png"]),
    ]


def test_sqlite_file_uses_wal_and_foreign_keys(catalog: Catalog) -> None:
    with catalog.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    raw = sqlite3.connect(catalog.path)
    assert raw.execute("SELECT version FROM schema_version").fetchone() == (schema_mod.SCHEMA_VERSION,)


def test_add_records_counts_and_summary(catalog: Catalog) -> None:
    ds = catalog.create_dataset("toy", "shape-text", "test", "/root")
    result = catalog.add_records(ds.id, _records())
    assert (result.items_added, result.observations_added) == (2, 6)
    s = catalog.summary("toy")
    assert s.items == 2 and s.observations == 6
    assert s.by_modality == {"text": 3, "view": 2, "image": 1}
    assert s.by_split == {"train": 1, "test": 1}
    assert s.categories == 2
    catalog.add_records(ds.id, [ItemRecord("c", captions=["a stool"])])  # no category: "" is none, not a third
    assert catalog.summary("toy").categories == 2 and catalog.summary("toy").items == 3
    assert catalog.categories(ds.id) == ["chair", "table"]


def test_readding_the_same_records_adds_nothing_but_new_captions_land(catalog: Catalog) -> None:
    ds = catalog.create_dataset("toy", "shape-text", "test")
    catalog.add_records(ds.id, _records())
    again = catalog.add_records(ds.id, _records())
    assert (again.items_added, again.observations_added) == (0, 0)
    more = catalog.add_records(ds.id, [ItemRecord("a", captions=["red chair", "crimson seat"])])
    assert (more.items_added, more.items_updated, more.observations_added) == (0, 1, 1)
    item = catalog.item_by_key(ds.id, "a")
    assert item is not None
    assert sorted(o.text for o in item.observations if o.modality == "text") == [
        "a chair in red", "crimson seat", "red chair"]


def test_same_key_twice_in_one_batch_merges(catalog: Catalog) -> None:
    ds = catalog.create_dataset("toy", "image-text", "test")
    res = catalog.add_records(ds.id, [ItemRecord("x", captions=["one"]), ItemRecord("x", captions=["two"])])
    assert (res.items_added, res.observations_added) == (1, 2)


def test_filters_and_observation_table(catalog: Catalog) -> None:
    ds = catalog.create_dataset("toy", "shape-text", "test")
    catalog.add_records(ds.id, _records())
    assert [i.key for i in catalog.items(ds.id, split="test")] == ["b"]
    assert [i.key for i in catalog.items(ds.id, category="chair")] == ["a"]
    assert [i.key for i in catalog.items(ds.id, text="CRIMSON")] == []
    assert [i.key for i in catalog.items(ds.id, text="ROUND")] == ["b"]
    assert catalog.count_items(ds.id, text="chair") == 1
    views = catalog.observations(ds.id, "view")
    assert [(v[2], v[3]) for v in views] == [("/v/a0.png", 0), ("/v/a1.png", 1)]
    assert catalog.categories(ds.id) == ["chair", "table"]


def test_replace_views_swaps_only_views(catalog: Catalog) -> None:
    ds = catalog.create_dataset("toy", "shape-text", "test")
    catalog.add_records(ds.id, _records())
    a = catalog.item_by_key(ds.id, "a")
    assert a is not None
    catalog.replace_views({a.id: ["/r/0.png", "/r/1.png", "/r/2.png"]})
    a = catalog.item(a.id)
    assert a is not None
    assert [o.path for o in a.observations if o.modality == "view"] == ["/r/0.png", "/r/1.png", "/r/2.png"]
    assert len([o for o in a.observations if o.modality == "text"]) == 2


def test_unknown_dataset_error_names_it(catalog: Catalog) -> None:
    with pytest.raises(CatalogError, match="no dataset named 'nope'"):
        catalog.require_dataset("nope")


def test_kind_mismatch_is_refused(catalog: Catalog) -> None:
    catalog.create_dataset("toy", "shape-text", "test")
    with pytest.raises(CatalogError, match="kind shape-text"):
        catalog.create_dataset("toy", "image-text", "test")


def test_delete_dataset_cascades(catalog: Catalog) -> None:
    ds = catalog.create_dataset("toy", "shape-text", "test")
    catalog.add_records(ds.id, _records())
    catalog.delete_dataset("toy")
    with catalog.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM observations")).scalar() == 0


def test_migration_step_runs_once_and_records_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.sqlite"
    Catalog(path).close()
    calls: list[int] = []

    def add_column(conn) -> None:
        calls.append(1)
        conn.execute(text("ALTER TABLE items ADD COLUMN thumbnail TEXT"))

    monkeypatch.setattr(schema_mod, "SCHEMA_VERSION", schema_mod.SCHEMA_VERSION + 1)
    monkeypatch.setitem(schema_mod.MIGRATIONS, schema_mod.SCHEMA_VERSION, add_column)
    assert Catalog(path).schema_version == schema_mod.SCHEMA_VERSION
    assert Catalog(path).schema_version == schema_mod.SCHEMA_VERSION
    assert calls == [1]
    cols = [r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(items)")]
    assert "thumbnail" in cols


def test_newer_catalogue_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.sqlite"
    Catalog(path).close()
    monkeypatch.setattr(schema_mod, "SCHEMA_VERSION", 0)
    with pytest.raises(SchemaError, match="newer than this Crossfold"):
        Catalog(path)


def test_many_threads_opening_a_new_catalogue_at_once(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "new.sqlite"
    with ThreadPoolExecutor(8) as pool:
        versions = list(pool.map(lambda _: Catalog(path).schema_version, range(8)))
    assert versions == [schema_mod.SCHEMA_VERSION] * 8
    assert sqlite3.connect(path).execute("SELECT count(*) FROM schema_version").fetchone() == (1,)


def test_version_1_catalogue_gains_run_kind_defaulting_to_train(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    cat = Catalog(path)
    cat.upsert_run("old", loss="clip", status="done")
    cat.close()
    raw = sqlite3.connect(path)  # back to what a version-1 catalogue was: no runs.kind
    raw.execute("ALTER TABLE runs DROP COLUMN kind")
    raw.execute("UPDATE schema_version SET version = 1")
    raw.commit()
    raw.close()
    cat = Catalog(path)
    assert cat.schema_version == schema_mod.SCHEMA_VERSION
    assert cat.require_run("old").kind == "train"
    assert cat.upsert_run("zs", loss="zero-shot", kind="pretrained").kind == "pretrained"
    assert cat.upsert_run("new", loss="clip").kind == "train"
