"""The on-disk render cache: keys, layout, atomic entries, no second render."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from engine.render import MeshError, RenderCache, ViewSpec

SPEC = ViewSpec(views=3, size=48)


def _mesh(path: Path, colour: tuple[int, int, int] = (200, 30, 30)) -> Path:
    mesh = trimesh.creation.icosphere(subdivisions=1)
    mesh.visual.face_colors = (*colour, 255)
    mesh.export(path)
    return path


def test_views_for_renders_once_into_the_keyed_layout(tmp_path: Path) -> None:
    mesh = _mesh(tmp_path / "ball.ply")
    cache = RenderCache(tmp_path / "cache")
    assert cache.lookup(mesh, SPEC) is None

    views = cache.views_for(mesh, SPEC)
    sha = hashlib.sha256(mesh.read_bytes()).hexdigest()
    entry = tmp_path / "cache" / sha[:2] / f"{sha}-{SPEC.key()}"
    assert views == [entry / f"view_{i:02d}.png" for i in range(3)]
    for view in views:
        image = np.asarray(Image.open(view))
        assert image.shape == (48, 48, 3) and image.std() > 10
    assert cache.lookup(mesh, SPEC) == views
    assert not [p for p in entry.parent.iterdir() if p.name.startswith(".tmp-")]

    # a second request (even from a new cache object) renders nothing: the files are not touched
    mtimes = [v.stat().st_mtime_ns for v in views]
    assert RenderCache(tmp_path / "cache").views_for(mesh, SPEC) == views
    assert [v.stat().st_mtime_ns for v in views] == mtimes


def test_key_follows_content_and_spec_not_file_name(tmp_path: Path) -> None:
    cache = RenderCache(tmp_path / "cache")
    a = _mesh(tmp_path / "a.ply")
    b = tmp_path / "b.ply"
    b.write_bytes(a.read_bytes())
    views = cache.views_for(a, SPEC)
    assert cache.lookup(b, SPEC) == views  # same bytes, same entry
    assert cache.lookup(a, ViewSpec(views=3, size=64)) is None  # another spec, another entry
    _mesh(a, colour=(20, 20, 200))  # new content, new entry
    assert cache.lookup(a, SPEC) is None


def test_an_incomplete_entry_or_leftover_temp_dir_is_not_a_hit(tmp_path: Path) -> None:
    mesh = _mesh(tmp_path / "ball.ply")
    cache = RenderCache(tmp_path / "cache")
    digest = cache.digest(mesh)
    # what a writer killed mid-way leaves behind: a temporary sibling directory with some views
    entry = cache.entry_dir(digest, SPEC)
    leftover = entry.parent / f".tmp-{entry.name}-crashed"
    leftover.mkdir(parents=True)
    Image.new("RGB", (48, 48)).save(leftover / "view_00.png")
    assert cache.lookup(mesh, SPEC) is None
    # an entry directory missing a view (deleted by hand) is not served either
    views = cache.views_for(mesh, SPEC)
    views[-1].unlink()
    assert cache.lookup(mesh, SPEC) is None
    # old temp dirs are purged, entries are not
    os.utime(leftover, (0, 0))
    assert cache.purge_temp(older_than_s=60) == 1
    assert not leftover.exists() and entry.exists()


def test_store_is_atomic_and_first_writer_wins(tmp_path: Path) -> None:
    cache = RenderCache(tmp_path / "cache")
    digest = "ab" + "0" * 62
    first = [np.full((48, 48, 3), 10, np.uint8)] * 3
    second = [np.full((48, 48, 3), 200, np.uint8)] * 3
    paths = cache.store(digest, SPEC, first)
    assert cache.store(digest, SPEC, second) == paths  # a racing writer finds the entry complete
    assert np.asarray(Image.open(paths[0]))[0, 0, 0] == 10
    assert not [p for p in paths[0].parent.parent.iterdir() if p.name.startswith(".tmp-")]
    with pytest.raises(ValueError):
        cache.store("cd" + "0" * 62, SPEC, first[:2])
    assert not (tmp_path / "cache" / "cd").exists() or not any((tmp_path / "cache" / "cd").iterdir())


def test_broken_mesh_raises_and_leaves_no_entry(tmp_path: Path) -> None:
    broken = tmp_path / "broken.off"
    broken.write_text("OFF\n3 1 0\n0 0 0\n")
    cache = RenderCache(tmp_path / "cache")
    with pytest.raises(MeshError) as info:
        cache.views_for(broken, SPEC)
    assert str(broken) in str(info.value)
    assert cache.lookup(broken, SPEC) is None
    with pytest.raises(MeshError, match="file not found"):
        cache.views_for(tmp_path / "missing.ply", SPEC)
