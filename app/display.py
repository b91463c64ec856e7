"""Is there a screen Qt can open a window on? Decided before Qt is imported."""

from __future__ import annotations

import os
import sys

HEADLESS_PLATFORMS = ("offscreen", "minimal", "vnc", "eglfs", "linuxfb")

NO_DISPLAY_MESSAGE = (
    "crossfold: no display found (DISPLAY and WAYLAND_DISPLAY are unset); "
    "run it under a virtual screen with `xvfb-run make run`, or work headless with the `trainer` CLI "
    "(`trainer --help`)"
)


def has_display(environ: dict[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    if sys.platform in ("darwin", "win32"):
        return True
    platform = env.get("QT_QPA_PLATFORM", "")
    if platform.split(":")[0] in HEADLESS_PLATFORMS:
        return True
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))
