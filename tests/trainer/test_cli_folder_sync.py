"""A folder that stays current, through the CLI as a user runs it (issue 19, section 4): ``trainer.cli.main`` in
this process, a real workspace, real PNGs without captions, a zero-shot run from a saved ``state_dict`` and its real
hnswlib indexes.

Importing the same folder again synchronises the dataset (added, removed, changed, unchanged); search never returns
a file that is gone: not after the file is deleted, not after the rescan, not after ``trainer index``, which drops
the entries of removed items and encodes the changed ones again.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
import trimesh
from PIL import Image

from tests.cli_runner import run_trainer

ROOT = Path(__file__).resolve().parents[2]
MODEL = "cf-rn-tiny-64"
COLOURS = {"black": (5, 5, 5), "blue": (20, 20, 220), "green": (20, 200, 20), "red": (220, 20, 20),
           "white": (250, 250, 250), "yellow": (230, 230, 20)}
NEW = {"purple": (128, 0, 128), "orange": (250, 140, 0), "cyan": (0, 200, 200)}


def _png(path: Path, colour: tuple[int, int, int]) -> Path:
    """A 64 px two-tone picture (a random tiny ResNet tells these apart; flat noise it does not)."""
    a = np.zeros((64, 64, 3), np.uint8)
    a[:] = colour
    a[:32, :32] = 255 - np.array(colour, np.uint8)
    Image.fromarray(a).save(path)
    return path


def trainer(*args: str, ws: Path) -> subprocess.CompletedProcess[str]:
    return run_trainer(*args, ws=ws)


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def _json(done: subprocess.CompletedProcess[str]) -> dict:
    return json.loads(_ok(done))


@pytest.fixture()
def setup(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name, colour in COLOURS.items():
        _png(photos / f"{name}.png", colour)
    queries = tmp_path / "queries"  # the pictures as queries, kept when the folder's files go
    queries.mkdir()
    for name, colour in {**COLOURS, **NEW}.items():
        _png(queries / f"{name}.png", colour)
    import engine.models  # noqa: F401 - registers cf-rn-tiny-64 with open_clip

    torch.manual_seed(0)
    weights = tmp_path / "weights.pt"
    torch.save(open_clip.create_model(MODEL).state_dict(), weights)
    return tmp_path / "ws", photos, queries, weights


def _index(ws: Path, weights: Path) -> dict:
    return _json(trainer("index", "--model", MODEL, "--pretrained", str(weights), "--dataset", "photos",
                         "--device", "cpu", "--json", ws=ws))


def _search(ws: Path, *query: str) -> list[tuple[str, float]]:
    found = _json(trainer("search", *query, "--target", "images", "--dataset", "photos", "--k", "10",
                          "--device", "cpu", "--json", ws=ws))
    return [(h["key"], h["score"]) for h in found["hits"]]


def test_rescan_adds_removes_and_refreshes_and_search_never_returns_a_deleted_file(setup: tuple) -> None:
    ws, photos, queries, weights = setup
    first = _ok(trainer("import", "folder", str(photos), "--name", "photos", ws=ws))
    assert first.startswith("imported 'photos' (folder): 6 new items (0 with captions)")
    made = _index(ws, weights)
    assert (made["modalities"]["image"]["action"], made["modalities"]["image"]["count"]) == ("built", 6)
    assert _search(ws, "--image", str(queries / "red.png"))[0][0] == "red.png"

    (photos / "red.png").unlink()  # deleted, not rescanned yet: never a hit, by text or by its own picture
    assert "red.png" not in [k for k, _ in _search(ws, "--image", str(queries / "red.png"))]
    by_text = _search(ws, "--text", "a red square")
    assert by_text and "red.png" not in [k for k, _ in by_text]
    _png(photos / "purple.png", NEW["purple"])  # added
    _png(photos / "blue.png", NEW["orange"])  # the same name, another picture: changed

    rescan = _ok(trainer("import", "folder", str(photos), "--name", "photos", ws=ws))
    assert rescan.startswith("synchronised 'photos' (folder): added 1, removed 1, changed 1, unchanged 4 ")
    shown = _json(trainer("datasets", "show", "photos", "--items", "10", "--json", ws=ws))
    assert {i["key"] for i in shown["sample"]} == {"black.png", "blue.png", "green.png", "purple.png", "white.png",
                                                    "yellow.png"}
    before_index = _search(ws, "--image", str(queries / "red.png"))  # the index still holds red: dropped
    assert before_index and "red.png" not in [k for k, _ in before_index]

    updated = _index(ws, weights)["modalities"]["image"]
    assert (updated["action"], updated["count"], updated["added"], updated["removed"]) == ("updated", 6, 2, 2)
    assert "red.png" not in [k for k, _ in _search(ws, "--image", str(queries / "red.png"))]
    top = _search(ws, "--image", str(queries / "purple.png"))[0]
    assert top[0] == "purple.png" and top[1] > 1 - 1e-5  # encoded
    top = _search(ws, "--image", str(queries / "orange.png"))[0]
    assert top[0] == "blue.png" and top[1] > 1 - 1e-5  # encoded again from its new picture

    unchanged = _json(trainer("import", "folder", str(photos), "--name", "photos", "--json", ws=ws))
    assert (unchanged["synced"], unchanged["items_added"], unchanged["items_removed"], unchanged["items_changed"],
            unchanged["items_unchanged"]) == (True, 0, 0, 0, 6)
    assert _index(ws, weights)["modalities"]["image"]["action"] == "up-to-date"


def test_an_id_freed_by_a_removed_file_is_never_read_as_the_old_file(setup: tuple) -> None:
    """SQLite hands the largest freed id to the next row: the index entry of the removed file must not answer
    for the new file that got its id."""
    ws, photos, queries, weights = setup
    _ok(trainer("import", "folder", str(photos), "--name", "photos", ws=ws))
    _index(ws, weights)
    (photos / "yellow.png").unlink()  # the last key: the largest item and observation ids
    assert "removed 1," in _ok(trainer("import", "folder", str(photos), "--name", "photos", ws=ws))
    shutil.copy(queries / "cyan.png", photos / "cyan.png")
    done = trainer("import", "folder", str(photos), "--name", "photos", "--events", "-", ws=ws)
    report = [json.loads(line) for line in _ok(done).splitlines() if '"done"' in line][-1]
    assert (report["event"], report["items_added"], report["items_removed"], report["items_unchanged"]) == (
        "done", 1, 0, 5)
    updated = _index(ws, weights)["modalities"]["image"]
    assert (updated["added"], updated["removed"], updated["count"]) == (1, 1, 6)
    hits = _search(ws, "--image", str(queries / "cyan.png"))
    assert hits[0][0] == "cyan.png" and hits[0][1] > 1 - 1e-5
    assert "yellow.png" not in [k for k, _ in _search(ws, "--image", str(queries / "yellow.png"))]


def test_a_different_folder_under_the_same_name_is_not_a_rescan(setup: tuple, tmp_path: Path) -> None:
    ws, photos, _queries, _weights = setup
    _ok(trainer("import", "folder", str(photos), "--name", "photos", ws=ws))
    other = tmp_path / "other"
    other.mkdir()
    _png(other / "grey.png", (128, 128, 128))
    merged = _json(trainer("import", "folder", str(other), "--name", "photos", "--json", ws=ws))
    assert (merged["synced"], merged["items_added"], merged["items_removed"]) == (False, 1, 0)
    assert any("merged into the existing dataset" in n for n in merged["notes"])
    again = _json(trainer("import", "folder", str(photos), "--name", "photos", "--json", ws=ws))
    assert (again["synced"], again["items_removed"], again["items_unchanged"]) == (True, 0, 6)  # grey.png stays
    assert _json(trainer("datasets", "show", "photos", "--json", ws=ws))["items"] == 7


def test_a_changed_mesh_is_rendered_and_encoded_again_and_a_deleted_one_is_never_a_hit(setup: tuple,
                                                                                      tmp_path: Path) -> None:
    ws, _photos, _queries, weights = setup
    meshes = tmp_path / "meshes"
    meshes.mkdir()
    trimesh.creation.box(extents=(1.0, 1.0, 1.0)).export(meshes / "box.obj")
    trimesh.creation.icosphere(subdivisions=2).export(meshes / "ball.obj")
    trimesh.creation.cylinder(radius=0.3, height=1.5).export(meshes / "pole.obj")

    def render() -> dict:
        return _json(trainer("render", "meshes", "--views", "4", "--size", "64", "--workers", "1", "--json", ws=ws))

    def index() -> dict:
        return _json(trainer("index", "--model", MODEL, "--pretrained", str(weights), "--dataset", "meshes",
                             "--device", "cpu", "--json", ws=ws))["modalities"]

    def search(mesh: Path) -> list[tuple[str, float]]:
        found = _json(trainer("search", "--mesh", str(mesh), "--target", "shapes", "--dataset", "meshes",
                              "--k", "5", "--device", "cpu", "--json", ws=ws))
        return [(h["key"], h["score"]) for h in found["hits"]]

    _ok(trainer("import", "folder", str(meshes), "--name", "meshes", "--up", "z", ws=ws))
    assert (render()["rendered"], index()["shape"]["count"]) == (3, 3)
    trimesh.creation.capsule(radius=0.5, height=0.5).export(meshes / "pole.obj")  # another shape, the same name
    rescan = _json(trainer("import", "folder", str(meshes), "--name", "meshes", "--up", "z", "--json", ws=ws))
    assert (rescan["items_changed"], rescan["items_unchanged"]) == (1, 2)
    rendered = render()
    assert (rendered["rendered"], rendered["cached"]) == (1, 2)  # only the changed mesh (its content is its key)
    shapes = index()["shape"]
    assert (shapes["action"], shapes["added"], shapes["removed"], shapes["count"]) == ("updated", 1, 1, 3)
    top = search(meshes / "pole.obj")[0]
    assert top[0] == "pole.obj" and top[1] > 1 - 1e-5  # its vector is the new shape's

    (meshes / "ball.obj").unlink()
    sphere = tmp_path / "ball-query.obj"
    trimesh.creation.icosphere(subdivisions=2).export(sphere)
    assert "ball.obj" not in [k for k, _ in search(sphere)]  # file gone, not rescanned yet
    assert _json(trainer("import", "folder", str(meshes), "--name", "meshes", "--up", "z", "--json",
                         ws=ws))["items_removed"] == 1
    shapes = index()["shape"]
    assert (shapes["removed"], shapes["count"]) == (1, 2)
    assert sorted(k for k, _ in search(sphere)) == ["box.obj", "pole.obj"]
