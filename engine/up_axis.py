"""Which way is up in a mesh file: the six axis names that ``--up`` and the view spec take.

Mesh sets disagree: ShapeNet, glTF (Objaverse) and most OBJ files are y-up; ModelNet, Thingi10K and
most STL/CAD files z-up. The renderer turns a mesh so that its up axis becomes +y before normalising
it. Kept apart from :mod:`engine.render` so that importers and the CLI name the axes without loading
trimesh.
"""

from __future__ import annotations

UP_AXES: tuple[str, ...] = ("y", "z", "x", "-y", "-z", "-x")
DEFAULT_UP_AXIS = "y"
