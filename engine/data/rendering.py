"""Render the meshes of a ``shape-text`` dataset into the workspace's render cache and record the
views as ``view`` observations of their items."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from engine.catalog import Catalog, Dataset
from engine.catalog.browse import dataset_roots
from engine.disk import NO_SPACE, DiskFull, ReadOnlyWorkspace, fault_error, fault_of
from engine.errors import CrossfoldError
from engine.mesh_files import DEFAULT_UP_AXIS
from engine.render import ViewSpec, is_mesh_file, render_many
from engine.workspace import Workspace

#: what a render stopped by a full disk keeps
RENDER_KEPT = "the views rendered so far (in the render cache, the next render starts from them)"


def dataset_up_axis(dataset: Dataset) -> str:
    """The up axis the dataset's meshes were imported with (``--up``; ``y`` when none was given)."""
    return str((dataset.meta or {}).get("up_axis") or DEFAULT_UP_AXIS)


def dataset_view_spec(dataset: Dataset) -> ViewSpec:
    """The spec the dataset's meshes were rendered with (its ``render_spec``), or the default spec
    with the dataset's up axis when it has not been rendered yet."""
    stored = (dataset.meta or {}).get("render_spec")
    if stored:
        return ViewSpec.from_dict(stored)
    return ViewSpec(up_axis=dataset_up_axis(dataset))


@dataclass
class RenderSummary:
    """What :func:`render_dataset` did: items rendered now, served from the cache, failed (key, reason),
    and skipped because they have no mesh (views imported with the dataset)."""

    rendered: int = 0
    cached: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed


def render_dataset(
    catalog: Catalog,
    workspace: Workspace,
    dataset_name: str,
    spec: ViewSpec | None = None,
    workers: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> RenderSummary:
    """Render every item whose ``asset_path`` is a mesh file and set its ``view`` observations.

    Views go to the cache at ``workspace.renders`` (a second run renders nothing). Items without a
    mesh keep the views they have. An item whose mesh cannot be rendered is reported in
    ``failed`` and keeps its previous views; the others are rendered regardless. The spec, with the
    dataset's up axis (its ``up_axis`` meta, set at import) in place of ``spec.up_axis``, is stored in
    the dataset's meta as ``render_spec``. ``on_progress(done, total)`` counts mesh items.
    """
    dataset = catalog.require_dataset(dataset_name)
    spec = replace(spec or ViewSpec(), up_axis=dataset_up_axis(dataset))
    if dataset.kind != "shape-text":
        raise CrossfoldError(
            f"dataset {dataset_name!r} is {dataset.kind}: only shape-text datasets have meshes to render"
        )
    root = Path(dataset.root) if dataset.root else None
    keys: list[tuple[int, str]] = []
    meshes: list[Path] = []
    summary = RenderSummary()
    for item in catalog.items(dataset.id):
        if not item.asset_path or not is_mesh_file(item.asset_path):
            summary.skipped += 1
            continue
        path = Path(item.asset_path)
        if not path.is_absolute() and root is not None:
            path = root / path
        keys.append((item.id, item.key))
        meshes.append(path)

    try:
        outcomes = render_many(meshes, spec, workspace.renders, workers=workers, on_progress=on_progress,
                               roots=dataset_roots(dataset.root, dataset.meta))
    except (DiskFull, ReadOnlyWorkspace) as exc:
        raise fault_error(fault_of(exc, workspace.renders) or NO_SPACE, workspace.root, RENDER_KEPT) from None
    views: dict[int, list[str]] = {}
    for (item_id, key), outcome in zip(keys, outcomes, strict=True):
        if outcome.error is not None:
            summary.failed.append((key, outcome.error))
            continue
        views[item_id] = [str(p) for p in outcome.views]
        if outcome.cached:
            summary.cached += 1
        else:
            summary.rendered += 1
    if views:
        catalog.replace_views(views)
    catalog.update_dataset_meta(dataset.id, render_spec=spec.as_dict())
    return summary


def views_at_size(
    catalog: Catalog,
    workspace: Workspace,
    dataset_name: str,
    size: int,
    workers: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, str]:
    """``{recorded view path: the same view rendered at size px}`` for a mesh dataset rendered smaller than ``size``.

    A model whose input is larger than the dataset's renders (a 224 px ViT-B-32 on views rendered at 128 px) sees
    its shapes rendered at its own size: the missing renders are made now (the render cache keys renders by their
    spec, size included, so each size is rendered once), ``on_progress(done, total)`` counting meshes. The
    catalogue keeps its views (other runs' indexes label them by observation id); callers read the mapped files
    in their place. Empty when the dataset is not rendered from meshes, or already at ``size`` or above. An item
    whose mesh fails to render at the new size keeps its recorded views.
    """
    dataset = catalog.require_dataset(dataset_name)
    recorded = (dataset.meta or {}).get("render_spec")
    if dataset.kind != "shape-text" or not recorded:
        return {}
    spec = ViewSpec.from_dict(recorded)
    if spec.size >= size:
        return {}
    target = ViewSpec.from_dict({**spec.as_dict(), "size": int(size)})
    root = Path(dataset.root) if dataset.root else None
    items: list[tuple[int, Path]] = []
    for item in catalog.items(dataset.id):
        if item.asset_path and is_mesh_file(item.asset_path):
            path = Path(item.asset_path)
            items.append((item.id, root / path if not path.is_absolute() and root is not None else path))
    if not items:
        return {}
    views: dict[int, list[str]] = {}
    for _, item_id, path, _ in catalog.observations(dataset.id, "view"):
        views.setdefault(item_id, []).append(path)
    outcomes = render_many([p for _, p in items], target, workspace.renders, workers=workers, on_progress=on_progress,
                           roots=dataset_roots(dataset.root, dataset.meta))
    mapping: dict[str, str] = {}
    for (item_id, _), outcome in zip(items, outcomes, strict=True):
        old = views.get(item_id, [])
        if outcome.error is None and len(outcome.views) == len(old):
            mapping.update({a: str(b) for a, b in zip(old, outcome.views, strict=True)})
    return mapping
