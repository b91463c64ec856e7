"""Offscreen multi-view rendering of meshes (trimesh + pyrender) with an on-disk cache.

Importing this package chooses the OpenGL platform (EGL on Linux) before PyOpenGL is loaded; it
does not itself load OpenGL, which happens on the first render.
"""

from engine.render.platform import RenderBackendError, configure_gl_platform

configure_gl_platform()

from engine.render.cache import RenderCache  # noqa: E402
from engine.render.mesh import MESH_SUFFIXES, MeshError, NormalisedMesh, is_mesh_file, load_mesh  # noqa: E402
from engine.render.pool import RenderOutcome, render_many  # noqa: E402
from engine.render.renderer import MultiViewRenderer, render_views  # noqa: E402
from engine.render.spec import ViewSpec  # noqa: E402

__all__ = [
    "MESH_SUFFIXES",
    "MeshError",
    "MultiViewRenderer",
    "NormalisedMesh",
    "RenderBackendError",
    "RenderCache",
    "RenderOutcome",
    "ViewSpec",
    "configure_gl_platform",
    "is_mesh_file",
    "load_mesh",
    "render_many",
    "render_views",
]
