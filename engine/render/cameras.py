"""Cameras: the ring of views of a :class:`ViewSpec`, and a camera pose from azimuth, elevation and distance.

OpenGL axes: a camera looks down its -z; meshes are turned y-up when they are loaded (``spec.up_axis``), so the
ring is always about y.
"""

from __future__ import annotations

import math

import numpy as np

from engine.render.spec import ViewSpec

MARGIN = 1.03  # the unit sphere fills the field of view with this much room to spare


def camera_distance(spec: ViewSpec) -> float:
    """Distance at which the unit sphere just fits the vertical field of view (with a small margin)."""
    return MARGIN / math.sin(math.radians(spec.fov_deg) / 2.0)


def camera_poses(spec: ViewSpec) -> np.ndarray:
    """(views, 4, 4) camera-to-world poses on a ring around the origin, looking at it (OpenGL axes).

    Meshes are turned y-up when they are loaded (``spec.up_axis``), so the ring is always about y;
    view 0 looks from +z, the glTF front.
    """
    d = camera_distance(spec)
    return np.stack(
        [orbit_pose(360.0 * i / spec.views, spec.elevation_deg, d) for i in range(spec.views)]
    )


def orbit_pose(azimuth_deg: float, elevation_deg: float, distance: float) -> np.ndarray:
    """The camera-to-world pose of a camera at ``distance`` from the origin looking at it, y up.

    Azimuth 0 looks from +z and grows towards +x; elevation is clamped short of the poles.
    """
    az = math.radians(azimuth_deg)
    el = math.radians(max(-89.0, min(89.0, elevation_deg)))
    eye = np.array([math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az)]) * distance
    z = eye / np.linalg.norm(eye)
    x = np.cross(np.array([0.0, 1.0, 0.0]), z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = x, y, z, eye
    return pose


def rotation(axis: str, deg: float) -> np.ndarray:
    """A 4x4 rotation by ``deg`` about ``"x"`` or (any other axis name) y."""
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    m = np.eye(4)
    if axis == "x":
        m[1:3, 1:3] = [[c, -s], [s, c]]
    else:
        m[0, 0], m[0, 2], m[2, 0], m[2, 2] = c, s, -s, c
    return m
