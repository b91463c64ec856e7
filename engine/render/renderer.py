"""Offscreen multi-view rendering with pyrender: one GL context per thread, a stage per mesh, lights that
follow the camera.

One :class:`MultiViewRenderer` owns one ``pyrender.OffscreenRenderer`` (one GL context) and reuses it
for every mesh: creating a context costs far more than rendering a small view. pyrender is imported
lazily so that importing :mod:`engine.render` (for :class:`ViewSpec` or the cache) never loads OpenGL.

The cameras are in ``cameras.py``, a mesh's pyrender primitives in ``primitives.py``, and our mesh shader (about
five times faster than pyrender's own on a software rasteriser) in ``programs.py`` and ``shaders/``.
"""

from __future__ import annotations

import atexit
import math
import os
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.render.cameras import camera_distance, camera_poses, rotation
from engine.render.mesh import NormalisedMesh, load_mesh
from engine.render.platform import (
    RenderBackendError,
    accept_new_ctypes_arguments,
    configure_gl_platform,
    install_hint,
)
from engine.render.primitives import mesh_primitives
from engine.render.programs import fast_program_cache_class
from engine.render.spec import ViewSpec

if TYPE_CHECKING:
    import pyrender

# Lighting, in display colour units: a surface facing the camera gets about AMBIENT + HEADLIGHT +
# KEY * cos(key angle) of its colour, so the brightest faces stay just below white and the faces
# turned away from the camera and the key light are visibly darker.
AMBIENT = 0.32
HEADLIGHT_INTENSITY = 0.42
KEY_LIGHT_INTENSITY = 0.32
KEY_LIGHT_TILT_DEG = (-40.0, -30.0)  # rotation about the camera's x (down) then y (from the left)


_context_lock = threading.Lock()  # GL contexts are made and torn down one at a time in a process


class MultiViewRenderer:
    """Renders normalised meshes from the views of a :class:`ViewSpec`, reusing one GL context.

    A GL context belongs to the thread that made it current: use one instance per thread.
    """

    def __init__(self) -> None:
        self._offscreen: pyrender.OffscreenRenderer | None = None

    def _renderer(self, size: int) -> pyrender.OffscreenRenderer:
        if self._offscreen is None:
            configure_gl_platform()
            try:
                accept_new_ctypes_arguments()
                import pyrender

                with _context_lock:  # EGL's display is shared by the process's threads: one context made at a time
                    self._offscreen = pyrender.OffscreenRenderer(size, size)
            except Exception as exc:
                platform = os.environ.get("PYOPENGL_PLATFORM")
                raise RenderBackendError(
                    f"cannot create an OpenGL context (PYOPENGL_PLATFORM={platform or 'unset'}): "
                    f"{type(exc).__name__}: {exc}; {install_hint(platform)}"
                ) from exc
            inner = getattr(self._offscreen, "_renderer", None)
            if inner is not None and hasattr(inner, "_program_cache"):  # pyrender 0.1.45 internals
                inner._program_cache = fast_program_cache_class()()
        elif self._offscreen.viewport_width != size or self._offscreen.viewport_height != size:
            self._offscreen.viewport_width = size
            self._offscreen.viewport_height = size
        return self._offscreen

    def render(self, mesh: NormalisedMesh, spec: ViewSpec) -> list[np.ndarray]:
        """``spec.views`` uint8 arrays of shape (size, size, 3), one per camera of the ring."""
        stage = self.stage(mesh, spec.background, spec.fov_deg)
        d = camera_distance(spec)
        return [stage.shoot(pose, d, spec.size) for pose in camera_poses(spec)]

    def stage(
        self, mesh: NormalisedMesh, background: tuple[int, int, int] = (255, 255, 255), fov_deg: float = 40.0
    ) -> Stage:
        """A scene of the mesh that this renderer can shoot from any camera pose (see :class:`Stage`)."""
        return Stage(self, mesh, background, fov_deg)

    def close(self) -> None:
        if self._offscreen is not None:
            try:
                with _context_lock:  # pyrender's delete terminates the shared EGL display: never beside a creation
                    self._offscreen.delete()
            except Exception:  # noqa: BLE001 - a context torn down at exit may already be gone
                pass
            self._offscreen = None


class Stage:
    """One mesh in a pyrender scene with a camera and its lights, shot from any pose.

    Building the primitives of a mesh costs more than a small render, so an interactive viewer keeps
    one stage per mesh and shoots it at every new camera pose. Use it on its renderer's thread only.
    """

    def __init__(
        self, renderer: MultiViewRenderer, mesh: NormalisedMesh, background: tuple[int, int, int], fov_deg: float
    ) -> None:
        import pyrender

        self._renderer = renderer
        self.fov_deg = float(fov_deg)
        bg = [c / 255.0 for c in background] + [1.0]
        self._scene = pyrender.Scene(bg_color=bg, ambient_light=[AMBIENT] * 3)
        self._scene.add(pyrender.Mesh(primitives=mesh_primitives(mesh.parts)))
        self._camera = pyrender.PerspectiveCamera(yfov=math.radians(self.fov_deg), aspectRatio=1.0)
        self._camera_node = self._scene.add(self._camera, pose=np.eye(4))
        white = np.ones(3)
        self._scene.add(
            pyrender.DirectionalLight(color=white, intensity=HEADLIGHT_INTENSITY), parent_node=self._camera_node
        )
        key_pose = rotation("y", KEY_LIGHT_TILT_DEG[1]) @ rotation("x", KEY_LIGHT_TILT_DEG[0])
        self._scene.add(
            pyrender.DirectionalLight(color=white, intensity=KEY_LIGHT_INTENSITY),
            parent_node=self._camera_node,
            pose=key_pose,
        )

    def shoot(self, pose: np.ndarray, distance: float, size: int) -> np.ndarray:
        """A (size, size, 3) uint8 image from the camera-to-world ``pose`` at ``distance`` from the origin
        (the unit sphere of the normalised mesh lies within ``distance`` +- 1 of the camera)."""
        import pyrender

        offscreen = self._renderer._renderer(size)
        self._camera.znear = max(distance - 1.5, 0.05)
        self._camera.zfar = distance + 1.5
        self._scene.set_pose(self._camera_node, pose)
        with warnings.catch_warnings():
            # PyOpenGL 3.1.0 calls numpy's deprecated tostring() on every glReadPixels
            warnings.filterwarnings("ignore", message=r"tostring\(\) is deprecated", category=DeprecationWarning)
            color, _depth = offscreen.render(self._scene, flags=pyrender.RenderFlags.NONE)  # culling: mesh_primitives
        return np.ascontiguousarray(color[:, :, :3], dtype=np.uint8)


_local = threading.local()
_all_renderers: list[MultiViewRenderer] = []
_all_lock = threading.Lock()


def shared_renderer() -> MultiViewRenderer:
    """This thread's renderer, created on first use and kept for the life of the thread/process."""
    renderer = getattr(_local, "renderer", None)
    if renderer is None:
        renderer = MultiViewRenderer()
        _local.renderer = renderer
        with _all_lock:
            _all_renderers.append(renderer)
    return renderer


def reset_shared_renderer() -> None:
    """Close this thread's renderer (after a GL error); the next render starts a fresh context."""
    renderer = getattr(_local, "renderer", None)
    if renderer is not None:
        renderer.close()
        _local.renderer = None


@atexit.register
def _close_all() -> None:
    with _all_lock:
        for renderer in _all_renderers:
            renderer.close()
        _all_renderers.clear()


def render_views(mesh_path: Path, spec: ViewSpec, roots: tuple[Path, ...] = ()) -> list[np.ndarray]:
    """Load, normalise and render a mesh file: ``spec.views`` uint8 (size, size, 3) images (side files from
    inside ``roots``: :func:`~engine.render.mesh.load_mesh`).

    Raises :class:`~engine.render.mesh.MeshError` for a missing, empty, unreadable or face-less mesh
    and :class:`~engine.render.platform.RenderBackendError` when no GL context can be created.
    """
    mesh = load_mesh(mesh_path, spec.up_axis, roots)
    return shared_renderer().render(mesh, spec)
