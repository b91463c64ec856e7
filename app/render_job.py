"""Rendering a mesh dataset's views from the app: ``trainer render DATASET --views V --size S --events -``.

What the Import dialog's "Render after the import" and the Datasets page's "Render…" run (as an
:class:`~app.engine_job.EngineJob`), which datasets need it, and what the page says when it ends. Qt-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.catalog import DatasetSummary
from engine.mesh_files import DEFAULT_VIEW_SIZE, DEFAULT_VIEWS

__all__ = ["SHAPES", "RenderRequest", "needs_render", "render_line", "unrendered_items"]

SHAPES = "shape-text"  # the kind of dataset whose items are meshes


@dataclass(frozen=True)
class RenderRequest:
    """Render ``dataset``'s meshes: ``views`` views of ``size`` px each (the render cache keeps what was done)."""

    dataset: str
    views: int = DEFAULT_VIEWS
    size: int = DEFAULT_VIEW_SIZE

    def args(self) -> list[str]:
        """The ``trainer`` arguments (without ``--workspace``, which the job adds)."""
        return ["render", self.dataset, "--views", str(self.views), "--size", str(self.size), "--events", "-"]


def _rendered_views(summary: DatasetSummary) -> int:
    spec = (summary.meta or {}).get("render_spec")
    views = spec.get("views") if isinstance(spec, dict) else None
    return views if isinstance(views, int) and views > 0 else 1


def unrendered_items(summary: DatasetSummary | None) -> int:
    """About how many of a shape dataset's items have no views yet (0 for image datasets): the items, less the
    views recorded divided by the views per rendered item."""
    if summary is None or summary.kind != SHAPES or not summary.items:
        return 0
    views = summary.by_modality.get("view", 0)
    return max(0, summary.items - views // _rendered_views(summary))


def needs_render(summary: DatasetSummary | None) -> bool:
    """A shape dataset with items whose meshes have no views yet."""
    return unrendered_items(summary) > 0


def render_line(request: RenderRequest, report: Mapping[str, Any] | None) -> str:
    """What a finished render did, in one line: ``Rendered chairs: 3 meshes rendered, 0 from cache, 0 failed``
    (and the first failure's reason, when some failed)."""
    report = report or {}
    rendered, cached = report.get("rendered", 0), report.get("cached", 0)
    failed = report.get("failed") if isinstance(report.get("failed"), list) else []
    line = f"Rendered {request.dataset}: {rendered} meshes rendered, {cached} from cache, {len(failed)} failed"
    first = failed[0] if failed and isinstance(failed[0], dict) else None
    if first is not None:
        reason = (str(first.get("reason", "")).splitlines() or [""])[0]
        line += f" (first: {first.get('key', '')}: {reason})"
    return line
