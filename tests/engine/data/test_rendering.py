"""render_dataset: a shape-text dataset's meshes become view observations through the render cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from engine.catalog import ItemRecord
from engine.data.rendering import RenderSummary, render_dataset
from engine.errors import CrossfoldError
from engine.render import ViewSpec
from engine.workspace import Workspace

SPEC = ViewSpec(views=2, size=48)


def _mesh(path: Path, colour: tuple[int, int, int]) -> str:
    mesh = trimesh.creation.cone(radius=0.5, height=1.0, sections=16)
    mesh.visual.face_colors = (*colour, 255)
    trimesh.Scene(mesh).export(path)
    return str(path)


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace.open(tmp_path / "ws")


def test_render_dataset_adds_views_and_reports_broken_items(workspace: Workspace, tmp_path: Path) -> None:
    meshes = tmp_path / "meshes"
    meshes.mkdir()
    broken = meshes / "broken.glb"
    broken.write_bytes(b"not a glb")
    prerendered = tmp_path / "pre_view.png"
    Image.new("RGB", (32, 32), (1, 2, 3)).save(prerendered)
    catalog = workspace.catalog()
    ds = catalog.create_dataset("shapes", "shape-text", "test", root=str(meshes))
    catalog.add_records(
        ds.id,
        [
            ItemRecord(
                key="red", asset_path=_mesh(meshes / "red.glb", (220, 20, 20)), captions=["a red cone"]
            ),
            ItemRecord(
                key="blue", asset_path=_mesh(meshes / "blue.glb", (20, 20, 220)), captions=["a blue cone"]
            ),
            ItemRecord(key="bad", asset_path=str(broken), captions=["a broken cone"]),
            ItemRecord(key="pre", captions=["imported views"], views=[str(prerendered)]),
        ],
    )
    progress: list[tuple[int, int]] = []

    summary = render_dataset(
        catalog, workspace, "shapes", spec=SPEC, workers=2, on_progress=lambda d, t: progress.append((d, t))
    )

    assert isinstance(summary, RenderSummary)
    assert (summary.rendered, summary.cached, summary.skipped) == (2, 0, 1)
    assert len(summary.failed) == 1 and not summary.ok
    key, reason = summary.failed[0]
    assert key == "bad" and str(broken) in reason
    assert progress[-1] == (3, 3)

    views = catalog.observations(ds.id, "view")
    by_item: dict[int, list[tuple[int | None, str]]] = {}
    for _obs_id, item_id, path, view_index in views:
        by_item.setdefault(item_id, []).append((view_index, path))
    items = {item.key: item for item in catalog.items(ds.id)}
    for key in ("red", "blue"):
        paths = by_item[items[key].id]
        assert [i for i, _ in paths] == list(range(SPEC.views))
        for _, path in paths:
            assert Path(path).is_relative_to(workspace.renders) and Path(path).is_file()
    red = np.asarray(Image.open(by_item[items["red"].id][0][1])).reshape(-1, 3).astype(int)
    assert ((red[:, 0] > 120) & (red[:, 0] > red[:, 2] + 60)).sum() > 50
    assert items["bad"].id not in by_item
    assert by_item[items["pre"].id] == [(0, str(prerendered))]  # imported views are left alone
    meta = catalog.summary("shapes").meta
    assert meta["render_spec"]["key"] == SPEC.key()
    assert ViewSpec.from_dict(meta["render_spec"]) == SPEC

    # Again: served from the cache, the observations are replaced, not duplicated.
    again = render_dataset(catalog, workspace, "shapes", spec=SPEC, workers=2)
    assert (again.rendered, again.cached, len(again.failed)) == (0, 2, 1)
    assert len(catalog.observations(ds.id, "view")) == len(views)
    catalog.close()


def test_image_datasets_are_refused(workspace: Workspace) -> None:
    catalog = workspace.catalog()
    catalog.create_dataset("pictures", "image-text", "test")
    with pytest.raises(CrossfoldError, match="shape-text"):
        render_dataset(catalog, workspace, "pictures", spec=SPEC)
    catalog.close()


def test_views_at_size_renders_once_per_size_and_leaves_the_catalogue(workspace: Workspace, tmp_path: Path) -> None:
    from engine.data.rendering import views_at_size

    meshes = tmp_path / "meshes"
    meshes.mkdir()
    catalog = workspace.catalog()
    ds = catalog.create_dataset("shapes", "shape-text", "test", root=str(meshes))
    catalog.add_records(ds.id, [ItemRecord(key="red", asset_path=_mesh(meshes / "red.glb", (220, 20, 20)),
                                           captions=["a red cone"])])
    render_dataset(catalog, workspace, "shapes", spec=ViewSpec(views=2, size=32), workers=1)
    recorded = catalog.observations(ds.id, "view")
    assert views_at_size(catalog, workspace, "shapes", 32) == {}  # already at that size
    progress: list[tuple[int, int]] = []
    mapping = views_at_size(catalog, workspace, "shapes", 48, workers=1,
                            on_progress=lambda d, t: progress.append((d, t)))
    assert sorted(mapping) == sorted(p for _, _, p, _ in recorded)
    assert all(Image.open(p).size == (48, 48) for p in mapping.values())
    assert progress[-1] == (1, 1)
    assert catalog.observations(ds.id, "view") == recorded  # other runs' indexes still label these observations
    assert views_at_size(catalog, workspace, "shapes", 48, workers=1) == mapping  # from the render cache
