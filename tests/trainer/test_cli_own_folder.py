"""From one's own folder to search, as the README's "Your own data" tells it (issue 19, acceptance): the ``trainer``
CLI with the user's arguments (in this process, ``tests/cli_runner.py``; the refusal as a real child), real
workspaces, folders WITHOUT caption files, a zero-shot run from a bare ``state_dict`` file of ``cf-rn-tiny-64`` and
its real hnswlib indexes.

Meshes in three category sub-folders (Z-up, as ModelNet): import (0 with captions), render, index, ``search --text``
and ``--mesh``, ``eval --by-category --json``, and ``train`` refusing in one line. Photos: import, index, ``search
--text`` and ``--image``. Keeping a folder current (a rescan after one photo is deleted and one added says ``added
1, removed 1``; search never returns the deleted file, before or after ``trainer index``) is
``test_cli_folder_sync.py``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
import trimesh
from PIL import Image

from engine.data.splits import split_for_key
from tests.cli_runner import run_trainer

ROOT = Path(__file__).resolve().parents[2]
MODEL = "cf-rn-tiny-64"
pytestmark = pytest.mark.slow  # about twenty `trainer` processes, each loading torch: over a minute on 2 cores

# category -> file names; trimesh's cylinders and cones stand along +Z, as ModelNet's meshes do
MESHES = {
    "box": {"box0.obj": lambda: trimesh.creation.box(extents=(1.0, 1.0, 1.0)),
            "box1.ply": lambda: trimesh.creation.box(extents=(1.0, 0.6, 1.4)),
            "box2.obj": lambda: trimesh.creation.box(extents=(2.0, 0.5, 0.5))},
    "cone": {"cone0.obj": lambda: trimesh.creation.cone(radius=0.5, height=1.0),
             "cone1.ply": lambda: trimesh.creation.cone(radius=0.3, height=1.6)},
    "cylinder": {"cylinder0.obj": lambda: trimesh.creation.cylinder(radius=0.3, height=1.5)},
}
MESH_KEYS = {f"{cat}/{name}" for cat, files in MESHES.items() for name in files}
PHOTOS = {"black": (5, 5, 5), "blue": (20, 20, 220), "green": (20, 200, 20), "red": (220, 20, 20)}


def trainer(*args: str, ws: Path) -> subprocess.CompletedProcess[str]:
    return run_trainer(*args, ws=ws)


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def _json(done: subprocess.CompletedProcess[str]) -> dict:
    return json.loads(_ok(done))


def _refused(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def _png(path: Path, colour: tuple[int, int, int]) -> Path:
    """A 64 px two-tone picture (a random tiny ResNet tells these apart; flat colours it hardly does)."""
    a = np.zeros((64, 64, 3), np.uint8)
    a[:] = colour
    a[:32, :32] = 255 - np.array(colour, np.uint8)
    Image.fromarray(a).save(path)
    return path


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare ``state_dict`` file, as one saves exported weights."""
    import engine.models  # noqa: F401 - registers cf-rn-tiny-64 with open_clip

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "weights.pt"
    torch.save(open_clip.create_model(MODEL).state_dict(), path)
    return path


def _index(ws: Path, weights: Path, dataset: str) -> dict:
    return _json(trainer("index", "--model", MODEL, "--pretrained", str(weights), "--dataset", dataset,
                         "--device", "cpu", "--json", ws=ws))


def _hits(ws: Path, *query: str) -> list[dict]:
    found = _json(trainer("search", *query, "--device", "cpu", "--json", ws=ws))
    scores = [h["score"] for h in found["hits"]]
    assert scores == sorted(scores, reverse=True)
    return found["hits"]


def test_a_folder_of_meshes_without_captions_is_imported_rendered_indexed_searched_and_judged(
    tmp_path: Path, weights: Path,
) -> None:
    folder = tmp_path / "my-shapes"
    for category, files in MESHES.items():
        (folder / category).mkdir(parents=True)
        for name, make in files.items():
            make().export(folder / category / name)
    query = tmp_path / "query-cone.obj"  # a mesh from elsewhere as the query
    trimesh.creation.cone(radius=0.5, height=1.0).export(query)
    ws = tmp_path / "ws"

    imported = _ok(trainer("import", "folder", str(folder), "--name", "my-shapes", "--up", "z", ws=ws))
    assert imported.startswith("imported 'my-shapes' (folder): 6 new items (0 with captions)")
    shown = _json(trainer("datasets", "show", "my-shapes", "--items", "10", "--json", ws=ws))
    assert {i["key"] for i in shown["sample"]} == MESH_KEYS

    def render() -> dict:
        return _json(trainer("render", "my-shapes", "--views", "4", "--size", "64", "--workers", "1", "--json",
                             ws=ws))

    first = render()
    assert (first["rendered"], first["cached"]) == (6, 0)
    again = render()  # safe to repeat: renders only what is missing
    assert (again["rendered"], again["cached"]) == (0, 6)

    made = _index(ws, weights, "my-shapes")
    run = made["run"]
    assert (made["modalities"]["shape"]["action"], made["modalities"]["shape"]["count"]) == ("built", 6)
    assert made["modalities"]["image"]["count"] == 6 * 4  # every view

    by_text = _hits(ws, "--text", "a cone", "--target", "shapes", "--k", "3")
    assert len(by_text) == 3 and {h["key"] for h in by_text} <= MESH_KEYS
    assert all(h["dataset"] == "my-shapes" and h["captions"] == [] for h in by_text)
    by_mesh = _hits(ws, "--mesh", str(query), "--target", "shapes", "--k", "6")
    assert {h["key"] for h in by_mesh} == MESH_KEYS
    assert {h["key"]: h["category"] for h in by_mesh} == {k: k.split("/")[0] for k in MESH_KEYS}

    # the default split (test) holds none of these six keys: one line, exit 2, pointing at another split
    assert {split_for_key(k) for k in MESH_KEYS} == {"train"}
    assert "has no test items" in _refused(trainer("eval", "--run", run, "--by-category", "--device", "cpu",
                                                   ws=ws))
    out = _json(trainer("eval", "--run", run, "--by-category", "--split", "train", "--device", "cpu", "--json",
                        ws=ws))
    assert (out["dataset"], out["split"], out["step"]) == ("my-shapes", "train", 0)
    assert out["categories"] == ["box", "cone", "cylinder"]
    per = out["per_category"]
    assert {c: p["count"] for c, p in per.items()} == {"box": 3, "cone": 2, "cylinder": 1}
    m = out["metrics"]
    assert (m["num_items"], m["num_categories"], m["num_unlabelled"]) == (6, 3, 0)
    for value in [m["top1"], m["top5"], m["mean_class_top1"], *(p["top1"] for p in per.values())]:
        assert 0.0 <= value <= 1.0
    assert m["top5"] == 1.0  # three categories: the right one is always in the top five
    assert m["top1"] == pytest.approx(sum(p["count"] * p["top1"] for p in per.values()) / 6)
    assert m["mean_class_top1"] == pytest.approx(sum(p["top1"] for p in per.values()) / 3)
    assert out["num_wrong"] == len(out["wrong"]) == round((1 - m["top1"]) * 6)
    assert {w["key"] for w in out["wrong"]} <= MESH_KEYS

    refused = _refused(run_trainer("train", "--dataset", "my-shapes", "--loss", "mxm", "--model", MODEL,
                                   "--max-steps", "5", ws=ws, child=True))  # a real process: exit 2, one line
    assert "0 training items with captions (6 without)" in refused
    assert "trainer index --model" in refused and "--pretrained" in refused
    assert not (ws / "runs" / "my-shapes-mxm").exists()


def test_a_folder_of_photos_without_captions_is_indexed_and_searched(tmp_path: Path, weights: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name, colour in PHOTOS.items():
        _png(photos / f"{name}.png", colour)
    queries = tmp_path / "queries"  # the pictures as queries (keeping it current: test_cli_folder_sync.py)
    queries.mkdir()
    for name, colour in PHOTOS.items():
        _png(queries / f"{name}.png", colour)
    ws = tmp_path / "ws"

    def search(*query: str) -> list[str]:
        return [h["key"] for h in _hits(ws, *query, "--target", "images", "--k", "10")]

    imported = _ok(trainer("import", "folder", str(photos), "--name", "photos", ws=ws))
    assert imported.startswith("imported 'photos' (folder): 4 new items (0 with captions)")
    made = _index(ws, weights, "photos")
    assert (made["modalities"]["image"]["action"], made["modalities"]["image"]["count"]) == ("built", 4)
    assert sorted(search("--text", "a red square")) == ["black.png", "blue.png", "green.png", "red.png"]
    assert search("--image", str(queries / "red.png"))[0] == "red.png"

