"""``trainer export``: a run's embeddings in clip-retrieval's layout, read back as pandas or autofaiss would.

On the session's trained toy shape workspace (run ``toy-gcl`` with its three indexes, built again on the exact
path): an export read back with pyarrow holds exactly the index's vectors, in the metadata's order, shard after
shard; with the indexes gone the run's model encodes the same vectors; without pyarrow the command is one line
naming the extra.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from engine.index import registry
from engine.workspace import Workspace
from tests.cli_runner import run_trainer
from tests.conftest import TOY_RUN, copy_workspace

EMB = {"text": "text_emb", "image": "img_emb", "shape": "img_emb"}


@pytest.fixture(scope="module")
def toy(trained_toy: Path, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = copy_workspace(trained_toy, tmp_path_factory.mktemp("export") / "ws")
    # an export holds the exact (fp32) embeddings: it reads an index only when it was built on the exact path
    built = run_trainer("index", "--run", TOY_RUN, "--exact", "--device", "cpu", ws=ws.root)
    assert built.returncode == 0, built.stderr
    return ws


def _export(ws: Workspace, out: Path, *extra: str) -> dict:
    done = run_trainer("export", "--run", TOY_RUN, "--out", str(out), "--device", "cpu", "--json", *extra, ws=ws.root)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _read_back(folder: Path, modality: str) -> tuple[list[dict], np.ndarray, list[str]]:
    """Every shard in name order (as autofaiss and clip-retrieval read them): metadata rows and vectors."""
    emb_files = sorted((folder / EMB[modality]).glob("*.npy"))
    meta_files = sorted((folder / "metadata").glob("*.parquet"))
    assert [p.stem.rsplit("_", 1)[1] for p in emb_files] == [p.stem.rsplit("_", 1)[1] for p in meta_files]
    rows, vectors = [], []
    for emb_file, meta_file in zip(emb_files, meta_files, strict=True):
        table = pq.read_table(meta_file).to_pylist()
        shard = np.load(emb_file)
        assert shard.shape[0] == len(table)  # rows of a shard in the same order as its metadata
        rows += table
        vectors.append(shard)
    return rows, np.concatenate(vectors), [p.name for p in emb_files]


def _index_vectors(ws: Workspace, modality: str) -> tuple[np.ndarray, np.ndarray]:
    cat = ws.catalog()
    run, ds = cat.require_run(TOY_RUN), cat.require_dataset("toy-shapes")
    index = registry.open_index(cat, run.id, ds.id, modality, None)
    ids = index.ids()
    return ids, index.vectors(ids)


def test_export_equals_the_index_vectors_in_metadata_order(toy: Workspace, tmp_path: Path) -> None:
    report = _export(toy, tmp_path / "out", "--dtype", "float32", "--shard-rows", "40")
    assert set(report["modalities"]) == {"text", "image", "shape"}
    cat = toy.catalog()
    ds = cat.require_dataset("toy-shapes")
    captions = {obs_id: text for obs_id, _, text, _ in cat.observations(ds.id, "text")}
    for modality, entry in report["modalities"].items():
        ids, expected = _index_vectors(toy, modality)
        rows, vectors, names = _read_back(tmp_path / "out" / modality, modality)
        assert entry["from_index"] == entry["rows"] == len(rows) == len(ids) and entry["encoded"] == 0
        assert [r["id"] for r in rows] == ids.tolist()  # label order
        assert vectors.dtype == np.float32 and np.array_equal(vectors, expected)
        assert len(names) == entry["shards"] == -(-len(ids) // 40)
        assert names[0] == f"{EMB[modality]}_{'0' * len(str(entry['shards']))}.npy"  # clip-retrieval's padding
        assert {r["modality"] for r in rows} == {modality} and {r["dataset"] for r in rows} == {"toy-shapes"}
        assert all(r["key"] and r["split"] and r["item"] for r in rows)
        if modality == "text":
            assert [r["caption"] for r in rows] == [captions[r["id"]] for r in rows]
            assert all(r["image_path"] is None for r in rows)
        else:
            assert all(r["caption"] is None for r in rows)
        if modality == "image":  # the views (a toy shape has no mesh file: its image_path is empty)
            assert all(Path(r["image_path"]).is_file() for r in rows)
        if modality == "shape":
            assert [r["item"] for r in rows] == [r["id"] for r in rows]
    # the default: float16, as clip-retrieval writes them, and a second export replaces the first's shards
    again = _export(toy, tmp_path / "out", "--modality", "text")
    assert set(again["modalities"]) == {"text"} and again["modalities"]["text"]["shards"] == 1
    rows, vectors, names = _read_back(tmp_path / "out" / "text", "text")
    assert names == ["text_emb_0.npy"] and vectors.dtype == np.float16
    assert np.allclose(vectors.astype(np.float32), _index_vectors(toy, "text")[1], atol=2e-3)


def test_a_run_without_indexes_exports_by_encoding(toy: Workspace, trained_toy: Path, tmp_path: Path) -> None:
    ws = copy_workspace(toy.root, tmp_path / "ws")
    cat = ws.catalog()
    run, ds = cat.require_run(TOY_RUN), cat.require_dataset("toy-shapes")
    expected = {m: _index_vectors(ws, m) for m in ("text", "image", "shape")}
    for modality in expected:
        assert registry.remove(cat, run.id, ds.id, modality)
    report = _export(ws, tmp_path / "out", "--dtype", "float32")
    for modality, (ids, vectors) in expected.items():
        entry = report["modalities"][modality]
        assert entry["encoded"] == entry["rows"] == len(ids) and entry["from_index"] == 0
        rows, got, _ = _read_back(tmp_path / "out" / modality, modality)
        assert [r["id"] for r in rows] == ids.tolist()
        assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        assert np.allclose(got, vectors, atol=1e-4)  # the vectors the index was built from


def test_without_pyarrow_one_line_names_the_extra(toy: Workspace, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # what Python does for a package that is not installed
    done = run_trainer("export", "--run", TOY_RUN, "--out", str(tmp_path / "out"), ws=toy.root)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and "crossfold[export]" in done.stderr
    assert not (tmp_path / "out").exists()
