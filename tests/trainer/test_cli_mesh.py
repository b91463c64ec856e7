"""Meshes from the CLI: `--up` at import turns Z-up meshes upright; `trainer search --mesh` asks a run's
indexes with a mesh file (``trainer.cli.main`` in this process, real EGL renders, the session's trained toy run)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from tests.cli_runner import run_trainer
from tests.conftest import TOY_RUN, copy_workspace

ROOT = Path(__file__).resolve().parents[2]


def trainer(*args: str, ws: Path) -> subprocess.CompletedProcess[str]:
    return run_trainer(*args, ws=ws)


def _silhouette(path: str) -> tuple[int, int]:
    """(height, width) of the non-white pixels of a view."""
    view = np.asarray(Image.open(path).convert("RGB"), dtype=int)
    rows, cols = np.nonzero(np.abs(view - 255).sum(axis=2) > 30)
    return int(np.ptp(rows)), int(np.ptp(cols))


def test_up_z_renders_a_z_up_mesh_upright_and_the_default_lays_it_down(tmp_path: Path) -> None:
    folder = tmp_path / "poles"
    folder.mkdir()
    trimesh.creation.box(extents=(0.3, 0.3, 1.5)).export(folder / "pole.stl")  # tall along z
    (folder / "pole.txt").write_text("a tall pole\n")
    ws = tmp_path / "ws"
    for name, up in (("upright", ["--up", "z"]), ("lying", [])):
        done = trainer("import", "folder", str(folder), "--name", name, *up, ws=ws)
        assert done.returncode == 0, done.stderr
        done = trainer("render", name, "--views", "4", "--size", "64", "--elevation", "0", "--workers", "1", ws=ws)
        assert done.returncode == 0 and "0 failed" in done.stdout, done.stdout + done.stderr
    shown = {name: json.loads(trainer("datasets", "show", name, "--json", ws=ws).stdout)
             for name in ("upright", "lying")}
    assert shown["upright"]["meta"]["up_axis"] == "z" and shown["lying"]["meta"]["up_axis"] == "y"
    assert shown["upright"]["meta"]["render_spec"]["up_axis"] == "z"
    upright, lying = (shown[n]["sample"][0]["views"] for n in ("upright", "lying"))
    height, width = _silhouette(upright[1])  # a side view
    assert height > 2 * width
    height, width = _silhouette(lying[1])
    assert width > 2 * height
    assert Path(upright[0]).parent != Path(lying[0]).parent  # same file, other cache entry (key)
    assert Path(upright[0]).parent.name.split("-")[0] == Path(lying[0]).parent.name.split("-")[0]  # same digest

    again = trainer("import", "folder", str(folder), "--name", "upright", "--up", "x", ws=ws)
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1
    assert "--up z" in again.stderr
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(images / "a.png")
    (images / "a.txt").write_text("a red square\n")
    wrong = trainer("import", "folder", str(images), "--name", "pics", "--up", "z", ws=ws)
    assert wrong.returncode == 2 and "--up applies to meshes" in wrong.stderr


@pytest.fixture(scope="module")
def mesh_ws(trained_toy: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = copy_workspace(trained_toy, tmp_path_factory.mktemp("mesh-search") / "ws")  # renders go into the copy
    return ws.root


def test_search_with_a_mesh_returns_captions_and_shapes(mesh_ws: Path, tmp_path: Path) -> None:
    mesh = tmp_path / "M.obj"
    box = trimesh.creation.box(extents=(1.0, 0.8, 0.6))
    box.visual.face_colors = (220, 30, 30, 255)
    box.export(mesh)
    found = trainer("search", "--mesh", str(mesh), "--target", "captions", "--k", "5", "--json", "--run", TOY_RUN,
                    ws=mesh_ws)
    assert found.returncode == 0, found.stderr
    result = json.loads(found.stdout)
    assert result["target"] == "captions" and result["query"]["mesh"] == str(mesh)
    assert len(result["hits"]) == 5 and all(h["matched_text"] in h["captions"] for h in result["hits"])
    renders = list((mesh_ws / "renders").glob("*/*/view_00.png"))
    assert len(renders) == 1  # rendered into the workspace's cache, keyed by the file's content

    shapes = trainer("search", "--mesh", str(mesh), "--target", "shapes", "--k", "3", ws=mesh_ws)
    assert shapes.returncode == 0, shapes.stderr
    assert "shapes in toy-shapes for mesh" in shapes.stdout and len(shapes.stdout.strip().splitlines()) >= 4


def test_a_garbage_mesh_is_one_line_and_exit_2(mesh_ws: Path, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.ply"
    garbage.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 99999\n\x00\x01garbage")
    done = trainer("search", "--mesh", str(garbage), "--target", "captions", "--k", "5", "--json", ws=mesh_ws)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "garbage.ply" in lines[0], done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
