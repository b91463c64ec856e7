"""A mesh's side files (materials, textures) come from inside the folders it was imported from, never outside.

ShapeNet v2 keeps a model's textures beside its ``models/`` folder (``model_normalized.mtl`` names
``../images/texture0.jpg``): read when the import root holds them, refused when the name leaves every root.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from engine.render import ViewSpec, render_many

RED, GREEN = (230, 20, 20), (20, 230, 20)


def _textured_quad(folder: Path, texture_name: str) -> Path:
    """``folder/models/model_normalized.obj``: a white quad facing +z whose material's texture is ``texture_name``."""
    models = folder / "models"
    models.mkdir(parents=True)
    (models / "model_normalized.mtl").write_text(f"newmtl paint\nKd 1 1 1\nmap_Kd {texture_name}\n")
    (models / "model_normalized.obj").write_text(
        "mtllib model_normalized.mtl\n"
        "v -1 -1 0\nv 1 -1 0\nv 1 1 0\nv -1 1 0\n"
        "vt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\n"
        "usemtl paint\nf 1/1 2/2 3/3\nf 1/1 3/3 4/4\n"
    )
    return models / "model_normalized.obj"


def _texture(path: Path, colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), colour).save(path)


def _centre_colour(view: Path) -> np.ndarray:
    pixels = np.asarray(Image.open(view).convert("RGB"), dtype=np.float64)
    h, w, _ = pixels.shape
    return pixels[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3].reshape(-1, 3).mean(axis=0)


def test_textures_are_read_inside_the_roots_and_refused_outside(tmp_path: Path) -> None:
    root = tmp_path / "ShapeNetCore.v2"
    inside = _textured_quad(root / "03001627" / "chair1", "../images/texture0.png")
    _texture(root / "03001627" / "chair1" / "images" / "texture0.png", RED)
    secret = tmp_path / "private" / "photo.png"  # beside the root, not in it
    _texture(secret, GREEN)
    escaping = _textured_quad(root / "03001627" / "chair2", "../../../../private/photo.png")
    absolute = _textured_quad(root / "03001627" / "chair3", str(secret))
    spec = ViewSpec(views=1, size=64, elevation_deg=0.0)

    # the import root given: ShapeNet's ../images texture is used; the escaping and absolute names are not
    outcomes = render_many([inside, escaping, absolute], spec, tmp_path / "cache", workers=1, roots=(root,))
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    red = _centre_colour(outcomes[0].views[0])
    assert red[0] > 150 and red[1] < 80 and red[2] < 80, red
    for outcome in outcomes[1:]:
        colour = _centre_colour(outcome.views[0])
        assert not (colour[1] > 150 and colour[0] < 80), f"{outcome.path}: rendered the file outside the root"

    # no roots: trimesh's own rule (below the mesh's folder only), so the ../images texture is not read either
    plain = render_many([inside], spec, tmp_path / "cache-plain", workers=1)[0]
    colour = _centre_colour(plain.views[0])
    assert plain.ok and not (colour[0] > 150 and colour[1] < 80), colour


def test_an_imported_dataset_renders_with_its_textures_and_the_item_detail_knows_its_roots(tmp_path: Path) -> None:
    from engine.catalog.browse import item_detail
    from engine.data.importers import run_import
    from engine.data.rendering import render_dataset
    from engine.workspace import Workspace

    root = tmp_path / "my-chairs"
    mesh = _textured_quad(root / "chair1", "../images/texture0.png")
    _texture(root / "chair1" / "images" / "texture0.png", RED)
    mesh.with_suffix(".txt").write_text("a red square chair\n")
    ws = Workspace.open(tmp_path / "ws")
    catalog = ws.catalog()
    report = run_import(catalog, ws, "folder", root, "chairs")
    assert report.items_added == 1
    dataset = catalog.require_dataset("chairs")
    assert dataset.meta["imports"][-1]["roots"] == [str(root.resolve())]

    summary = render_dataset(catalog, ws, "chairs", spec=ViewSpec(views=1, size=64, elevation_deg=0.0), workers=1)
    assert not summary.failed
    views = catalog.observations(dataset.id, "view")
    colour = _centre_colour(Path(views[0][2]))
    assert colour[0] > 150 and colour[1] < 80 and colour[2] < 80, colour
    item_id = views[0][1]
    assert item_detail(catalog, item_id).roots == (str(root.resolve()),)


_OPENED: list[str] | None = None  # what the audit hook records while a test listens


def _record_open(event: str, args: tuple) -> None:
    if _OPENED is not None and event == "open" and args and isinstance(args[0], (str, bytes, Path)):
        _OPENED.append(str(args[0]))


def test_a_texture_outside_the_roots_is_never_opened(tmp_path: Path) -> None:
    """In process, with an audit hook on ``open``: the escaping and absolute names are refused before any read."""
    import sys

    from engine.render.mesh import load_mesh

    global _OPENED
    root = tmp_path / "root"
    secret = tmp_path / "private" / "photo.png"
    _texture(secret, GREEN)
    meshes = [_textured_quad(root / "a", "../../private/photo.png"), _textured_quad(root / "b", str(secret))]
    sys.addaudithook(_record_open)  # cannot be removed: it records only while _OPENED is a list
    _OPENED = []
    try:
        for mesh in meshes:
            load_mesh(mesh, roots=(root,))
        opened = list(_OPENED)
    finally:
        _OPENED = None
    assert any(p.endswith("model_normalized.mtl") for p in opened)  # the hook saw the reads it should
    assert not [p for p in opened if "private" in p], opened
