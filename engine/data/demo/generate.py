"""Generate the demo datasets into a workspace: ``shapes-demo`` and ``scenes-demo``.

``shapes-demo`` (kind ``shape-text``, source format ``demo``): procedural meshes
(``workspace.datasets / "shapes-demo" / "meshes" / <key>.glb``), rendered by
:func:`engine.data.rendering.render_dataset` into ``views`` views of ``size`` px, six captions each.
``scenes-demo`` (kind ``image-text``): 128 px PNG scenes (``.../scenes-demo/images/<key>.png``), five
captions each. Everything is deterministic from ``seed``: the same seed gives byte-identical files
and identical captions and splits.

Re-running does nothing that is already done: a dataset whose stored parameters (``meta["demo"]``)
match and that is complete (every item, caption, view or image present, files on disk) is skipped.
One with other parameters is deleted and generated again; files whose content would not change are
not rewritten, and views come from the render cache. An incomplete one (an interrupted run) is
finished. A count of 0 leaves that dataset alone.

Rendering runs in worker processes started with multiprocessing's ``spawn``: a script that calls
:func:`generate_demo` with shapes must do so under ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.atomic import write_atomic
from engine.catalog import Catalog, ItemRecord
from engine.data.demo.scenes import (
    CAPTIONS_PER_SCENE,
    SCENE_SIZE,
    SHAPE_NAMES,
    plan_scenes,
    scene_captions,
    scene_png,
)
from engine.data.demo.shapes import CAPTIONS_PER_SHAPE, FAMILY_NAMES, mesh_glb, plan_shapes, shape_captions
from engine.data.splits import TRAIN_FRACTION, VAL_FRACTION
from engine.errors import CrossfoldError
from engine.workspace import Workspace

if TYPE_CHECKING:
    from engine.data.rendering import RenderSummary
    from engine.render import ViewSpec

SHAPES_DATASET = "shapes-demo"
SCENES_DATASET = "scenes-demo"
SOURCE_FORMAT = "demo"
# Bump when the generators' output changes for the same parameters, so that existing demo datasets
# are regenerated instead of skipped.
GENERATOR_VERSION = 1
_SPLIT_STREAM = 31

ProgressFn = Callable[[str, int, int], None]


class DemoError(CrossfoldError):
    pass


@dataclass(frozen=True)
class DemoPart:
    """What happened to one demo dataset.

    ``status``: ``created``, ``replaced`` (other parameters before), ``resumed`` (was incomplete) or
    ``skipped`` (already complete). ``files_written`` counts meshes or images written; files already
    on disk with the same bytes are left alone. ``seconds`` is the generation time without rendering.
    """

    name: str
    status: str
    items: int
    captions: int
    files_written: int
    seconds: float


@dataclass(frozen=True)
class DemoSummary:
    shapes: DemoPart | None  # None when shapes=0
    scenes: DemoPart | None  # None when scenes=0
    render: RenderSummary | None  # None when nothing was rendered
    render_seconds: float
    seconds: float


# ---- splits ------------------------------------------------------------------------------------
def assign_splits(groups: Sequence[str], seed: int, stream: int = 0) -> list[str]:
    """``train``/``val``/``test`` per item (80/10/10), spread evenly over ``groups`` (e.g. families).

    Items are ordered by group, randomly within a group, and dealt train x8, val, test in turn from a
    random offset, so every group of ten or more items reaches every split. With three or more items
    all three splits are present.
    """
    n = len(groups)
    rng = np.random.default_rng([seed, _SPLIT_STREAM, stream])
    noise = rng.random(n)
    order = sorted(range(n), key=lambda i: (groups[i], noise[i]))
    n_train, n_val = round(10 * TRAIN_FRACTION), round(10 * VAL_FRACTION)
    pattern = ["train"] * n_train + ["val"] * n_val + ["test"] * (10 - n_train - n_val)
    offset = int(rng.integers(len(pattern)))
    splits = [""] * n
    for position, i in enumerate(order):
        splits[i] = pattern[(position + offset) % len(pattern)]
    if n >= 3:
        for missing in ("val", "test"):
            if missing not in splits:
                trains = [i for i in order if splits[i] == "train"]
                splits[trains[-1]] = missing
    return splits


# ---- bookkeeping -------------------------------------------------------------------------------
def _write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` unless the file already holds exactly it; True when written."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    write_atomic(path, data)
    return True


def _remove_stale(folder: Path, suffix: str, keep: set[str]) -> None:
    for path in folder.glob(f"*{suffix}"):
        if path.name not in keep:
            path.unlink()


def _prepare(catalog: Catalog, name: str, params: dict[str, Any], expected: dict[str, int]) -> str:
    """``skipped``, ``resumed``, ``replaced`` or ``created`` (deleting a dataset with other parameters)."""
    ds = catalog.dataset(name)
    if ds is None:
        return "created"
    meta = dict(ds.meta or {})
    if meta.get("demo") != params:
        catalog.delete_dataset(name)
        return "replaced"
    if meta.get("complete") and _is_complete(catalog, name, expected):
        return "skipped"
    return "resumed"


def _is_complete(catalog: Catalog, name: str, expected: dict[str, int]) -> bool:
    summary = catalog.summary(name)
    if summary.items != expected["items"]:
        return False
    if any(summary.by_modality.get(m, 0) != n for m, n in expected.items() if m != "items"):
        return False
    ds = catalog.require_dataset(name)
    for modality in ("view", "image"):
        if expected.get(modality) and not all(
            Path(p).is_file() for _, _, p, _ in catalog.observations(ds.id, modality)
        ):
            return False
    return all(not item.asset_path or Path(item.asset_path).is_file() for item in catalog.items(ds.id))


def _progress(on_progress: ProgressFn | None, stage: str) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        if on_progress is not None:
            on_progress(stage, done, total)

    return report


def _progress_step(total: int) -> int:
    return max(1, total // 100)


# ---- shapes ------------------------------------------------------------------------------------
def _view_spec(views: int, size: int) -> ViewSpec:
    from engine.render import ViewSpec  # (imported here: scenes alone never touch the GL setup)

    return ViewSpec(views=views, size=size)


def _generate_shapes(
    workspace: Workspace,
    catalog: Catalog,
    count: int,
    views: int,
    size: int,
    seed: int,
    workers: int | None,
    on_progress: ProgressFn | None,
) -> tuple[DemoPart, RenderSummary | None, float]:
    start = time.perf_counter()
    spec = _view_spec(views, size)
    params = {
        "count": count,
        "views": views,
        "size": size,
        "seed": seed,
        "version": GENERATOR_VERSION,
        "view_spec": spec.key(),
    }
    expected = {"items": count, "text": count * CAPTIONS_PER_SHAPE, "view": count * views}
    status = _prepare(catalog, SHAPES_DATASET, params, expected)
    if status == "skipped":
        return DemoPart(SHAPES_DATASET, status, count, count * CAPTIONS_PER_SHAPE, 0, 0.0), None, 0.0

    root = workspace.datasets / SHAPES_DATASET
    mesh_dir = root / "meshes"
    mesh_dir.mkdir(parents=True, exist_ok=True)
    specs = plan_shapes(count, seed)
    splits = assign_splits([s.family for s in specs], seed, stream=1)
    report = _progress(on_progress, "shapes")
    step = _progress_step(count)
    records: list[ItemRecord] = []
    written = 0
    for i, (s, split) in enumerate(zip(specs, splits, strict=True)):
        data, parts = mesh_glb(s, seed)
        s.parts = parts
        path = mesh_dir / f"{s.key}.glb"
        written += _write_if_changed(path, data)
        records.append(
            ItemRecord(
                key=s.key,
                split=split,
                category=s.family,
                asset_path=str(path),
                meta=s.meta(),
                captions=shape_captions(s, seed),
            )
        )
        if (i + 1) % step == 0 or i + 1 == count:
            report(i + 1, count)
    _remove_stale(mesh_dir, ".glb", {f"{s.key}.glb" for s in specs})
    ds = catalog.create_dataset(
        SHAPES_DATASET,
        "shape-text",
        SOURCE_FORMAT,
        root=str(root),
        meta={
            "demo": params,
            "complete": False,
            "families": list(FAMILY_NAMES),
            "captions_per_item": CAPTIONS_PER_SHAPE,
        },
    )
    catalog.add_records(ds.id, records)
    seconds = time.perf_counter() - start

    from engine.data.rendering import render_dataset

    render_start = time.perf_counter()
    rendered = render_dataset(
        catalog,
        workspace,
        SHAPES_DATASET,
        spec=spec,
        workers=workers,
        on_progress=_progress(on_progress, "render"),
    )
    render_seconds = time.perf_counter() - render_start
    if rendered.failed:
        key, reason = rendered.failed[0]
        raise DemoError(
            f"{len(rendered.failed)} of {count} demo shapes failed to render (first: {key}: {reason}); "
            "run the demo generation again to retry them"
        )
    catalog.update_dataset_meta(ds.id, complete=True)
    part = DemoPart(SHAPES_DATASET, status, count, count * CAPTIONS_PER_SHAPE, written, seconds)
    return part, rendered, render_seconds


# ---- scenes ------------------------------------------------------------------------------------
def _generate_scenes(
    workspace: Workspace, catalog: Catalog, count: int, seed: int, on_progress: ProgressFn | None
) -> DemoPart:
    start = time.perf_counter()
    params = {"count": count, "size": SCENE_SIZE, "seed": seed, "version": GENERATOR_VERSION}
    expected = {"items": count, "text": count * CAPTIONS_PER_SCENE, "image": count}
    status = _prepare(catalog, SCENES_DATASET, params, expected)
    if status == "skipped":
        return DemoPart(SCENES_DATASET, status, count, count * CAPTIONS_PER_SCENE, 0, 0.0)

    root = workspace.datasets / SCENES_DATASET
    image_dir = root / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    specs = plan_scenes(count, seed)
    splits = assign_splits([s.category for s in specs], seed, stream=2)
    report = _progress(on_progress, "scenes")
    step = _progress_step(count)
    records: list[ItemRecord] = []
    written = 0
    for i, (s, split) in enumerate(zip(specs, splits, strict=True)):
        path = image_dir / f"{s.key}.png"
        written += _write_if_changed(path, scene_png(s))
        records.append(
            ItemRecord(
                key=s.key,
                split=split,
                category=s.category,
                meta=s.meta(),
                captions=scene_captions(s, seed),
                images=[str(path)],
            )
        )
        if (i + 1) % step == 0 or i + 1 == count:
            report(i + 1, count)
    _remove_stale(image_dir, ".png", {f"{s.key}.png" for s in specs})
    ds = catalog.create_dataset(
        SCENES_DATASET,
        "image-text",
        SOURCE_FORMAT,
        root=str(root),
        meta={
            "demo": params,
            "complete": False,
            "shapes": list(SHAPE_NAMES),
            "captions_per_item": CAPTIONS_PER_SCENE,
        },
    )
    catalog.add_records(ds.id, records)
    catalog.update_dataset_meta(ds.id, complete=True)
    return DemoPart(
        SCENES_DATASET, status, count, count * CAPTIONS_PER_SCENE, written, time.perf_counter() - start
    )


# ---- entry point -------------------------------------------------------------------------------
def generate_demo(
    workspace: Workspace,
    catalog: Catalog | None = None,
    *,
    shapes: int = 600,
    scenes: int = 1000,
    views: int = 8,
    size: int = 128,
    seed: int = 0,
    workers: int | None = None,
    on_progress: ProgressFn | None = None,
) -> DemoSummary:
    """Generate (or bring up to date) ``shapes-demo`` and ``scenes-demo`` in ``workspace``.

    ``views`` and ``size`` are the rendered views of each shape (scene images are always 128 px);
    ``workers`` is passed to the renderer. ``on_progress(stage, done, total)`` is called with the
    stages ``shapes`` (meshes and captions), ``render`` and ``scenes``.
    """
    for label, value in (("shapes", shapes), ("scenes", scenes)):
        if value < 0:
            raise ValueError(f"{label} must be 0 or more, not {value}")
    if views < 1:
        raise ValueError(f"views must be at least 1, not {views}")
    start = time.perf_counter()
    own = catalog is None
    cat = workspace.catalog() if catalog is None else catalog
    try:
        shape_part = rendered = None
        render_seconds = 0.0
        if shapes:
            shape_part, rendered, render_seconds = _generate_shapes(
                workspace, cat, shapes, views, size, seed, workers, on_progress
            )
        scene_part = _generate_scenes(workspace, cat, scenes, seed, on_progress) if scenes else None
    finally:
        if own:
            cat.close()
    return DemoSummary(shape_part, scene_part, rendered, render_seconds, time.perf_counter() - start)
