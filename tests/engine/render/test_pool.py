"""render_many: a real process pool; broken and crashing meshes fail alone; the cache answers repeats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

import engine.render.pool as pool_module
from engine.render import RenderOutcome, ViewSpec, render_many

SPEC = ViewSpec(views=2, size=48)


def _good(path: Path, colour: tuple[int, int, int]) -> Path:
    mesh = trimesh.creation.box(extents=(1.0, 0.7, 0.4))
    mesh.visual.face_colors = (*colour, 255)
    mesh.export(path)
    return path


def test_broken_and_crashing_meshes_fail_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    meshes = tmp_path / "meshes"
    meshes.mkdir()
    good = [_good(meshes / f"good_{i}.ply", (40 * i, 200, 30)) for i in range(5)]
    empty = meshes / "empty.obj"
    empty.write_bytes(b"")
    garbage = meshes / "garbage.stl"
    garbage.write_bytes(b"solid nonsense\n  facet normal oops\nendsolid\n" * 3)
    crash = _good(meshes / "crash.ply", (0, 0, 255))
    # the worker that gets this file dies of SIGSEGV, as a crashing native loader would
    monkeypatch.setenv(pool_module.CRASH_ON_NAME_ENV, crash.name)
    paths = [good[0], empty, good[1], crash, good[2], garbage, good[3], good[4], good[0]]
    progress: list[tuple[int, int]] = []

    outcomes = render_many(
        paths, SPEC, tmp_path / "cache", workers=2, on_progress=lambda d, t: progress.append((d, t))
    )

    assert [o.mesh_path for o in outcomes] == paths  # input order
    by_name = {o.mesh_path.name: o for o in outcomes}
    for name in ("empty.obj", "garbage.stl", "crash.ply"):
        outcome = by_name[name]
        assert outcome.error is not None and not outcome.views and not outcome.ok
        assert str(meshes / name) in outcome.error
    assert "empty" in by_name["empty.obj"].error
    assert "crashed" in by_name["crash.ply"].error and "SIGSEGV" in by_name["crash.ply"].error
    good_outcomes = [o for o in outcomes if o.mesh_path.name.startswith("good")]
    assert len(good_outcomes) == 6
    for outcome in good_outcomes:
        assert outcome.ok and not outcome.cached and len(outcome.views) == SPEC.views
        assert np.asarray(Image.open(outcome.views[0])).std() > 10
    assert outcomes[0].views == outcomes[-1].views  # the same file twice: one render
    assert progress[-1] == (len(paths), len(paths))
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)

    # Second call: everything good is cached and answered without starting a single worker.
    mtimes = {v: v.stat().st_mtime_ns for o in good_outcomes for v in o.views}
    monkeypatch.setattr(pool_module, "_Pool", None)  # starting a pool now would raise TypeError
    again = render_many(good, SPEC, tmp_path / "cache", workers=2)
    assert all(isinstance(o, RenderOutcome) and o.ok and o.cached for o in again)
    assert {v: v.stat().st_mtime_ns for o in again for v in o.views}.items() <= mtimes.items()


def test_missing_files_and_empty_input_need_no_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pool_module, "_Pool", None)
    assert render_many([], SPEC, tmp_path / "cache") == []
    missing = tmp_path / "missing.glb"
    (outcome,) = render_many([missing], SPEC, tmp_path / "cache")
    assert outcome.error is not None and "file not found" in outcome.error and str(missing) in outcome.error


def test_workers_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        render_many([tmp_path / "a.ply"], SPEC, tmp_path / "cache", workers=0)
