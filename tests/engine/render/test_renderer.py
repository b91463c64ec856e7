"""Real offscreen renders (EGL / llvmpipe on a CPU machine): lit, coloured, framed, every format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from engine.render import MeshError, ViewSpec, render_views

SPEC = ViewSpec(views=4, size=64)
WHITE = np.array([255, 255, 255])


def _coloured_box(colour: tuple[int, int, int]) -> trimesh.Trimesh:
    mesh = trimesh.creation.box(extents=(1.0, 0.8, 0.6))
    mesh.visual.face_colors = (*colour, 255)
    return mesh


def _object_pixels(view: np.ndarray, background: np.ndarray = WHITE) -> np.ndarray:
    """(N, 3) int pixels that differ from the background."""
    pixels = view.reshape(-1, 3).astype(int)
    return pixels[np.abs(pixels - background).sum(axis=1) > 30]


def _dominant(pixels: np.ndarray, channel: int) -> np.ndarray:
    others = [c for c in range(3) if c != channel]
    return (pixels[:, channel] > 100) & (pixels[:, channel] > pixels[:, others].max(axis=1) + 60)


def test_views_are_uint8_images_of_the_requested_size(tmp_path: Path) -> None:
    path = tmp_path / "red.ply"
    _coloured_box((220, 20, 20)).export(path)
    views = render_views(path, ViewSpec(views=3, size=48))
    assert len(views) == 3
    for view in views:
        assert view.shape == (48, 48, 3) and view.dtype == np.uint8


def test_red_mesh_renders_red_lit_and_not_blank(tmp_path: Path) -> None:
    path = tmp_path / "red.ply"
    _coloured_box((220, 20, 20)).export(path)
    views = render_views(path, SPEC)
    for view in views:
        assert view.astype(float).std() > 20.0  # not blank
        assert tuple(view[0, 0]) == (255, 255, 255)  # flat white background in the corner
        obj = _object_pixels(view)
        assert len(obj) > 0.1 * 64 * 64  # the object fills a good part of the frame
        assert _dominant(obj, 0).mean() > 0.9  # red reads as red
        # lit: faces at different angles get different brightness, none of it black
        assert obj[:, 0].max() - obj[:, 0].min() > 25
        assert np.median(obj[:, 0]) > 120
    assert not np.array_equal(views[0], views[1])  # the camera moved


def test_multi_part_glb_keeps_each_part_colour(tmp_path: Path) -> None:
    red, blue = _coloured_box((230, 20, 20)), _coloured_box((20, 20, 230))
    scene = trimesh.Scene()
    scene.add_geometry(
        red, node_name="red", transform=trimesh.transformations.translation_matrix((-0.8, 0, 0))
    )
    scene.add_geometry(
        blue, node_name="blue", transform=trimesh.transformations.translation_matrix((0.8, 0, 0))
    )
    path = tmp_path / "two.glb"
    scene.export(path)
    view = render_views(path, SPEC)[0]  # from the front: both parts side by side
    obj = _object_pixels(view)
    assert _dominant(obj, 0).sum() > 100
    assert _dominant(obj, 2).sum() > 100
    # red on the left, blue on the right
    ys, xs = np.nonzero(_dominant(view.reshape(-1, 3).astype(int), 0).reshape(64, 64))
    yb, xb = np.nonzero(_dominant(view.reshape(-1, 3).astype(int), 2).reshape(64, 64))
    assert xs.mean() < xb.mean()


def test_vertex_colours_render_as_colours(tmp_path: Path) -> None:
    mesh = trimesh.creation.icosphere(subdivisions=2)
    mesh.visual.vertex_colors = np.tile([20, 200, 20, 255], (len(mesh.vertices), 1))
    path = tmp_path / "green.ply"
    mesh.export(path)
    obj = _object_pixels(render_views(path, SPEC)[0])
    assert _dominant(obj, 1).mean() > 0.9


def test_obj_materials_keep_their_colours(tmp_path: Path) -> None:
    (tmp_path / "parts.mtl").write_text("newmtl red\nKd 0.9 0.05 0.05\nnewmtl blue\nKd 0.05 0.05 0.9\n")
    box = trimesh.creation.box()
    lines = ["mtllib parts.mtl"]
    for dx in (-1.0, 1.0):
        lines += [f"v {x + dx} {y} {z}" for x, y, z in box.vertices]
    lines.append("usemtl red")
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in box.faces]
    lines.append("usemtl blue")
    lines += [f"f {a + 9} {b + 9} {c + 9}" for a, b, c in box.faces]
    path = tmp_path / "parts.obj"
    path.write_text("\n".join(lines) + "\n")
    obj = _object_pixels(render_views(path, SPEC)[0])
    assert _dominant(obj, 0).sum() > 100
    assert _dominant(obj, 2).sum() > 100


@pytest.mark.parametrize("suffix", ["obj", "off", "ply", "stl", "glb", "gltf"])
def test_every_format_renders(tmp_path: Path, suffix: str) -> None:
    mesh = trimesh.creation.cylinder(radius=0.5, height=1.5, sections=24)
    path = tmp_path / f"shape.{suffix}"
    if suffix in ("glb", "gltf"):
        trimesh.Scene(mesh).export(path)
    else:
        mesh.export(path)
    views = render_views(path, SPEC)
    assert len(views) == SPEC.views
    assert all(len(_object_pixels(v)) > 200 for v in views)


def test_background_is_configurable(tmp_path: Path) -> None:
    path = tmp_path / "red.ply"
    _coloured_box((220, 20, 20)).export(path)
    view = render_views(path, ViewSpec(views=1, size=64, background=(0, 40, 0)))[0]
    assert tuple(view[0, 0]) == (0, 40, 0)
    assert len(_object_pixels(view, np.array([0, 40, 0]))) > 200


def test_inverted_normals_are_still_lit(tmp_path: Path) -> None:
    mesh = _coloured_box((220, 20, 20))
    mesh.invert()
    path = tmp_path / "inside_out.ply"
    mesh.export(path)
    obj = _object_pixels(render_views(path, SPEC)[0])
    assert np.median(obj[:, 0]) > 120


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.stl", b""),
        ("garbage.obj", b"\x89PNG not a mesh at all" * 20),
        ("points.obj", b"v 0 0 0\nv 1 1 1\n"),
    ],
)
def test_broken_meshes_raise_mesh_error_naming_the_file(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(MeshError) as info:
        render_views(path, SPEC)
    assert str(path) in str(info.value)


def test_textures_render_in_their_own_colours(tmp_path: Path) -> None:
    image = np.zeros((32, 32, 3), np.uint8)
    image[:, :16] = (230, 20, 20)
    image[:, 16:] = (20, 20, 230)
    box = trimesh.creation.box()
    uv = np.stack([box.vertices[:, 0] + 0.5, box.vertices[:, 1] + 0.5], axis=1)
    box.visual = trimesh.visual.TextureVisuals(uv=uv, image=Image.fromarray(image))
    path = tmp_path / "textured.glb"
    box.export(path)
    obj = _object_pixels(render_views(path, SPEC)[0])
    red, blue = _dominant(obj, 0), _dominant(obj, 2)
    assert red.sum() > 100 and blue.sum() > 100
    assert np.median(obj[red][:, 0]) > 140  # the texture's own red, lit, not darkened by a grey factor


def test_open_surfaces_are_visible_from_both_sides(tmp_path: Path) -> None:
    path = tmp_path / "quad.obj"
    path.write_text("v -1 -1 0\nv 1 -1 0\nv 1 1 0\nv -1 1 0\nf 1 2 3\nf 1 3 4\n")  # faces +z only
    front, back = render_views(path, ViewSpec(views=2, size=64, elevation_deg=10.0))
    assert len(_object_pixels(front)) > 500
    assert len(_object_pixels(back)) > 500


def _silhouette(view: np.ndarray) -> tuple[int, int]:
    """(height, width) of the object's pixels."""
    rows, cols = np.nonzero(np.abs(view.astype(int) - WHITE).sum(axis=2) > 30)
    return int(rows.max() - rows.min()), int(cols.max() - cols.min())


@pytest.mark.parametrize("up_axis", ["y", "z", "x", "-y", "-z", "-x"])
def test_up_axis_keeps_tall_things_upright(tmp_path: Path, up_axis: str) -> None:
    axis = "xyz".index(up_axis[-1])
    extents = [0.3, 0.3, 0.3]
    extents[axis] = 1.5
    path = tmp_path / "pole.ply"
    pole = trimesh.creation.box(extents=extents)
    # a knob on the up end: the top of the view must be where the model's up points
    knob = trimesh.creation.box(extents=[0.6] * 3)
    offset = np.zeros(3)
    offset[axis] = 0.75 if not up_axis.startswith("-") else -0.75
    knob.apply_translation(offset)
    trimesh.util.concatenate([pole, knob]).export(path)
    view = render_views(path, ViewSpec(views=1, size=64, elevation_deg=10.0, up_axis=up_axis))[0]
    height, width = _silhouette(view)
    assert height > width  # upright
    rows, cols = np.nonzero(np.abs(view.astype(int) - WHITE).sum(axis=2) > 30)
    top, bottom = rows < rows.min() + height // 4, rows > rows.max() - height // 4
    assert np.ptp(cols[top]) > np.ptp(cols[bottom])  # the knob is at the top, not the bottom


def test_a_z_up_model_lies_down_with_the_default_up_axis(tmp_path: Path) -> None:
    path = tmp_path / "pole.ply"
    trimesh.creation.box(extents=(0.3, 0.3, 1.5)).export(path)
    side = ViewSpec(views=4, size=64, elevation_deg=0.0)  # view 1 looks from +x: the pole's full length
    height, width = _silhouette(render_views(path, side)[1])
    assert width > 2 * height
