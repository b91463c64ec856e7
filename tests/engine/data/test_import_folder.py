"""folder importer: images or meshes with same-stem .txt captions; mixed folders by majority."""

from __future__ import annotations

from pathlib import Path

import pytest
import trimesh
from PIL import Image

from engine.data.importers import ImportFailed, run_import
from engine.workspace import Workspace


def _ws(tmp_path: Path) -> tuple[Workspace, object]:
    ws = Workspace.open(tmp_path / "ws")
    return ws, ws.catalog()


def _png(path: Path, captions: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (50, 50, 50)).save(path)
    if captions is not None:
        path.with_suffix(".txt").write_text(captions, encoding="utf-8")


def _mesh(path: Path, captions: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    trimesh.creation.box().export(path)
    if captions is not None:
        path.with_suffix(".txt").write_text(captions, encoding="utf-8")


def test_image_folder_round_trip(tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    _png(folder / "a.png", "A grey square.\nA small grey tile.\n\n")
    _png(folder / "birds" / "b.jpg", "A bird?\n")
    _png(folder / "c.webp")  # no caption file
    _png(folder / "d.png", "  \n")  # no captions in it
    _png(folder / ".hidden" / "e.png", "hidden\n")
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "folder", folder, "pics")
    assert [(p.where, p.reason.split(" ")[0]) for p in report.problems] == [
        ("key c.webp", "no"), ("key d.png", "no")]
    summary = catalog.summary("pics")
    assert summary.kind == "image-text"
    assert (summary.items, summary.by_modality) == (2, {"text": 3, "image": 2})
    ds = catalog.require_dataset("pics")
    assert catalog.categories(ds.id) == ["", "birds"]
    assert catalog.item_by_key(ds.id, "birds/b.jpg") is not None
    again = run_import(catalog, ws, "folder", folder, "pics")
    assert (again.items_added, again.observations_added) == (0, 0)


def test_mesh_folder_is_shape_text_and_minority_images_reported(tmp_path: Path) -> None:
    folder = tmp_path / "shapes"
    _mesh(folder / "chair" / "one.obj", "A box.\nA cube.\n")
    _mesh(folder / "chair" / "two.ply", "Another box.\n")
    _mesh(folder / "three.stl", "Third box.\n")
    (folder / "empty.off").write_bytes(b"")
    (folder / "empty.txt").write_text("An empty mesh.\n")
    _png(folder / "preview.png", "Just a picture.\n")
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "folder", folder, "shapes")
    assert [p.where for p in report.problems] == ["key preview.png", "key empty.off"]
    assert "not one of the folder's meshes (1 images, 4 meshes)" == report.problems[0].reason
    summary = catalog.summary("shapes")
    assert summary.kind == "shape-text"
    assert (summary.items, summary.by_modality) == (3, {"text": 4})
    ds = catalog.require_dataset("shapes")
    one = catalog.item_by_key(ds.id, "chair/one.obj")
    assert one is not None and one.category == "chair"
    assert one.asset_path == str((folder / "chair" / "one.obj").resolve())


def test_undecodable_caption_line_reported_in_its_text_file(tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    _png(folder / "a.png")
    (folder / "a.txt").write_bytes(b"good caption\n\xff\xfe bad\nanother good one\n")
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "folder", folder, "pics")
    assert [(Path(p.file).name, p.where) for p in report.problems] == [("a.txt", "line 2")]
    assert catalog.summary("pics").by_modality == {"text": 2, "image": 1}


def test_evenly_mixed_folder_fails_clearly(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    _png(folder / "a.png", "x\n")
    _mesh(folder / "b.obj", "y\n")
    ws, catalog = _ws(tmp_path)
    with pytest.raises(ImportFailed, match="1 images and 1 meshes; a folder must hold one kind"):
        run_import(catalog, ws, "folder", folder, "m")
    with pytest.raises(ImportFailed, match="is a file"):
        run_import(catalog, ws, "folder", folder / "a.png", "m")


def test_empty_folder_is_an_empty_report(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "folder", tmp_path / "empty", "e")
    assert report.items_added == 0 and [p.where for p in report.problems] == ["folder"]


def test_textures_beside_captioned_meshes_do_not_make_an_image_dataset(tmp_path: Path) -> None:
    """More texture images than meshes (ShapeNet-like: models/ and images/ per shape): the captioned meshes win,
    and their textures are neither imported nor reported."""
    ws, catalog = _ws(tmp_path)
    folder = tmp_path / "src"
    for shape in ("a", "b"):
        _mesh(folder / shape / "models" / "model.obj", "a thing\n")
        for i in range(3):
            _png(folder / shape / "images" / f"texture{i}.png")
    report = run_import(catalog, ws, "folder", folder, "things")
    assert report.items_added == 2 and report.skipped == 0
    assert catalog.require_dataset("things").kind == "shape-text"
