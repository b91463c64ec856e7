"""The `trainer` CLI as a user runs it: in this process (``tests/cli_runner.py``), real workspace."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

from tests.cli_runner import run_trainer

ROOT = Path(__file__).resolve().parents[2]


def trainer(*args: str, ws: Path) -> subprocess.CompletedProcess[str]:
    return run_trainer(*args, ws=ws)


def test_demo_data_then_list_json_shows_both_datasets_with_counts(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    made = trainer("demo-data", "--shapes", "12", "--scenes", "10", "--views", "3", "--size", "64", ws=ws)
    assert made.returncode == 0, made.stderr
    listed = trainer("datasets", "list", "--json", ws=ws)
    assert listed.returncode == 0, listed.stderr
    by_name = {d["name"]: d for d in json.loads(listed.stdout)["datasets"]}
    assert by_name["shapes-demo"]["items"] == 12
    assert by_name["shapes-demo"]["by_modality"]["view"] == 36
    assert by_name["shapes-demo"]["by_modality"]["text"] >= 60
    assert by_name["scenes-demo"]["items"] == 10
    assert by_name["scenes-demo"]["by_modality"]["image"] == 10
    shown = json.loads(trainer("datasets", "show", "shapes-demo", "--json", "--items", "2", ws=ws).stdout)
    view = np.asarray(Image.open(shown["sample"][0]["views"][0]).convert("RGB"), dtype=np.float32)
    assert view.shape == (64, 64, 3)
    assert view.std() > 10  # not blank
    object_pixels = view[(view < 240).any(axis=2)]
    assert len(object_pixels) > 200  # the object covers part of the view
    again = trainer("demo-data", "--shapes", "12", "--scenes", "10", "--views", "3", "--size", "64", ws=ws)
    assert "skipped" in again.stdout


def test_import_reports_skipped_records_and_succeeds(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for name in ("a.jpg", "b.jpg"):
        Image.new("RGB", (8, 8), (200, 10, 10)).save(images / name)
    token = tmp_path / "results.token"
    token.write_text("a.jpg#0\ta red square\na.jpg#1\tred block\nthis line is malformed\n"
                     "missing.jpg#0\tnothing here\nb.jpg#0\tanother red square\n", encoding="utf-8")
    ws = tmp_path / "ws"
    done = trainer("import", "flickr-token", str(token), "--images-root", str(images), "--name", "toy", ws=ws)
    assert done.returncode == 0, done.stderr
    assert "2 new items" in done.stdout and "2 skipped" in done.stdout
    assert "line 3" in done.stdout and "line 4" in done.stdout


def test_errors_are_one_line_and_nonzero(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    missing = trainer("import", "coco", str(tmp_path / "nope.json"), "--images-root", str(tmp_path),
                      "--name", "x", ws=ws)
    assert missing.returncode != 0
    lines = missing.stderr.strip().splitlines()
    assert len(lines) == 1 and "nope.json" in lines[0]
    unknown = trainer("datasets", "show", "ghost", ws=ws)
    assert unknown.returncode != 0 and "no dataset named 'ghost'" in unknown.stderr


def test_folder_without_captions_imports_and_shows_captions_none(tmp_path: Path) -> None:
    """Meshes as an asset library holds them (no caption files) and one with two captions: every mesh is an item,
    the summary and the --events report count the captioned ones, `datasets show` says "captions: none"."""
    import trimesh

    meshes = tmp_path / "assets"
    for name in ("chair/a.obj", "chair/b.obj", "table/c.ply", "lamp.stl"):
        (meshes / name).parent.mkdir(parents=True, exist_ok=True)
        trimesh.creation.box().export(meshes / name)
    (meshes / "lamp.txt").write_text("A lamp.\nA box that is a lamp.\n", encoding="utf-8")
    ws = tmp_path / "ws"
    done = trainer("import", "folder", str(meshes), "--name", "assets", "--up", "z", ws=ws)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("imported 'assets' (folder): 4 new items (1 with captions), 2 new observations, "
                                  "0 skipped")
    (meshes / "stool.obj").write_bytes((meshes / "chair" / "a.obj").read_bytes())
    streamed = trainer("import", "folder", str(meshes), "--name", "assets", "--events", "-", ws=ws)
    report = [json.loads(line) for line in streamed.stdout.splitlines() if line.startswith("{")][-1]
    assert (report["event"], report["items_added"], report["captioned_items_added"]) == ("done", 1, 0)

    listed = json.loads(trainer("datasets", "list", "--json", ws=ws).stdout)["datasets"]
    assert [(d["items"], d["captioned_items"], d["by_modality"]) for d in listed] == [(5, 1, {"text": 2})]
    shown = trainer("datasets", "show", "assets", "--items", "10", ws=ws)
    assert shown.returncode == 0, shown.stderr
    assert "  captions:     1 of 5 items have captions" in shown.stdout
    blocks = shown.stdout.split("\n\n")[1:]  # one block per item shown
    assert len(blocks) == 5
    assert sum("    captions: none" in b for b in blocks) == 4
    assert "    - A lamp." in next(b for b in blocks if "lamp.stl" in b)
    table = trainer("datasets", "list", ws=ws).stdout
    assert "assets" in table and "Traceback" not in table


def test_dataset_with_no_captions_at_all_says_captions_none(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        Image.new("RGB", (8, 8), (60 * i, 10, 10)).save(photos / f"IMG_{i}.jpg")
    ws = tmp_path / "ws"
    assert "3 new items (0 with captions)" in trainer("import", "folder", str(photos), "--name", "p", ws=ws).stdout
    shown = trainer("datasets", "show", "p", ws=ws).stdout
    assert "  captions:     none (its items can be searched with pretrained weights" in shown
    assert json.loads(trainer("datasets", "show", "p", "--json", ws=ws).stdout)["captioned_items"] == 0
