"""Choose the OpenGL platform for offscreen rendering before anything imports PyOpenGL.

PyOpenGL binds to a platform (GLX, EGL, OSMesa, ...) when ``OpenGL`` is first imported and cannot
switch afterwards, so the choice has to be made in ``os.environ`` first. On Linux we use EGL, which
renders without a display (Mesa's llvmpipe on a CPU-only machine, the vendor driver on a GPU). On
macOS and Windows pyrender's default (pyglet with a hidden window) is left alone. A platform the user
already chose with ``PYOPENGL_PLATFORM`` always wins.
"""

from __future__ import annotations

import os
import sys
import warnings

from engine.errors import CrossfoldError

ENV_VAR = "PYOPENGL_PLATFORM"
DEFAULT_LINUX_PLATFORM = "egl"


def install_hint(platform: str | None) -> str:
    """What to install for offscreen rendering on the platform in effect."""
    if platform == "osmesa":
        return (
            "PYOPENGL_PLATFORM=osmesa needs OSMesa (Debian/Ubuntu: apt install libosmesa6) and a PyOpenGL "
            "with OSMesa support; or unset PYOPENGL_PLATFORM to render with EGL"
        )
    if platform == "egl":
        return (
            "offscreen rendering with EGL needs libEGL and a driver "
            "(Debian/Ubuntu: apt install libegl1 libgl1-mesa-dri)"
        )
    return "offscreen rendering needs a working OpenGL driver; on Linux, set PYOPENGL_PLATFORM=egl"


class RenderBackendError(CrossfoldError):
    """No OpenGL context could be created: nothing can be rendered in this process."""


def configure_gl_platform() -> str | None:
    """Set ``PYOPENGL_PLATFORM`` if the user has not; return the platform in effect (None = default)."""
    chosen = os.environ.get(ENV_VAR) or None
    if chosen is None and sys.platform.startswith("linux"):
        chosen = DEFAULT_LINUX_PLATFORM
        if "OpenGL" in sys.modules:
            warnings.warn(
                "PyOpenGL was imported before engine.render could choose the EGL platform; offscreen "
                f"rendering may fail. Set {ENV_VAR}=egl or import engine.render first.",
                RuntimeWarning,
                stacklevel=2,
            )
        os.environ[ENV_VAR] = chosen
    return chosen


def accept_new_ctypes_arguments() -> None:
    """Let PyOpenGL 3.1.0 (pyrender's pin) take ``ctypes.byref`` arguments on Python 3.12 and later.

    From 3.12, ``CArgObject`` (what ``ctypes.byref`` makes, and what ``glGenTextures`` is given) reports its
    module as ``_ctypes`` instead of ``builtins``, so 3.1.0's format-handler table no longer finds it and every
    texture upload fails ("No array-type handler for type _ctypes.type"). PyOpenGL 3.1.7 added the new name;
    this adds the same one name to the table, and does nothing where it is there already.
    """
    if sys.version_info < (3, 12):
        return
    from OpenGL.plugins import FormatHandler

    handler = FormatHandler.by_name("ctypesparameter")
    name = "_ctypes.CArgObject"
    if handler is not None and handler.check is not None and name not in handler.check:
        handler.check = [*handler.check, name]
