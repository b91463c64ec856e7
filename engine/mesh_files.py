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
