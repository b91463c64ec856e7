"""Issue 21 §2: a workspace moved with ``mv`` and one copied with ``cp -a`` index, search and train as the original
did, and neither reads the other's files (the audit hook of :mod:`tests.faults.runner` sees every ``open``)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from tests.cli_runner import run_trainer
from tests.engine.train.conftest import make_toy_workspace
from tests.faults.runner import _watch_opens

RUN = "zs"
QUERY = "a big red square"


def _keys(ws: Path) -> list[str]:
    done = run_trainer("search", "--text", QUERY, "--run", RUN, "--k", "5", "--json", ws=ws)
    assert done.returncode == 0, done.stderr
    return [hit["key"] for hit in json.loads(done.stdout)["hits"]]


def _works_alone(ws: Path, others: list[Path], expected: list[str], steps: str) -> None:
    """``index`` finds its indexes up to date, ``search`` answers as the original did, a short ``train`` runs:
    and no file under ``others`` is opened meanwhile."""
    with _watch_opens() as opens:
        index = run_trainer("index", "--run", RUN, "--device", "cpu", "--json", ws=ws)
        keys = _keys(ws)
        train = run_trainer("train", "--dataset", "toy-shapes", "--model", "cf-rn-tiny-64", "--max-steps", steps,
                            "--batch-size", "4", "--views-per-item", "2", "--workers", "0", "--device", "cpu",
                            "--name", "short", ws=ws)
    assert index.returncode == 0, index.stderr
    actions = {m: d["action"] for m, d in json.loads(index.stdout)["modalities"].items()}
    assert set(actions.values()) == {"up-to-date"}, actions
    assert all(d["path"].startswith(str(ws)) for d in json.loads(index.stdout)["modalities"].values())
    assert keys == expected
    assert train.returncode == 0, train.stderr
    assert (ws / "runs" / "short" / "checkpoints").is_dir()
    elsewhere = [p for p in opens.reads + opens.writes
                 if any(os.path.abspath(p).startswith(str(other) + os.sep) for other in others)]
    assert not elsewhere, f"{ws} opened files of another workspace: {elsewhere[:5]}"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny workspace, built once: the toy shapes (inside it) with a zero-shot run ``zs`` of random
    cf-rn-tiny-64 weights and its indexes, and ``photos``, a folder of four captioned images outside it
    (``<base>/photos``), indexed by ``zs`` too. Copy ``<base>/ws`` (with ``photos``) to change it."""
    import open_clip
    import torch

    import engine.models.configs  # noqa: F401  (registers our small model configs with open_clip)

    base = tmp_path_factory.mktemp("moved-workspace")
    ws = base / "ws"
    make_toy_workspace(ws, n_items=12)
    photos = base / "photos"
    photos.mkdir()
    for i, colour in enumerate(("red", "green", "blue", "yellow")):
        Image.new("RGB", (32, 32), colour).save(photos / f"p{i}.png")
        (photos / f"p{i}.txt").write_text(f"a {colour} photo\n")
    assert run_trainer("import", "folder", photos, "--name", "photos", ws=ws).returncode == 0
    torch.manual_seed(0)
    weights = base / "random-weights.pt"  # outside the workspace, shared by every copy
    torch.save(open_clip.create_model("cf-rn-tiny-64").state_dict(), weights)
    made = run_trainer("index", "--pretrained", weights, "--model", "cf-rn-tiny-64", "--dataset", "toy-shapes",
                       "--name", RUN, "--device", "cpu", ws=ws)
    assert made.returncode == 0, made.stderr
    photos_index = run_trainer("index", "--run", RUN, "--dataset", "photos", "--device", "cpu", ws=ws)
    assert photos_index.returncode == 0, photos_index.stderr
    return base


def test_a_moved_and_a_copied_workspace_each_work_on_their_own_files(built: Path, tmp_path: Path) -> None:
    original = tmp_path / "original"
    shutil.copytree(built / "ws", original, symlinks=True)
    expected = _keys(original)
    assert expected

    copied, moved = tmp_path / "copied", tmp_path / "moved"
    shutil.copytree(original, copied, symlinks=True)  # cp -a
    os.rename(original, moved)  # mv
    _works_alone(copied, [moved, original], expected, "2")
    _works_alone(moved, [copied, original], expected, "1")


def test_an_old_catalogue_is_migrated_to_relative_paths_after_a_backup(tmp_path: Path) -> None:
    """A catalogue of schema version 3 (absolute paths) copied elsewhere: the migration backs it up, then
    stores the paths inside the old workspace relative (found from its runs' folders), and keeps the rest."""
    import sqlite3

    from engine.workspace import Workspace

    old = tmp_path / "old"
    ws = Workspace.open(old)
    cat = ws.catalog()
    ds = cat.create_dataset("d", "image-text", "csv", root="/data/photos")
    cat.upsert_run("r1", loss="clip", run_dir=str(ws.runs / "r1"))
    cat.close()
    raw = sqlite3.connect(ws.catalog_path)
    raw.execute("UPDATE runs SET run_dir = ?", (str(ws.runs / "r1"),))  # as version 3 stored it: absolute
    raw.execute("INSERT INTO items (dataset_id, key, split, category, asset_path, meta) VALUES (?, 'k', 'train', "
                "'', ?, '{}')", (ds.id, str(old / "datasets" / "d" / "k.obj")))
    raw.execute("INSERT INTO observations (item_id, modality, path) VALUES (1, 'image', '/data/photos/k.jpg')")
    raw.execute("INSERT INTO observations (item_id, modality, path) VALUES (1, 'view', ?)",
                (str(old / "renders" / "v0.png"),))
    raw.execute("UPDATE schema_version SET version = 3")
    raw.commit()
    raw.close()

    new = tmp_path / "new"
    shutil.copytree(old, new)
    shutil.rmtree(old)
    cat = Workspace.open(new).catalog()
    backups = sorted((new / "backups").iterdir())
    assert backups, "no backup before the migration"
    before = sqlite3.connect(backups[0])
    assert before.execute("SELECT max(version) FROM schema_version").fetchone() == (3,)
    assert before.execute("SELECT run_dir FROM runs").fetchall() == [(str(old / "runs" / "r1"),)]
    before.close()
    stored = sqlite3.connect(new / "catalog.sqlite")
    assert stored.execute("SELECT run_dir FROM runs").fetchall() == [("runs/r1",)]
    assert stored.execute("SELECT asset_path FROM items").fetchall() == [("datasets/d/k.obj",)]
    assert sorted(stored.execute("SELECT path FROM observations").fetchall()) == [("/data/photos/k.jpg",),
                                                                                  ("renders/v0.png",)]
    assert stored.execute("SELECT root FROM datasets").fetchall() == [("/data/photos",)]
    assert cat.require_run("r1").run_dir == str(new / "runs" / "r1")
    assert cat.items(ds.id)[0].asset_path == str(new / "datasets" / "d" / "k.obj")


def test_a_dataset_root_that_moved_is_named_then_relocated(built: Path, tmp_path: Path) -> None:
    """Source data outside the workspace stays absolute: when its folder moves, ``index`` exits 2 naming the root
    and the way out, ``search`` says the hits' files are missing (never 0 hits in silence), and ``datasets
    relocate`` (refusing a folder without the files) points the dataset at its new place."""
    ws = tmp_path / "ws"
    shutil.copytree(built / "ws", ws, symlinks=True)
    old, new = built / "photos", tmp_path / "photos-moved"
    shutil.copytree(old, new)
    before = run_trainer("search", "--text", "a red photo", "--target", "images", "--dataset", "photos",
                         "--run", RUN, "--json", ws=ws)
    assert before.returncode == 0 and json.loads(before.stdout)["hits"], before.stderr
    os.rename(old, tmp_path / "away")  # the data moved away (put back at the end: the fixture's)
    try:
        _relocate(ws, old, new, tmp_path, before.stdout)
    finally:
        os.rename(tmp_path / "away", old)


def _relocate(ws: Path, old: Path, new: Path, tmp_path: Path, before: str) -> None:
    index = run_trainer("index", "--run", RUN, "--dataset", "photos", "--device", "cpu", ws=ws)
    assert index.returncode == 2, index.stdout + index.stderr
    assert index.stderr.strip().count("\n") == 0 and "Traceback" not in index.stderr
    assert str(old) in index.stderr and "trainer datasets relocate photos --root NEW" in index.stderr
    search = run_trainer("search", "--text", "a red photo", "--target", "images", "--dataset", "photos",
                         "--run", RUN, ws=ws)
    assert search.returncode == 0, search.stderr
    assert "files are missing" in search.stdout and str(old) in search.stdout and "relocate photos" in search.stdout

    empty = tmp_path / "empty"
    empty.mkdir()
    refused = run_trainer("datasets", "relocate", "photos", "--root", empty, ws=ws)
    assert refused.returncode == 2 and "does not hold dataset photos's files" in refused.stderr, refused.stderr
    moved = run_trainer("datasets", "relocate", "photos", "--root", new, ws=ws)
    assert moved.returncode == 0, moved.stderr
    shown = json.loads(run_trainer("datasets", "show", "photos", "--json", ws=ws).stdout)
    assert all(image.startswith(str(new)) for item in shown["sample"] for image in item["images"])
    again = run_trainer("index", "--run", RUN, "--dataset", "photos", "--device", "cpu", ws=ws)
    assert again.returncode == 0, again.stderr
    after = run_trainer("search", "--text", "a red photo", "--target", "images", "--dataset", "photos",
                        "--run", RUN, "--json", ws=ws)
    assert [h["key"] for h in json.loads(after.stdout)["hits"]] == [h["key"] for h in json.loads(before)["hits"]]
