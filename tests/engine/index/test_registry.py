from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from engine.catalog import Catalog
from engine.catalog.models import IndexRow
from engine.index import ann, checksums, loading, publish, registry
from engine.index.errors import CorruptIndexError, MissingIndexError, StaleIndexError
from engine.index.params import IndexParams

SMALL = IndexParams(M=16, ef_construction=100, ef=64)
CKPT = "c" * 64


def unit(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture()
def env(tmp_path: Path):
    catalog = Catalog(tmp_path / "catalog.sqlite")
    ds = catalog.create_dataset("toy", "shape-text", "test")
    run = catalog.upsert_run("run-1", loss="clip", dataset_id=ds.id)
    path = registry.default_path(tmp_path / "indexes", run.name, ds.name, "text")
    base = unit(800, 16, 0)
    ids = np.arange(800, dtype=np.int64) * 5 + 3
    row = registry.build_index(catalog, run.id, ds.id, "text", path, base, ids, CKPT, params=SMALL)
    yield catalog, ds, run, row, base, ids
    catalog.close()


def test_build_records_the_row_with_file_size_checksum_and_params(env) -> None:
    catalog, ds, run, row, base, ids = env
    assert (row.count, row.dim, row.space, row.checkpoint_sha256) == (800, 16, "ip", CKPT)
    path = Path(row.path)
    assert path == registry.default_path(path.parents[1], "run-1", "toy", "text")
    assert row.params["file_size"] == path.stat().st_size
    assert row.params["file_sha256"] == checksums.file_sha256(path)
    assert (row.params["M"], row.params["ef_construction"], row.params["ef"]) == (16, 100, 64)
    assert registry.find(catalog, run.id, ds.id, "text").id == row.id
    assert registry.find(catalog, run.id, ds.id, "shape") is None
    assert [r.id for r in registry.rows(catalog, run_id=run.id)] == [row.id]
    assert sorted(p.name for p in path.parent.iterdir()) == ["toy-text.hnsw", "toy-text.hnsw.lock"]  # no temp


def test_open_index_checks_the_checkpoint_and_count(env) -> None:
    catalog, ds, run, _, base, ids = env
    index = registry.open_index(catalog, run.id, ds.id, "text", CKPT, expected_count=800)
    labels, _ = index.query(base[[4, 5]], 1)
    assert labels[:, 0].tolist() == [ids[4], ids[5]]
    with pytest.raises(StaleIndexError, match=r"checkpoint.*trainer index --run run-1"):
        registry.open_index(catalog, run.id, ds.id, "text", "d" * 64)
    with pytest.raises(StaleIndexError, match="800 vectors, the catalogue now has 801"):
        registry.open_index(catalog, run.id, ds.id, "text", CKPT, expected_count=801)
    with pytest.raises(MissingIndexError, match="no image index of run run-1.*trainer index --run run-1"):
        registry.open_index(catalog, run.id, ds.id, "image", CKPT)
    assert registry.verify(catalog, run.id, ds.id, "text", CKPT).count == 800


def test_tampered_file_is_refused_by_the_registry(env) -> None:
    catalog, ds, run, row, *_ = env
    path = Path(row.path)
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 3] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(CorruptIndexError, match="sha256.*trainer index --run run-1"):
        registry.open_index(catalog, run.id, ds.id, "text", CKPT)
    path.write_bytes(bytes(blob[:-100]))
    with pytest.raises(CorruptIndexError, match="truncated"):
        registry.open_index(catalog, run.id, ds.id, "text", CKPT)


def test_ef_of_the_row_is_applied_after_load(env) -> None:
    catalog, ds, run, row, *_ = env
    with catalog.session() as s:
        r = s.get(IndexRow, row.id)
        r.params = {**r.params, "ef": 222}
    assert registry.open_index(catalog, run.id, ds.id, "text", CKPT).ef == 222
    assert registry.open_index(catalog, run.id, ds.id, "text", CKPT, ef=90).ef == 90


def test_incremental_add_updates_count_and_checksum(env) -> None:
    catalog, ds, run, row, base, ids = env
    reader = registry.open_index(catalog, run.id, ds.id, "text", CKPT)
    new = unit(50, 16, 3)
    new_ids = np.arange(50) + 10_000
    row2 = registry.add_to_index(catalog, run.id, ds.id, "text", new, new_ids, CKPT)
    assert row2.id == row.id and row2.count == 850
    assert row2.params["file_sha256"] != row.params["file_sha256"]
    assert row2.params["file_size"] == Path(row2.path).stat().st_size
    grown = registry.open_index(catalog, run.id, ds.id, "text", CKPT, expected_count=850)
    labels, _ = grown.query(np.concatenate([new[:5], base[:5]]), 1)
    assert labels[:, 0].tolist() == new_ids[:5].tolist() + ids[:5].tolist()
    assert reader.count == 800  # the reader's object is untouched until it loads again
    same = registry.add_to_index(catalog, run.id, ds.id, "text", new, new_ids, CKPT)  # nothing new
    assert same.count == 850 and same.params["file_sha256"] == row2.params["file_sha256"]
    with pytest.raises(StaleIndexError, match="checkpoint"):
        registry.add_to_index(catalog, run.id, ds.id, "text", unit(2, 16, 4), [1, 2], "e" * 64)
    leftovers = [p.name for p in Path(row.path).parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_failed_rebuild_leaves_the_published_index_and_row(env, monkeypatch) -> None:
    catalog, ds, run, row, base, ids = env
    before = Path(row.path).read_bytes()
    with pytest.raises(ValueError):
        registry.build_index(catalog, run.id, ds.id, "text", row.path, np.full((4, 16), np.nan), [1, 2, 3, 4],
                             "f" * 64)

    def broken(path):
        raise CorruptIndexError(path, "simulated short write")

    monkeypatch.setattr(publish, "check_layout", broken)
    with pytest.raises(CorruptIndexError, match="simulated"):
        registry.build_index(catalog, run.id, ds.id, "text", row.path, base[:10], ids[:10], "f" * 64)
    assert Path(row.path).read_bytes() == before
    assert not [p for p in Path(row.path).parent.iterdir() if p.name.endswith(".tmp")]
    same = registry.find(catalog, run.id, ds.id, "text")
    assert (same.count, same.checkpoint_sha256, same.params) == (800, CKPT, row.params)
    assert registry.open_index(catalog, run.id, ds.id, "text", CKPT).count == 800


def test_rebuild_replaces_the_file_and_the_row(env) -> None:
    catalog, ds, run, row, base, ids = env
    row2 = registry.build_index(catalog, run.id, ds.id, "text", row.path, base[:100], ids[:100], "9" * 64)
    assert row2.id == row.id and row2.count == 100 and row2.checkpoint_sha256 == "9" * 64
    assert registry.open_index(catalog, run.id, ds.id, "text", "9" * 64).count == 100
    with pytest.raises(StaleIndexError):
        registry.open_index(catalog, run.id, ds.id, "text", CKPT)


def test_shape_index_uses_item_ids_and_remove_drops_row_and_file(env, tmp_path: Path) -> None:
    catalog, ds, run, *_ = env
    path = registry.default_path(tmp_path / "indexes", run.name, ds.name, "shape")
    row = registry.build_index(catalog, run.id, ds.id, "shape", path, unit(20, 16, 8), np.arange(20) + 1, CKPT,
                               params=SMALL)
    assert row.modality == "shape" and Path(row.path).exists()
    assert registry.remove(catalog, run.id, ds.id, "shape")
    assert registry.find(catalog, run.id, ds.id, "shape") is None and not Path(row.path).exists()
    assert not registry.remove(catalog, run.id, ds.id, "shape")
    with pytest.raises(ValueError, match="modality"):
        registry.find(catalog, run.id, ds.id, "view")


def test_reader_between_a_writers_rename_and_commit_waits_and_gets_the_new_index(env) -> None:
    catalog, ds, run, row, base, ids = env
    path = Path(row.path)
    grown = loading.load(registry.manifest_of(row))
    ann.add(grown, unit(30, 16, 5), np.arange(30) + 20_000)
    renamed = threading.Event()

    def writer() -> None:  # what add_to_index does, slowed down between the rename and the row update
        with registry._lock(path):
            with publish.write_temp(grown, path, CKPT) as pending:
                pending.publish()
                renamed.set()
                time.sleep(0.3)
                registry.record(catalog, pending.manifest, run.id, ds.id, "text")

    t = threading.Thread(target=writer)
    t.start()
    assert renamed.wait(10)
    index = registry.open_index(catalog, run.id, ds.id, "text", CKPT)  # file new, row old: waits, reads again
    t.join()
    assert index.count == 830
