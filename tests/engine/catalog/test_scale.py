"""A moderately large catalogue: the aggregate summaries count right, and the schema-3 migration.

Correctness only: the speed of these queries at COCO's size is measured by ``bench/coco_scale.py``.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from engine.catalog import Catalog, ItemRecord
from engine.catalog import schema as schema_mod
from engine.catalog.backup import backups
from trainer.cli import main as trainer_main

SPLITS = ("train", "val", "test")


def _records(n: int, prefix: str) -> list[ItemRecord]:
    """``n`` items of uneven shape: 0-4 captions, an image on two in three, 0-3 views; three splits, 7 categories."""
    return [
        ItemRecord(
            f"{prefix}{i:06d}",
            split=SPLITS[(i * 7) % 11 % 3],
            category=f"cat{i % 7}" if i % 5 else "",
            captions=[f"caption {j} of {prefix}{i}" for j in range(i % 5)],
            images=[f"/img/{prefix}{i}.jpg"] if i % 3 else [],
            views=[f"/views/{prefix}{i}_{v}.png" for v in range(i % 4)],
        )
        for i in range(n)
    ]


def _expected(records: list[ItemRecord]) -> tuple[dict[str, int], dict[str, int], int]:
    by_split = Counter(r.split for r in records)
    by_modality = Counter({"text": sum(len(r.captions) for r in records),
                           "image": sum(len(r.images) for r in records),
                           "view": sum(len(r.views) for r in records)})
    return dict(by_split), {m: n for m, n in by_modality.items() if n}, len({r.category for r in records} - {""})


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[ItemRecord]]]:
    """20,000 items (about 70,000 observations) in one dataset, 3,000 in a second, an empty third."""
    path = tmp_path_factory.mktemp("big") / "ws" / "catalog.sqlite"
    catalog = Catalog(path)
    data = {"big": _records(20_000, "b"), "small": _records(3_000, "s")}
    for name, records in data.items():
        ds = catalog.create_dataset(name, "image-text", "test")
        catalog.add_records(ds.id, records[: len(records) // 2])
        catalog.add_records(ds.id, records[len(records) // 2 :])
    catalog.create_dataset("empty", "shape-text", "test")
    catalog.close()
    return path, data


def test_summaries_of_a_large_catalogue_count_every_split_modality_and_category(
    big: tuple[Path, dict[str, list[ItemRecord]]],
) -> None:
    path, data = big
    catalog = Catalog(path)
    summaries = catalog.summaries()
    assert [s.name for s in summaries] == ["big", "empty", "small"]
    for s in summaries:
        records = data.get(s.name, [])
        by_split, by_modality, categories = _expected(records)
        assert s.by_split == by_split
        assert s.by_modality == by_modality
        assert s.items == len(records)
        assert s.observations == sum(by_modality.values())
        assert s.categories == categories
        assert catalog.summary(s.name) == s  # one dataset's summary is the same as in the list
    big_summary = catalog.summary("big")
    assert big_summary.items == 20_000 and big_summary.by_modality["view"] == 5000 * (0 + 1 + 2 + 3)


def test_summary_counts_a_modality_it_does_not_know(tmp_path: Path) -> None:
    """A hand-edited file may hold a modality outside MODALITIES: it is counted, not lost."""
    catalog = Catalog(tmp_path / "catalog.sqlite")
    ds = catalog.create_dataset("odd", "image-text", "test")
    catalog.add_records(ds.id, _records(10, "o"))
    item_id = catalog.item_ids(ds.id)[0]
    raw = sqlite3.connect(catalog.path)
    raw.executemany("INSERT INTO observations (item_id, modality, path) VALUES (?, 'audio', ?)",
                    [(item_id, "/a/1.wav"), (item_id, "/a/2.wav")])
    raw.commit()
    raw.close()
    s = catalog.summary("odd")
    _, by_modality, _ = _expected(_records(10, "o"))
    assert s.by_modality == {**by_modality, "audio": 2}
    assert s.observations == sum(by_modality.values()) + 2


def test_trainer_datasets_list_and_show_on_a_large_catalogue(
    big: tuple[Path, dict[str, list[ItemRecord]]], capsys: pytest.CaptureFixture[str],
) -> None:
    path, data = big
    assert trainer_main(["datasets", "list", "--json", "--workspace", str(path.parent)]) == 0
    listed = {d["name"]: d for d in json.loads(capsys.readouterr().out)["datasets"]}
    assert listed["big"]["items"] == 20_000 and listed["small"]["items"] == 3_000 and listed["empty"]["items"] == 0
    assert trainer_main(["datasets", "show", "big", "--items", "4", "--json", "--workspace", str(path.parent)]) == 0
    shown = json.loads(capsys.readouterr().out)
    by_split, by_modality, _ = _expected(data["big"])
    assert shown["by_split"] == by_split and shown["by_modality"] == by_modality
    assert [(i["key"], i["captions"], i["images"], i["views"]) for i in shown["sample"]] == [
        (r.key, r.captions, r.images, r.views) for r in data["big"][:4]
    ]


def _index_names(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        conn.close()


def _version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT version FROM schema_version ORDER BY id DESC").fetchone()[0]
    finally:
        conn.close()


def test_version_2_catalogue_gains_the_dataset_index_after_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "ws" / "catalog.sqlite"
    catalog = Catalog(path, backups=False)
    ds = catalog.create_dataset("toy", "image-text", "test")
    catalog.add_records(ds.id, _records(500, "t"))
    before = catalog.summary("toy")
    catalog.close()
    raw = sqlite3.connect(path)  # back to what a version-2 catalogue was: no ix_items_dataset
    raw.execute("DROP INDEX ix_items_dataset")
    raw.execute("UPDATE schema_version SET version = 2")
    raw.commit()
    raw.close()
    assert "ix_items_dataset" not in _index_names(path) and not backups(path.parent / "backups")

    catalog = Catalog(path)
    assert catalog.schema_version == schema_mod.SCHEMA_VERSION >= 3
    assert "ix_items_dataset" in _index_names(path)
    assert _version(path) == schema_mod.SCHEMA_VERSION
    assert catalog.summary("toy") == before
    assert [i.key for i in catalog.items(ds.id, limit=3)] == ["t000000", "t000001", "t000002"]
    made = backups(path.parent / "backups")
    assert len(made) == 1  # made before the step: the catalogue as it was, at version 2, without the index
    assert "ix_items_dataset" not in _index_names(made[0]) and _version(made[0]) == 2
    conn = sqlite3.connect(made[0])
    assert conn.execute("SELECT count(*) FROM items").fetchone() == (500,)
    conn.close()
    catalog.close()
    Catalog(path).close()  # opened again: nothing to migrate, no second backup
    assert backups(path.parent / "backups") == made
