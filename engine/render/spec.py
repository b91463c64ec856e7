"""What to render: the view specification, hashed into the render cache key."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from engine.mesh_files import DEFAULT_UP_AXIS, DEFAULT_VIEW_SIZE, DEFAULT_VIEWS, ELEVATIONS, UP_AXES, VIEW_SIZES

__all__ = ["DEFAULT_UP_AXIS", "RENDERER_VERSION", "UP_AXES", "ViewSpec"]

# Bump when the renderer's output changes for the same spec (lighting, normalisation, framing), so
# that cached views made by an older renderer are not served under the new one.
RENDERER_VERSION = 1



@dataclass(frozen=True)
class ViewSpec:
    """``views`` cameras evenly spaced in azimuth around the object, all at ``elevation_deg``.

    The object is normalised into the unit sphere and the camera distance is chosen so that the sphere
    fits the ``fov_deg`` field of view. ``up_axis`` is the model's up direction (one of
    :data:`UP_AXES`): ``"y"`` (glTF, ShapeNet, most OBJ) or ``"z"`` (ModelNet, Thingi10K, many STL/OFF/CAD
    files), and so on; the mesh is turned so that it points up before it is normalised.
    """

    views: int = DEFAULT_VIEWS
    elevation_deg: float = 25.0
    size: int = DEFAULT_VIEW_SIZE
    background: tuple[int, int, int] = (255, 255, 255)
    fov_deg: float = 40.0
    up_axis: str = DEFAULT_UP_AXIS

    def __post_init__(self) -> None:
        background = tuple(int(c) for c in self.background)
        object.__setattr__(self, "background", background)
        object.__setattr__(self, "views", int(self.views))
        object.__setattr__(self, "size", int(self.size))
        object.__setattr__(self, "elevation_deg", float(self.elevation_deg))
        object.__setattr__(self, "fov_deg", float(self.fov_deg))
        if self.views < 1:
            raise ValueError(f"views must be at least 1, not {self.views}")
        if not VIEW_SIZES[0] <= self.size <= VIEW_SIZES[1]:
            raise ValueError(f"size must be between {VIEW_SIZES[0]} and {VIEW_SIZES[1]} pixels, not {self.size}")
        if not ELEVATIONS[0] <= self.elevation_deg <= ELEVATIONS[1]:
            raise ValueError(f"elevation_deg must be between {ELEVATIONS[0]:g} and {ELEVATIONS[1]:g}, "
                             f"not {self.elevation_deg}")
        if not 5.0 <= self.fov_deg <= 120.0:
            raise ValueError(f"fov_deg must be between 5 and 120, not {self.fov_deg}")
        if len(background) != 3 or not all(0 <= c <= 255 for c in background):
            raise ValueError(f"background must be three integers in 0..255, not {self.background!r}")
        if self.up_axis not in UP_AXES:
            raise ValueError(f"up_axis must be one of {', '.join(UP_AXES)}, not {self.up_axis!r}")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields plus ``key``; :meth:`from_dict` reads it back."""
        d = asdict(self)
        d["background"] = list(self.background)
        d["key"] = self.key()
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ViewSpec:
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names - {"key"}
        if unknown:
            raise ValueError(f"unknown view spec fields: {', '.join(sorted(unknown))}")
        return cls(**{k: v for k, v in data.items() if k in names})

    def key(self) -> str:
        """A short stable hash of the spec (and the renderer version): the cache key's second half."""
        return _spec_key(self)


@functools.lru_cache(maxsize=64)
def _spec_key(spec: ViewSpec) -> str:
    d = asdict(spec)
    d["background"] = list(spec.background)
    d["renderer_version"] = RENDERER_VERSION
    blob = json.dumps(d, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
