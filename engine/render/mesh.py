"""Load a mesh file as triangle parts (colours kept), turned so that its up axis is +y and normalised
into the unit sphere."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import trimesh

from engine.errors import CrossfoldError
from engine.mesh_files import MESH_SUFFIXES

__all__ = ["MESH_SUFFIXES", "MeshError", "NormalisedMesh", "RootsResolver", "check_mesh_file", "is_mesh_file",
           "load_mesh", "up_rotation"]


class RootsResolver(trimesh.resolvers.FilePathResolver):
    """A mesh's side files (materials, textures, glTF buffers) from anywhere inside the folders it was imported
    from, and nothing outside them.

    trimesh's own resolver reads side files only below the mesh's folder, which loses textures that real sets
    keep beside it: ShapeNet v2's ``models/model_normalized.mtl`` names ``../images/texture0.jpg``. Here a name
    may go up, as long as its real path (links followed) lies inside one of ``roots``; an absolute path or a
    ``../`` out of every root is refused like a missing file (trimesh then leaves that material untextured).
    """

    def __init__(self, source: str | os.PathLike[str], roots: tuple[Path, ...]) -> None:
        super().__init__(str(source))
        self.roots = tuple(Path(r).resolve() for r in roots)

    def absolute(self, name: str) -> Path:
        path = (Path(self.parent).resolve() / name.strip()).resolve()
        if not any(path.is_relative_to(root) for root in self.roots):
            raise ValueError(f"{name!r} is outside the dataset's folders")
        return path

    def namespaced(self, namespace: str) -> RootsResolver:
        return RootsResolver(os.path.join(self.parent, namespace), self.roots)


# Rotations taking each source up axis to +y. A z-up model's front (-y, where its viewer stands) ends
# up at +z, the glTF front that view 0 looks from; every rotation is a quarter or half turn, so the
# bounding box (and the normalisation) is the same as the source's, turned.
_UP_ROTATIONS: dict[str, np.ndarray] = {
    "y": np.eye(3),
    "z": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]),  # -90 deg about x
    "-z": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),  # +90 deg about x
    "-y": np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]]),  # 180 deg about x
    "x": np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),  # +90 deg about z
    "-x": np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),  # -90 deg about z
}


def up_rotation(up_axis: str) -> np.ndarray:
    """The 3x3 rotation that turns a model whose up direction is ``up_axis`` y-up."""
    try:
        return _UP_ROTATIONS[up_axis]
    except KeyError:
        raise ValueError(f"up axis must be one of {', '.join(_UP_ROTATIONS)}, not {up_axis!r}") from None


class MeshError(CrossfoldError):
    """A mesh file cannot be rendered; ``str()`` names the file and the problem."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self) -> tuple[type[MeshError], tuple[str, str]]:  # picklable across processes
        return (MeshError, (str(self.path), self.reason))


def is_mesh_file(path: str | os.PathLike[str]) -> bool:
    """Whether the file name has one of the mesh formats we render."""
    return Path(path).suffix.lower() in MESH_SUFFIXES


@dataclass(frozen=True)
class NormalisedMesh:
    """Triangle parts in a common frame: y up, bounding-box centre at the origin, bounding sphere radius 1.

    ``rotation``, ``centre`` and ``scale`` map the source coordinates:
    ``normalised = (rotation @ source - centre) * scale`` (``centre`` is in the turned frame).
    Each part keeps its own visual (face/vertex colours, material, texture).
    """

    path: Path
    parts: tuple[trimesh.Trimesh, ...]
    centre: np.ndarray
    scale: float
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))

    @property
    def face_count(self) -> int:
        return sum(len(p.faces) for p in self.parts)


def load_mesh(
    path: str | os.PathLike[str], up_axis: str = "y", roots: tuple[Path, ...] = ()
) -> NormalisedMesh:
    """Read a mesh or scene file, turn its ``up_axis`` to +y and normalise it.

    Side files (materials, textures) come from inside ``roots`` (:class:`RootsResolver`), or with no roots
    from below the mesh's own folder (trimesh's rule). Raises :class:`MeshError` if it cannot be rendered.
    """
    path = Path(path)
    rotation = up_rotation(up_axis)
    check_mesh_file(path)
    resolver = RootsResolver(path, roots) if roots else None
    try:
        scene = trimesh.load(str(path), force="scene", resolver=resolver)
    except ImportError as exc:  # trimesh guesses the encoding of non-UTF-8 text with optional packages
        raise MeshError(
            path,
            f"cannot be read as {path.suffix[1:].upper()}: not UTF-8 text (guessing its encoding needs the "
            f"optional package {exc.name or 'charset_normalizer'})",
        ) from exc
    except Exception as exc:  # trimesh raises anything from ValueError to struct.error on bad input
        raise MeshError(path, f"cannot be read as {path.suffix[1:].upper()}: {_describe(exc)}") from exc
    parts, skipped = _triangle_parts(path, scene)
    if not parts:
        if _non_finite_vertices(path):  # trimesh drops NaN/inf vertices and their faces on load
            raise MeshError(path, "has non-finite vertex coordinates (NaN or inf)")
        what = f" (only {', '.join(sorted(skipped))})" if skipped else ""
        raise MeshError(path, f"contains no triangle faces{what}")
    if up_axis != "y":
        turn = np.eye(4)
        turn[:3, :3] = rotation
        for part in parts:
            part.apply_transform(turn)
    centre, radius = _bounding_sphere(path, parts)
    scale = 1.0 / radius
    transform = np.diag([scale, scale, scale, 1.0])
    transform[:3, 3] = -centre * scale
    for part in parts:
        part.apply_transform(transform)
    return NormalisedMesh(path=path, parts=tuple(parts), centre=centre, scale=scale, rotation=rotation.copy())


def check_mesh_file(path: Path) -> None:
    """The cheap checks (exists, is a file, known suffix, not empty) without reading the mesh."""
    if not path.exists():
        raise MeshError(path, "file not found")
    if not path.is_file():
        raise MeshError(path, "not a regular file")
    if not is_mesh_file(path):
        supported = ", ".join(sorted(s[1:] for s in MESH_SUFFIXES))
        raise MeshError(path, f"unsupported format {path.suffix or '(no suffix)'!r} (supported: {supported})")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise MeshError(path, f"cannot be read: {exc.strerror or exc}") from exc
    if size == 0:
        raise MeshError(path, "file is empty")


def _triangle_parts(path: Path, scene: trimesh.Scene) -> tuple[list[trimesh.Trimesh], set[str]]:
    """Every triangle mesh instance of the scene with its transform applied (copies)."""
    parts: list[trimesh.Trimesh] = []
    skipped: set[str] = set()
    for node in scene.graph.nodes_geometry:
        transform, geometry_name = scene.graph[node]
        geometry = scene.geometry.get(geometry_name)
        if not isinstance(geometry, trimesh.Trimesh):
            skipped.add(type(geometry).__name__.lower())
            continue
        if len(geometry.faces) == 0:
            continue
        if not np.isfinite(geometry.vertices).all():
            raise MeshError(path, f"part {geometry_name!r} has non-finite vertex coordinates")
        part = geometry.copy()
        if not np.allclose(transform, np.eye(4)):
            part.apply_transform(transform)
        parts.append(part)
    return parts, skipped


def _non_finite_vertices(path: Path) -> bool:
    """Whether the file, read without trimesh's clean-up, has a NaN or infinite vertex coordinate."""
    try:
        raw = trimesh.load(str(path), force="scene", process=False)
    except Exception:  # noqa: BLE001 - it loaded once already; any failure here just means "no"
        return False
    return any(
        hasattr(g, "vertices") and len(g.vertices) and not np.isfinite(np.asarray(g.vertices)).all()
        for g in raw.geometry.values()
    )


def _bounding_sphere(path: Path, parts: list[trimesh.Trimesh]) -> tuple[np.ndarray, float]:
    """Centre of the bounding box of the used vertices and the largest distance from it."""
    used = [p.vertices[np.unique(p.faces)] for p in parts]
    lo = np.min([u.min(axis=0) for u in used], axis=0)
    hi = np.max([u.max(axis=0) for u in used], axis=0)
    centre = (lo + hi) / 2.0
    radius = float(max(np.sqrt(((u - centre) ** 2).sum(axis=1).max()) for u in used))
    if not np.isfinite(radius) or radius <= 1e-12 * max(1.0, float(np.abs(centre).max())):
        raise MeshError(path, "degenerate geometry (all vertices coincide)")
    return centre, radius


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
