"""Offscreen multi-view rendering with pyrender: cameras on a ring, lights that follow the camera.

One :class:`MultiViewRenderer` owns one ``pyrender.OffscreenRenderer`` (one GL context) and reuses it
for every mesh: creating a context costs far more than rendering a small view. pyrender is imported
lazily so that importing :mod:`engine.render` (for :class:`ViewSpec` or the cache) never loads OpenGL.

pyrender's own PBR fragment shader dominates the cost of a view on a software rasteriser (Mesa
llvmpipe): it loops over arrays of light structs with shadow samplers for every fragment. Our mesh
shader below does what these renders need (base colour x vertex colour x texture, two-sided Lambert
plus a little Blinn-Phong for every directional light, ambient) and is about five times faster.
"""

from __future__ import annotations

import atexit
import functools
import math
import os
import re
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import trimesh

from engine.render.mesh import NormalisedMesh, load_mesh
from engine.render.platform import RenderBackendError, configure_gl_platform, install_hint
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
# Corners whose smooth vertex normal is within this angle of the face normal are smooth-shaded;
# sharper corners (box edges) keep the flat face normal.
SMOOTH_ANGLE_DEG = 35.0
DEFAULT_RGBA = (0.8, 0.8, 0.8, 1.0)  # parts without any colour
MARGIN = 1.03  # the unit sphere fills the field of view with this much room to spare
TRANSLUCENT_BELOW = 0.98  # alpha under which a part is blended rather than drawn opaque

# ---- shaders --------------------------------------------------------------------------------
# Names and uniforms follow pyrender's mesh.vert/mesh.frag so that its renderer can drive them;
# NAME_LOC / HAS_* / MAX_* are pyrender's defines, substituted before compilation.

_MESH_VERT = """#version 330 core
layout(location = 0) in vec3 position;
#ifdef NORMAL_LOC
layout(location = NORMAL_LOC) in vec3 normal;
#endif
#ifdef TEXCOORD_0_LOC
layout(location = TEXCOORD_0_LOC) in vec2 texcoord_0;
#endif
#ifdef COLOR_0_LOC
layout(location = COLOR_0_LOC) in vec4 color_0;
#endif
layout(location = INST_M_LOC) in mat4 inst_m;

uniform mat4 M;
uniform mat4 V;
uniform mat4 P;

out vec3 frag_position;
#ifdef NORMAL_LOC
out vec3 frag_normal;
#endif
#ifdef TEXCOORD_0_LOC
out vec2 uv_0;
#endif
#ifdef COLOR_0_LOC
out vec4 color_multiplier;
#endif

void main()
{
    mat4 model = M * inst_m;
    vec4 world = model * vec4(position, 1.0);
    gl_Position = P * V * world;
    frag_position = world.xyz;
#ifdef NORMAL_LOC
    frag_normal = mat3(model) * normal;  // rigid motions and uniform scales only
#endif
#ifdef TEXCOORD_0_LOC
    uv_0 = texcoord_0;
#endif
#ifdef COLOR_0_LOC
    color_multiplier = color_0;
#endif
}
"""

_MESH_FRAG = """#version 330 core
struct DirectionalLight {
    vec3 color;
    float intensity;
    vec3 direction;
};

struct Material {
    vec4 base_color_factor;
#ifdef HAS_BASE_COLOR_TEX
    sampler2D base_color_texture;
#endif
};

uniform Material material;
uniform DirectionalLight directional_lights[MAX_DIRECTIONAL_LIGHTS];
uniform int n_directional_lights;
uniform vec3 cam_pos;
uniform vec3 ambient_light;

in vec3 frag_position;
#ifdef NORMAL_LOC
in vec3 frag_normal;
#endif
#ifdef TEXCOORD_0_LOC
in vec2 uv_0;
#endif
#ifdef COLOR_0_LOC
in vec4 color_multiplier;
#endif

out vec4 frag_color;

void main()
{
    vec4 base = material.base_color_factor;
#ifdef HAS_BASE_COLOR_TEX
#ifdef TEXCOORD_0_LOC
    base *= texture(material.base_color_texture, uv_0);
#endif
#endif
#ifdef COLOR_0_LOC
    base *= color_multiplier;
#endif
    vec3 v = normalize(cam_pos - frag_position);
#ifdef NORMAL_LOC
    vec3 n = normalize(frag_normal);
#else
    vec3 n = normalize(cross(dFdx(frag_position), dFdy(frag_position)));
#endif
    if (dot(n, v) < 0.0) {
        n = -n;  // two-sided: inconsistent winding and open shells still read
    }
    vec3 color = ambient_light * base.rgb;
    for (int i = 0; i < n_directional_lights; i++) {
        vec3 l = normalize(-directional_lights[i].direction);
        float nl = max(dot(n, l), 0.0);
        float nh = max(dot(n, normalize(l + v)), 0.0);
        vec3 radiance = directional_lights[i].intensity * directional_lights[i].color;
        color += radiance * (base.rgb * nl + vec3(0.12) * pow(nh, 24.0) * nl);
    }
    frag_color = vec4(clamp(color, 0.0, 1.0), base.a);
}
"""

_SOURCES = {"mesh.vert": _MESH_VERT, "mesh.frag": _MESH_FRAG}


def _preprocess(text: str, defines: dict[str, Any]) -> str:
    """pyrender's shader preprocessing: #ifdef/#ifndef on the defines, then textual substitution."""
    text = re.sub(
        r"#ifdef\s+([A-Za-z_]\w*)\s*$",
        lambda m: "#if 1" if m.group(1) in defines else "#if 0",
        text,
        flags=re.MULTILINE,
    )
    text = re.sub(
        r"#ifndef\s+([A-Za-z_]\w*)\s*$",
        lambda m: "#if 0" if m.group(1) in defines else "#if 1",
        text,
        flags=re.MULTILINE,
    )
    for name, value in defines.items():
        text = text.replace(name, str(value))
    return text


@functools.cache
def _fast_program_cache_class() -> type:
    """A pyrender ShaderProgramCache that serves our mesh shaders (built lazily: imports pyrender)."""
    import OpenGL.contextdata
    from pyrender.shader_program import ShaderProgram, ShaderProgramCache

    class SourceShaderProgram(ShaderProgram):
        def _load(self, shader_filename: str) -> str:
            return _preprocess(_SOURCES[os.path.basename(shader_filename)], self.defines)

    class FastProgramCache(ShaderProgramCache):
        def get_program(self, vertex_shader, fragment_shader, geometry_shader=None, defines=None):
            if (vertex_shader, fragment_shader, geometry_shader) != ("mesh.vert", "mesh.frag", None):
                return super().get_program(vertex_shader, fragment_shader, geometry_shader, defines)
            defines = dict(defines or {})
            key = (OpenGL.contextdata.getContext(), "crossfold-mesh", *sorted(defines.items()))
            if key not in self._program_cache:
                self._program_cache[key] = SourceShaderProgram("mesh.vert", "mesh.frag", None, defines)
            return self._program_cache[key]

    return FastProgramCache


# ---- cameras --------------------------------------------------------------------------------


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


def _rotation(axis: str, deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    m = np.eye(4)
    if axis == "x":
        m[1:3, 1:3] = [[c, -s], [s, c]]
    else:
        m[0, 0], m[0, 2], m[2, 0], m[2, 2] = c, s, -s, c
    return m


# ---- geometry -------------------------------------------------------------------------------


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


def _primitives(parts: tuple[trimesh.Trimesh, ...]) -> list[pyrender.Primitive]:
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


# ---- the renderer ---------------------------------------------------------------------------


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
                import pyrender

                self._offscreen = pyrender.OffscreenRenderer(size, size)
            except Exception as exc:
                platform = os.environ.get("PYOPENGL_PLATFORM")
                raise RenderBackendError(
                    f"cannot create an OpenGL context (PYOPENGL_PLATFORM={platform or 'unset'}): "
                    f"{type(exc).__name__}: {exc}; {install_hint(platform)}"
                ) from exc
            inner = getattr(self._offscreen, "_renderer", None)
            if inner is not None and hasattr(inner, "_program_cache"):  # pyrender 0.1.45 internals
                inner._program_cache = _fast_program_cache_class()()
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
                self._offscreen.delete()
            except Exception:  # a context torn down at exit may already be gone
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
        self._scene.add(pyrender.Mesh(primitives=_primitives(mesh.parts)))
        self._camera = pyrender.PerspectiveCamera(yfov=math.radians(self.fov_deg), aspectRatio=1.0)
        self._camera_node = self._scene.add(self._camera, pose=np.eye(4))
        white = np.ones(3)
        self._scene.add(
            pyrender.DirectionalLight(color=white, intensity=HEADLIGHT_INTENSITY), parent_node=self._camera_node
        )
        key_pose = _rotation("y", KEY_LIGHT_TILT_DEG[1]) @ _rotation("x", KEY_LIGHT_TILT_DEG[0])
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
            color, _depth = offscreen.render(self._scene, flags=pyrender.RenderFlags.NONE)  # culling: _primitives
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
