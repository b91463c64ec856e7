"""Facts about mesh files that need no mesh library: the formats we render and which way is up.

Mesh sets disagree on which way is up: ShapeNet, glTF (Objaverse) and most OBJ files are y-up;
ModelNet, Thingi10K and most STL/CAD files z-up. ``--up`` at import names the axis (one of
:data:`UP_AXES`); the renderer turns a mesh so that it becomes +y before normalising it. Kept apart
from :mod:`engine.render` so that importers, the catalogue and the CLI use these without loading
trimesh.
"""

from __future__ import annotations

MESH_SUFFIXES: frozenset[str] = frozenset({".obj", ".off", ".ply", ".stl", ".glb", ".gltf"})
UP_AXES: tuple[str, ...] = ("y", "z", "x", "-y", "-z", "-x")
DEFAULT_UP_AXIS = "y"
DEFAULT_VIEWS = 8  # views per shape that ``trainer render`` (and the app's Render…) makes unless told
DEFAULT_VIEW_SIZE = 224  # px, their side
VIEW_SIZES = (8, 4096)  # px: the smallest and largest side a view (or a packed image) may have
ELEVATIONS = (-89.0, 89.0)  # degrees: the camera elevations a view may have (never straight up or down)

#: Which way is up in the common mesh sets (the README's table, and the app's hint): (mesh set, format, axis).
UP_AXIS_TABLE: tuple[tuple[str, str, str], ...] = (
    ("ShapeNet (v1, v2; Text2Shape's shapes)", "obj", "y"),
    ("Objaverse, any glTF/GLB (glTF is Y-up by definition)", "glb, gltf", "y"),
    ("PartNet (ShapeNet's models, cut into parts)", "obj", "y"),
    ("ModelNet10/40", "off", "z"),
    ("Thingi10K, most STL from CAD or 3D printing", "stl", "z"),
)
_Z_UP_SUFFIXES = frozenset({".off", ".stl"})


def suggested_up_axis(suffix: str) -> str:
    """The axis most files of this suffix have up (``.off``, ``.stl``: ``z``; else the default ``y``)."""
    return "z" if suffix.lower() in _Z_UP_SUFFIXES else DEFAULT_UP_AXIS


def up_axis_of(meta: dict | None) -> str:
    """A dataset's up axis from its meta (``up_axis``, set at import; ``y`` when none was given)."""
    value = (meta or {}).get("up_axis")
    return value if isinstance(value, str) and value in UP_AXES else DEFAULT_UP_AXIS
