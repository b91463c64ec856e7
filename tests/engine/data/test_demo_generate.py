"""generate_demo end to end on tiny sets: catalogue rows, files, splits, skipping, replacing, determinism."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from engine.catalog import Catalog, Observation
from engine.data.demo import SCENES_DATASET, SHAPES_DATASET, assign_splits, generate_demo
from engine.data.demo.shapes import FAMILY_NAMES, plan_shapes
from engine.workspace import Workspace

TINY = {"shapes": 12, "scenes": 16, "views": 2, "size": 64}


def _open(tmp_path: Path, name: str = "ws") -> tuple[Workspace, Catalog]:
    ws = Workspace.open(tmp_path / name)
    return ws, ws.catalog()


def _captions(catalog: Catalog, dataset: str) -> dict[str, list[str]]:
    ds = catalog.require_dataset(dataset)
    keys = {item.id: item.key for item in catalog.items(ds.id)}
    out: dict[str, list[str]] = defaultdict(list)
    for _, item_id, text, _ in catalog.observations(ds.id, "text"):
        out[keys[item_id]].append(text)
    return dict(out)


def _row_counts(catalog: Catalog) -> tuple[int, int]:
    with catalog.session() as s:
        return int(s.scalar(select(func.count()).select_from(Observation)) or 0), int(
            s.scalar(select(func.max(Observation.id))) or 0
        )


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# ---- splits ------------------------------------------------------------------------------------
def test_splits_are_80_10_10_by_item_spread_over_groups_and_seeded() -> None:
    families = [s.family for s in plan_shapes(600, 0)]
    splits = assign_splits(families, seed=0)
    assert Counter(splits) == {"train": 480, "val": 60, "test": 60}
    for family in FAMILY_NAMES:
        assert {sp for f, sp in zip(families, splits, strict=True) if f == family} == {"train", "val", "test"}
    assert assign_splits(families, seed=0) == splits
    assert assign_splits(families, seed=1) != splits
    for n in (3, 5, 12, 16):
        assert set(assign_splits(["a"] * n, seed=4)) == {"train", "val", "test"}


# ---- scenes (no rendering needed) --------------------------------------------------------------
def test_scenes_dataset_rows_files_and_splits(tmp_path: Path) -> None:
    ws, catalog = _open(tmp_path)
    stages: dict[str, tuple[int, int]] = {}
    summary = generate_demo(
        ws,
        catalog,
        shapes=0,
        scenes=16,
        seed=0,
        on_progress=lambda stage, done, total: stages.__setitem__(stage, (done, total)),
    )
    assert summary.shapes is None and summary.render is None and catalog.dataset(SHAPES_DATASET) is None
    assert (
        summary.scenes is not None
        and summary.scenes.status == "created"
        and summary.scenes.files_written == 16
    )
    assert stages["scenes"] == (16, 16)
    info = catalog.summary(SCENES_DATASET)
    assert (info.kind, info.source_format) == ("image-text", "demo")
    assert info.items == 16 and info.by_modality == {"image": 16, "text": 80}
    assert set(info.by_split) == {"train", "val", "test"}
    ds = catalog.require_dataset(SCENES_DATASET)
    image_dir = ws.datasets / SCENES_DATASET / "images"
    for item in catalog.items(ds.id):
        full = catalog.item(item.id)
        assert full is not None
        images = [o.path for o in full.observations if o.modality == "image"]
        captions = [o.text for o in full.observations if o.modality == "text"]
        assert len(images) == 1 and Path(images[0]).parent == image_dir
        assert Image.open(images[0]).size == (128, 128)
        assert len(set(captions)) >= 5
        assert item.category.endswith(("object", "objects"))
        assert item.meta["count"] == len(item.meta["objects"]) and "relations" in item.meta
    assert len(list(image_dir.glob("*.png"))) == 16


def test_rerun_does_nothing_and_new_parameters_replace(tmp_path: Path) -> None:
    ws, catalog = _open(tmp_path)
    generate_demo(ws, catalog, shapes=0, scenes=16, seed=0)
    image_dir = ws.datasets / SCENES_DATASET / "images"
    before_rows = _row_counts(catalog)
    before_mtimes = {p.name: p.stat().st_mtime_ns for p in image_dir.iterdir()}
    again = generate_demo(ws, catalog, shapes=0, scenes=16, seed=0)
    assert again.scenes is not None and again.scenes.status == "skipped" and again.scenes.files_written == 0
    assert _row_counts(catalog) == before_rows
    assert {p.name: p.stat().st_mtime_ns for p in image_dir.iterdir()} == before_mtimes

    grown = generate_demo(ws, catalog, shapes=0, scenes=20, seed=0)
    assert grown.scenes is not None and grown.scenes.status == "replaced"
    assert grown.scenes.files_written == 4  # the first 16 images are unchanged and not rewritten
    assert all(image_dir.joinpath(n).stat().st_mtime_ns == t for n, t in before_mtimes.items())
    assert catalog.summary(SCENES_DATASET).items == 20
    assert catalog.summary(SCENES_DATASET).meta["demo"]["count"] == 20

    captions_seed0 = _captions(catalog, SCENES_DATASET)
    reseeded = generate_demo(ws, catalog, shapes=0, scenes=20, seed=1)
    assert reseeded.scenes is not None and reseeded.scenes.status == "replaced"
    info = catalog.summary(SCENES_DATASET)
    assert info.items == 20 and info.by_modality == {"image": 20, "text": 100}  # old rows gone
    assert _captions(catalog, SCENES_DATASET) != captions_seed0
    assert len(list(image_dir.glob("*.png"))) == 20


def test_scenes_are_deterministic_across_workspaces(tmp_path: Path) -> None:
    runs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        ws, catalog = _open(tmp_path, name)
        generate_demo(ws, catalog, shapes=0, scenes=16, seed=seed)
        runs[name] = (
            _files(ws.datasets / SCENES_DATASET / "images"),
            _captions(catalog, SCENES_DATASET),
            {i.key: i.split for i in catalog.items(catalog.require_dataset(SCENES_DATASET).id)},
        )
        catalog.close()
    assert runs["a"] == runs["b"]
    assert runs["a"][0] != runs["c"][0] and runs["a"][1] != runs["c"][1]


def test_incomplete_dataset_is_finished(tmp_path: Path) -> None:
    ws, catalog = _open(tmp_path)
    generate_demo(ws, catalog, shapes=0, scenes=16, seed=0)
    victim = ws.datasets / SCENES_DATASET / "images" / "scene-00003.png"
    victim.unlink()
    again = generate_demo(ws, catalog, shapes=0, scenes=16, seed=0)
    assert again.scenes is not None and again.scenes.status == "resumed" and again.scenes.files_written == 1
    assert victim.is_file() and catalog.summary(SCENES_DATASET).observations == 96


# ---- shapes (rendered) -------------------------------------------------------------------------
def test_shapes_render_skip_replace_and_determinism(tmp_path: Path) -> None:
    pytest.importorskip("engine.data.rendering", reason="render_dataset is not available yet")
    ws, catalog = _open(tmp_path, "a")
    stages: dict[str, tuple[int, int]] = {}
    summary = generate_demo(
        ws,
        catalog,
        **TINY,
        seed=0,
        on_progress=lambda stage, done, total: stages.__setitem__(stage, (done, total)),
    )
    assert summary.shapes is not None and summary.shapes.status == "created" and summary.render is not None
    assert not summary.render.failed
    assert stages["shapes"] == (12, 12) and stages["scenes"] == (16, 16) and "render" in stages
    info = catalog.summary(SHAPES_DATASET)
    assert (info.kind, info.source_format) == ("shape-text", "demo")
    assert info.items == 12 and info.by_modality == {"text": 72, "view": 24}
    assert set(info.by_split) == {"train", "val", "test"} and info.categories == 11
    ds = catalog.require_dataset(SHAPES_DATASET)
    mesh_dir = ws.datasets / SHAPES_DATASET / "meshes"
    for item in catalog.items(ds.id):
        assert Path(item.asset_path) == mesh_dir / f"{item.key}.glb" and Path(item.asset_path).is_file()
        assert item.category == item.meta["family"]
        assert {"family", "colour", "colours", "size", "proportions", "parts"} <= set(item.meta)
    views = catalog.observations(ds.id, "view")
    assert len(views) == 24 and all(Image.open(p).size == (64, 64) for _, _, p, _ in views)
    assert all(len(set(c)) >= 5 for c in _captions(catalog, SHAPES_DATASET).values())

    rows = _row_counts(catalog)
    again = generate_demo(ws, catalog, **TINY, seed=0)
    assert again.shapes is not None and again.shapes.status == "skipped" and again.render is None
    assert again.scenes is not None and again.scenes.status == "skipped"
    assert _row_counts(catalog) == rows

    mtimes = {p.name: p.stat().st_mtime_ns for p in mesh_dir.iterdir()}
    more_views = generate_demo(ws, catalog, **{**TINY, "views": 3}, seed=0)
    assert more_views.shapes is not None and more_views.shapes.status == "replaced"
    assert more_views.shapes.files_written == 0  # same meshes: not rewritten
    assert {p.name: p.stat().st_mtime_ns for p in mesh_dir.iterdir()} == mtimes
    assert catalog.summary(SHAPES_DATASET).by_modality == {"text": 72, "view": 36}
    assert more_views.scenes is not None and more_views.scenes.status == "skipped"

    ws_b, catalog_b = _open(tmp_path, "b")
    generate_demo(ws_b, catalog_b, **{**TINY, "scenes": 0}, seed=0)
    assert _files(mesh_dir) == _files(ws_b.datasets / SHAPES_DATASET / "meshes")
    assert _captions(catalog, SHAPES_DATASET) == _captions(catalog_b, SHAPES_DATASET)
    ws_c, catalog_c = _open(tmp_path, "c")
    generate_demo(ws_c, catalog_c, **{**TINY, "scenes": 0}, seed=1)
    assert _files(mesh_dir) != _files(ws_c.datasets / SHAPES_DATASET / "meshes")
    assert _captions(catalog, SHAPES_DATASET) != _captions(catalog_c, SHAPES_DATASET)
