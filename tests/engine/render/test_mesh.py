"""Loading and normalising meshes; the errors for files that cannot be rendered."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import trimesh

from engine.errors import CrossfoldError
from engine.render import MeshError, load_mesh


def _box(path: Path, colour: tuple[int, int, int], offset: tuple[float, float, float] = (0, 0, 0)) -> Path:
    mesh = trimesh.creation.box(extents=(2.0, 1.0, 0.5))
    mesh.apply_translation(offset)
    mesh.visual.face_colors = (*colour, 255)
    mesh.export(path)
    return path


def test_mesh_is_centred_in_the_unit_sphere(tmp_path: Path) -> None:
    mesh = load_mesh(_box(tmp_path / "box.ply", (255, 0, 0), offset=(10.0, -3.0, 7.0)))
    vertices = np.vstack([p.vertices for p in mesh.parts])
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    np.testing.assert_allclose((lo + hi) / 2, 0.0, atol=1e-9)
    assert np.linalg.norm(vertices, axis=1).max() == pytest.approx(1.0)
    np.testing.assert_allclose(mesh.centre, (10.0, -3.0, 7.0))


def test_scene_parts_keep_their_transforms_and_colours(tmp_path: Path) -> None:
    red = trimesh.creation.box()
    red.visual.face_colors = (255, 0, 0, 255)
    blue = trimesh.creation.box()
    blue.visual.face_colors = (0, 0, 255, 255)
    scene = trimesh.Scene()
    scene.add_geometry(red, node_name="red", transform=trimesh.transformations.translation_matrix((-2, 0, 0)))
    scene.add_geometry(
        blue, node_name="blue", transform=trimesh.transformations.translation_matrix((2, 0, 0))
    )
    path = tmp_path / "two.glb"
    scene.export(path)
    mesh = load_mesh(path)
    assert len(mesh.parts) == 2
    centres = sorted(float(p.vertices[:, 0].mean()) for p in mesh.parts)
    assert centres[0] < -0.3 and centres[1] > 0.3  # still apart after normalisation


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.obj", b"", "empty"),
        ("garbage.ply", b"\x00\x01 this is not a mesh \xff" * 40, "cannot be read"),
        ("garbage.glb", b"glTF but not really" * 10, "cannot be read"),
        ("points.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\n", "no triangle faces"),
        ("flat.obj", b"v 0 0 0\nv 0 0 0\nv 0 0 0\nf 1 2 3\n", "degenerate"),
        ("notes.txt", b"hello", "unsupported format"),
    ],
)
def test_unrenderable_files_raise_mesh_error_naming_the_file(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(MeshError) as info:
        load_mesh(path)
    assert str(path) in str(info.value)
    assert reason in str(info.value)
    assert info.value.path == path


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MeshError, match="file not found"):
        load_mesh(tmp_path / "nope.stl")


def test_mesh_error_is_a_crossfold_error_and_pickles(tmp_path: Path) -> None:
    error = MeshError(tmp_path / "a.obj", "file is empty")
    assert isinstance(error, CrossfoldError)
    again = pickle.loads(pickle.dumps(error))
    assert str(again) == str(error) == f"{tmp_path / 'a.obj'}: file is empty"
    assert again.reason == "file is empty"
