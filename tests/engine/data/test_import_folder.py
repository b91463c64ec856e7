"""folder importer: images or meshes, with or without same-stem .txt captions; mixed folders by majority."""

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
    assert report.problems == []
    assert (report.items_added, report.captioned_items_added) == (4, 2)
    assert report.summary_line().startswith("imported 'pics' (folder): 4 new items (2 with captions), ")
    summary = catalog.summary("pics")
    assert summary.kind == "image-text"
    assert (summary.items, summary.captioned_items, summary.by_modality) == (4, 2, {"text": 3, "image": 4})
    ds = catalog.require_dataset("pics")
    assert catalog.categories(ds.id) == ["birds"]  # the top-level files have none
    assert catalog.item_by_key(ds.id, "birds/b.jpg") is not None
    for key in ("c.webp", "d.png"):  # imported without captions: an image and no text
        item = catalog.item_by_key(ds.id, key)
        assert item is not None and [o.modality for o in item.observations] == ["image"]
    again = run_import(catalog, ws, "folder", folder, "pics")
    assert (again.items_added, again.captioned_items_added, again.observations_added) == (0, 0, 0)
    (folder / "c.txt").write_text("A late caption.\n", encoding="utf-8")  # captions added later join the item
    later = run_import(catalog, ws, "folder", folder, "pics")
    assert (later.items_added, later.items_updated, later.observations_added) == (0, 1, 1)
    assert catalog.summary("pics").captioned_items == 3


def test_folder_without_any_caption_file(tmp_path: Path) -> None:
    """A phone's photos and a mesh library as they come: every readable file is an item, none has text."""
    photos, meshes = tmp_path / "photos", tmp_path / "meshes"
    for i in range(5):
        _png(photos / ("trip" if i % 2 else "home") / f"IMG_{i:04d}.jpg")
    (photos / "broken.png").write_bytes(b"not a png")
    for name in ("chair/a.obj", "chair/b.stl", "table/c.ply"):
        _mesh(meshes / name)
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "folder", photos, "photos")
    assert (report.items_added, report.captioned_items_added, report.observations_added) == (5, 0, 5)
    assert [(p.where, p.reason.split(":")[0]) for p in report.problems] == [
        ("key broken.png", f"unreadable image {(photos / 'broken.png').resolve()}")]
    assert "5 new items (0 with captions), 5 new observations, 1 skipped" in report.summary_line()
    summary = catalog.summary("photos")
    assert (summary.kind, summary.items, summary.captioned_items, summary.by_modality) == (
        "image-text", 5, 0, {"image": 5})
    assert catalog.categories(catalog.require_dataset("photos").id) == ["home", "trip"]
    shapes = run_import(catalog, ws, "folder", meshes, "meshes", up_axis="z")
    assert (shapes.items_added, shapes.captioned_items_added, shapes.observations_added, shapes.skipped) == (
        3, 0, 0, 0)
    summary = catalog.summary("meshes")
    assert (summary.kind, summary.items, summary.captioned_items, summary.by_modality) == ("shape-text", 3, 0, {})
    assert catalog.require_dataset("meshes").meta["last_import"]["captioned_items_added"] == 0


def test_caption_file_that_cannot_be_read_is_reported_and_its_item_kept(tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    _png(folder / "a.png", "A caption.\n")
    _png(folder / "b.png")
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET\n", encoding="utf-8")
    (folder / "b.txt").symlink_to(secret)
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "folder", folder, "pics")
    assert [(p.where, p.reason.split(":")[0]) for p in report.problems] == [
        ("key b.png", "caption file b.txt not read")]
    assert "outside the import root" in report.problems[0].reason
    ds = catalog.require_dataset("pics")
    b = catalog.item_by_key(ds.id, "b.png")
    assert b is not None and [o.modality for o in b.observations] == ["image"]
    assert (report.items_added, report.captioned_items_added) == (2, 1)


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
    assert (summary.items, summary.captioned_items, summary.by_modality) == (3, 3, {"text": 4})
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


def test_uncaptioned_mixed_folder_is_the_kind_with_more_files(tmp_path: Path) -> None:
    """Without any caption file, the kind with more files is imported (today's rule) and the others reported."""
    ws, catalog = _ws(tmp_path)
    folder = tmp_path / "assets"
    for name in ("a.obj", "b.glb", "c.off"):
        _mesh(folder / name)
    _png(folder / "cover.png")
    report = run_import(catalog, ws, "folder", folder, "assets")
    assert [(p.where, p.reason) for p in report.problems] == [
        ("key cover.png", "not one of the folder's meshes (1 images, 3 meshes)")]
    summary = catalog.summary("assets")
    assert (summary.kind, summary.items, summary.captioned_items) == ("shape-text", 3, 0)
