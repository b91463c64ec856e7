"""A mesh's parts as pyrender primitives: indexed vertex attributes, colours as vertex colours, few draw calls.

Corners are smooth-shaded where the surface is smooth and keep the face normal at sharp edges; corners that would
get identical attributes share one GPU vertex; parts are merged by (translucent, closed) so a 30-material OBJ is a
handful of draw calls; closed parts with outward faces are drawn with back faces culled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import trimesh

if TYPE_CHECKING:
    import pyrender

# Corners whose smooth vertex normal is within this angle of the face normal are smooth-shaded;
# sharper corners (box edges) keep the flat face normal.
SMOOTH_ANGLE_DEG = 35.0
DEFAULT_RGBA = (0.8, 0.8, 0.8, 1.0)  # parts without any colour
TRANSLUCENT_BELOW = 0.98  # alpha under which a part is blended rather than drawn opaque


@dataclass
class _Geometry:
    """Indexed vertex attributes ready for one pyrender primitive."""

    positions: np.ndarray  # (N, 3) float32
    normals: np.ndarray  # (N, 3) float32
    indices: np.ndarray  # (F, 3) uint32
    colors: np.ndarray | None = None  # (N, 4) float32 in 0..1
    texcoords: np.ndarray | None = None  # (N, 2) float32

    @staticmethod
    def merge(parts: list[_Geometry]) -> _Geometry:
        offsets = np.cumsum([0] + [len(p.positions) for p in parts[:-1]])
        colors = [p.colors for p in parts]
        return _Geometry(
            positions=np.concatenate([p.positions for p in parts]),
            normals=np.concatenate([p.normals for p in parts]),
            indices=np.concatenate([p.indices + o for p, o in zip(parts, offsets, strict=True)]).astype(
                np.uint32
            ),
            colors=None if any(c is None for c in colors) else np.concatenate(colors),  # type: ignore[arg-type]
        )


def _corner_normals(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(3F, 3) corner normals and a (3F,) mask of the smooth ones.

    A corner whose area-weighted vertex normal is within SMOOTH_ANGLE_DEG of its face normal gets the
    vertex normal (spheres look round); a sharper one keeps the face normal (boxes keep their edges).
    """
    tri = vertices[faces]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    face_n = cross / np.maximum(np.linalg.norm(cross, axis=1, keepdims=True), 1e-30)
    n_vertices = len(vertices)
    vertex_n = np.stack(
        [
            sum(np.bincount(faces[:, k], weights=cross[:, a], minlength=n_vertices) for k in range(3))
            for a in range(3)
        ],
        axis=1,
    )
    vertex_n /= np.maximum(np.linalg.norm(vertex_n, axis=1, keepdims=True), 1e-30)
    corner_vn = vertex_n[faces]  # (F, 3, 3)
    face_rep = np.repeat(face_n[:, None, :], 3, axis=1)
    smooth = (corner_vn * face_rep).sum(axis=2) > math.cos(math.radians(SMOOTH_ANGLE_DEG))
    normals = np.where(smooth[..., None], corner_vn, face_rep).reshape(-1, 3).astype(np.float32)
    return normals, smooth.reshape(-1)


def _closed_and_outward(vertices: np.ndarray, faces: np.ndarray) -> bool:
    """Whether every edge is shared by exactly two faces in opposite directions and the enclosed
    volume is positive: then back faces are never visible and can be culled (half the triangles)."""
    n = np.int64(len(vertices))
    a = faces.astype(np.int64)
    heads, tails = a.reshape(-1), a[:, [1, 2, 0]].reshape(-1)
    forward = np.sort(heads * n + tails)
    if len(forward) > 1 and (forward[1:] == forward[:-1]).any():
        return False
    if not np.array_equal(forward, np.sort(tails * n + heads)):
        return False
    tri = vertices[faces]
    signed_volume = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum()
    return bool(signed_volume > 0.0)


def _indexed(
    faces: np.ndarray, smooth: np.ndarray, corner_group: np.ndarray | None, n_vertices: int
) -> tuple[np.ndarray, np.ndarray]:
    """Share corners that would get identical attributes: (representative corner per vertex, indices).

    Smooth corners of the same source vertex (and colour group) share one GPU vertex; sharp corners
    stay their own. Fewer vertices to transform than drawing every corner separately.
    """
    n_corners = faces.size
    key = np.where(smooth, faces.reshape(-1).astype(np.int64), n_vertices + np.arange(n_corners))
    if corner_group is not None:
        key = key * (int(corner_group.max()) + 1) + corner_group
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1, 3).astype(np.uint32)


def _rgba(value: Any, default: tuple[float, float, float, float]) -> np.ndarray:
    """A colour from trimesh (uint8 0..255 or float 0..1, RGB or RGBA) as float32 RGBA."""
    if value is None:
        return np.array(default, dtype=np.float32)
    arr = np.asarray(value).reshape(-1)
    arr = arr / 255.0 if np.issubdtype(arr.dtype, np.integer) else arr.astype(np.float64)
    out = np.ones(4)
    out[: min(4, len(arr))] = arr[:4]
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _rgba_rows(colors: np.ndarray) -> np.ndarray:
    colors = np.asarray(colors)
    out = colors / 255.0 if np.issubdtype(colors.dtype, np.integer) else colors
    out = np.asarray(out, dtype=np.float32)
    if out.shape[1] == 3:
        out = np.hstack([out, np.ones((len(out), 1), dtype=np.float32)])
    return out


def _texture(part: trimesh.Trimesh) -> tuple[np.ndarray, Any]:
    """(base colour factor, image or None) of a part with TextureVisuals."""
    material = part.visual.material
    if isinstance(material, trimesh.visual.material.PBRMaterial):
        factor, image = _rgba(material.baseColorFactor, (1.0, 1.0, 1.0, 1.0)), material.baseColorTexture
    else:
        factor = _rgba(getattr(material, "diffuse", None), DEFAULT_RGBA)
        image = getattr(material, "image", None)
    uv = getattr(part.visual, "uv", None)
    if image is None or uv is None or len(uv) != len(part.vertices):
        return factor, None  # no coordinates to map the image with: its material colour alone
    if np.ptp(factor[:3]) < 1e-3:
        # A grey factor only darkens the texture: trimesh fills in 0.4 grey when a material names an
        # image but no colour. A tint (a coloured factor) is kept.
        factor = np.array([1.0, 1.0, 1.0, factor[3]], dtype=np.float32)
    return factor, image


def _part_geometry(part: trimesh.Trimesh) -> tuple[_Geometry, Any, np.ndarray | None]:
    """The part's indexed geometry (colours per vertex), its texture image and factor if textured."""
    faces = np.asarray(part.faces, dtype=np.int64)
    vertices = np.asarray(part.vertices, dtype=np.float64)
    normals, smooth = _corner_normals(vertices, faces)
    visual = part.visual
    kind = getattr(visual, "kind", None)
    group = corner_colors = vertex_colors = None
    image = factor = None
    if kind == "face":
        face_colors = np.ascontiguousarray(np.asarray(visual.face_colors, dtype=np.uint8)[:, :4])
        packed = face_colors.view(np.uint32).reshape(-1)
        palette, face_group = np.unique(packed, return_inverse=True)
        group = np.repeat(face_group, 3)
        corner_colors = _rgba_rows(palette.view(np.uint8).reshape(-1, 4))[group]
    elif kind == "vertex":
        vertex_colors = _rgba_rows(np.asarray(visual.vertex_colors))
    elif kind == "texture":
        factor, image = _texture(part)
    first, indices = _indexed(faces, smooth, group, len(vertices))
    corner_vertex = faces.reshape(-1)[first]
    geometry = _Geometry(
        positions=vertices[corner_vertex].astype(np.float32), normals=normals[first], indices=indices
    )
    if corner_colors is not None:
        geometry.colors = corner_colors[first]
    elif vertex_colors is not None:
        geometry.colors = vertex_colors[corner_vertex]
    elif image is not None:
        geometry.texcoords = np.asarray(visual.uv, dtype=np.float32)[corner_vertex]
    else:
        colour = factor if factor is not None else np.array(DEFAULT_RGBA, dtype=np.float32)
        geometry.colors = np.tile(colour, (len(first), 1))
    return geometry, image, factor if image is not None else None


def mesh_primitives(parts: tuple[trimesh.Trimesh, ...]) -> list[pyrender.Primitive]:
    """pyrender primitives for the parts: colours become vertex colours and parts are merged.

    Every primitive costs a draw call with a dozen uniform uploads per view, so a 30-material OBJ is
    drawn as at most three primitives (closed/open, translucent) plus one per texture. Closed parts with
    outward faces are drawn with back faces culled; open or inconsistent ones two-sided.
    """
    import pyrender

    batches: dict[tuple[bool, bool], list[_Geometry]] = {}
    primitives = []
    for part in parts:
        geometry, image, factor = _part_geometry(part)
        cull = _closed_and_outward(np.asarray(part.vertices), np.asarray(part.faces))
        if image is not None:
            blend = bool(factor[3] < TRANSLUCENT_BELOW)
            primitives.append(_primitive(pyrender, geometry, _material(pyrender, factor, image, blend, cull)))
            continue
        assert geometry.colors is not None
        see_through = geometry.colors[:, 3] < TRANSLUCENT_BELOW
        if not see_through.any():
            batches.setdefault((False, cull), []).append(geometry)
        elif see_through.all():
            batches.setdefault((True, False), []).append(geometry)
        else:  # split by face: any translucent corner makes the face translucent
            face_blend = see_through[geometry.indices].any(axis=1)
            for blend in (False, True):
                chosen = geometry.indices[face_blend == blend]
                batches.setdefault((blend, False), []).append(
                    _Geometry(geometry.positions, geometry.normals, chosen, geometry.colors)
                )
    white = np.ones(4, dtype=np.float32)
    for (blend, cull), geometries in sorted(batches.items()):
        merged = _Geometry.merge(geometries)
        primitives.append(_primitive(pyrender, merged, _material(pyrender, white, None, blend, cull)))
    return primitives


def _primitive(pyrender: Any, geometry: _Geometry, material: Any) -> pyrender.Primitive:
    return pyrender.Primitive(
        positions=geometry.positions,
        normals=geometry.normals,
        texcoord_0=geometry.texcoords,
        color_0=geometry.colors,
        indices=geometry.indices,
        material=material,
        mode=pyrender.constants.GLTF.TRIANGLES,
    )


def _material(
    pyrender: Any, factor: np.ndarray, image: Any, blend: bool, cull: bool
) -> pyrender.MetallicRoughnessMaterial:
    return pyrender.MetallicRoughnessMaterial(
        baseColorFactor=factor,
        baseColorTexture=image,
        metallicFactor=0.0,  # no environment light: metals would render nearly black
        roughnessFactor=0.8,
        alphaMode="BLEND" if blend else "OPAQUE",
        doubleSided=not cull,
    )
