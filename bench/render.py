"""Views per second of our renderer (render_many: process pool, one GL context per worker, cold cache)
against a plain single-process pyrender loop (a scene, an OffscreenRenderer and pyrender's default
shaders for every mesh), on generated coloured meshes, in the same run.

    .venv/bin/python bench/render.py --meshes 100 --views 8 --size 128 --workers 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.render import ViewSpec, render_many  # noqa: E402  (chooses the GL platform first)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _coloured(mesh: trimesh.Trimesh, rgb: np.ndarray) -> trimesh.Trimesh:
    mesh.visual.face_colors = np.append(rgb, 255).astype(np.uint8)
    return mesh


def make_meshes(root: Path, count: int, seed: int) -> list[Path]:
    """Coloured primitives (PLY, face colours) and two-colour tables (GLB, two parts), like the demo."""
    rng = np.random.default_rng(seed)
    makers: list[Callable[[], trimesh.Trimesh]] = [
        lambda: trimesh.creation.box(extents=rng.uniform(0.3, 1.5, 3)),
        lambda: trimesh.creation.icosphere(subdivisions=3, radius=rng.uniform(0.4, 1.0)),
        lambda: trimesh.creation.cylinder(
            radius=rng.uniform(0.2, 0.6), height=rng.uniform(0.5, 1.5), sections=48
        ),
        lambda: trimesh.creation.cone(
            radius=rng.uniform(0.3, 0.7), height=rng.uniform(0.5, 1.5), sections=48
        ),
        lambda: trimesh.creation.torus(major_radius=0.8, minor_radius=rng.uniform(0.1, 0.35)),
        lambda: trimesh.creation.capsule(height=rng.uniform(0.5, 1.2), radius=rng.uniform(0.2, 0.5)),
    ]
    paths = []
    for i in range(count):
        if i % 7 == 6:  # a table: a top and four legs in another colour, as a two-part GLB
            top = _coloured(trimesh.creation.box(extents=[1.2, 0.08, 0.8]), rng.integers(0, 256, 3))
            top.apply_translation([0, 0.7, 0])
            legs = []
            for x in (-0.55, 0.55):
                for z in (-0.35, 0.35):
                    leg = trimesh.creation.box(extents=[0.06, 0.7, 0.06])
                    leg.apply_translation([x, 0.35, z])
                    legs.append(leg)
            leg_mesh = _coloured(trimesh.util.concatenate(legs), rng.integers(0, 256, 3))
            path = root / f"mesh_{i:04d}.glb"
            trimesh.Scene({"top": top, "legs": leg_mesh}).export(path)
        else:
            mesh = _coloured(makers[i % len(makers)](), rng.integers(0, 256, 3))
            path = root / f"mesh_{i:04d}.ply"
            mesh.export(path)
        paths.append(path)
    return paths


def cpu_seconds() -> float:
    """CPU time of this process (all its threads) and of its finished child processes."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def baseline(paths: list[Path], spec: ViewSpec, out: Path) -> dict[str, Any]:
    """The naive loop: for every mesh a new scene and OffscreenRenderer, pyrender's own shaders."""
    import pyrender
    from PIL import Image

    gl_renderer = ""
    cpu = cpu_seconds()
    start = time.perf_counter()
    for n, path in enumerate(paths):
        loaded = trimesh.load(path, force="scene")
        scale = 1.0 / max(float(np.linalg.norm(loaded.extents)) / 2.0, 1e-9)
        scene = pyrender.Scene(bg_color=[1.0, 1.0, 1.0, 1.0], ambient_light=[0.3, 0.3, 0.3])
        pose = np.diag([scale, scale, scale, 1.0])
        pose[:3, 3] = -loaded.centroid * scale
        for geometry in loaded.dump():
            scene.add(pyrender.Mesh.from_trimesh(geometry, smooth=False), pose=pose)
        renderer = pyrender.OffscreenRenderer(spec.size, spec.size)
        if not gl_renderer:
            from OpenGL import GL

            gl_renderer = GL.glGetString(GL.GL_RENDERER).decode()
        distance = 1.03 / math.sin(math.radians(spec.fov_deg) / 2)
        camera = pyrender.PerspectiveCamera(yfov=math.radians(spec.fov_deg))
        for v in range(spec.views):
            az = 2 * math.pi * v / spec.views
            el = math.radians(spec.elevation_deg)
            eye = distance * np.array(
                [math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az)]
            )
            z = eye / np.linalg.norm(eye)
            x = np.cross([0.0, 1.0, 0.0], z)
            x /= np.linalg.norm(x)
            cam_pose = np.eye(4)
            cam_pose[:3, 0], cam_pose[:3, 1], cam_pose[:3, 2], cam_pose[:3, 3] = x, np.cross(z, x), z, eye
            cam_node = scene.add(camera, pose=cam_pose)
            light_node = scene.add(pyrender.DirectionalLight(intensity=3.0), pose=cam_pose)
            color, _ = renderer.render(scene)
            Image.fromarray(color).save(out / f"{n:04d}_{v:02d}.png")
            scene.remove_node(cam_node)
            scene.remove_node(light_node)
        renderer.delete()
    wall = time.perf_counter() - start
    return {"wall_s": wall, "cpu_s": cpu_seconds() - cpu, "gl_renderer": gl_renderer}


def ours(paths: list[Path], spec: ViewSpec, cache: Path, workers: int) -> dict[str, Any]:
    cpu = cpu_seconds()
    start = time.perf_counter()
    outcomes = render_many(paths, spec, cache, workers=workers)
    wall = time.perf_counter() - start
    cpu = cpu_seconds() - cpu  # the workers have exited and been reaped: their time is counted
    failed = [o.error for o in outcomes if o.error]
    if failed:
        raise SystemExit(f"render_many failed on {len(failed)} meshes, e.g. {failed[0]}")
    start = time.perf_counter()
    again = render_many(paths, spec, cache, workers=workers)
    warm = time.perf_counter() - start
    assert all(o.cached for o in again)
    return {"wall_s": wall, "cpu_s": cpu, "warm_wall_s": warm}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meshes", type=int, default=100)
    parser.add_argument("--views", type=int, default=8)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-single", action="store_true", help="skip our renderer with one worker")
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "render.json")
    args = parser.parse_args(argv)

    spec = ViewSpec(views=args.views, size=args.size)
    load_before = list(os.getloadavg())
    total_views = args.meshes * args.views
    tmp = Path(tempfile.mkdtemp(prefix="crossfold-bench-render-"))
    try:
        (tmp / "meshes").mkdir()
        paths = make_meshes(tmp / "meshes", args.meshes, args.seed)
        faces = [sum(len(g.faces) for g in trimesh.load(p, force="scene").dump()) for p in paths]
        rows: list[dict[str, Any]] = []

        (tmp / "baseline").mkdir()
        base = baseline(paths, spec, tmp / "baseline")
        rows.append({"method": "pyrender loop (baseline)", "workers": 1, **base})
        if not args.no_single and args.workers != 1:
            rows.append({"method": "render_many", "workers": 1, **ours(paths, spec, tmp / "cache1", 1)})
        rows.append(
            {
                "method": "render_many",
                "workers": args.workers,
                **ours(paths, spec, tmp / "cacheN", args.workers),
            }
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    for row in rows:
        row["views_per_s"] = total_views / row["wall_s"]
        row["ms_per_view"] = 1000.0 * row["wall_s"] / total_views
        row["cpu_ms_per_view"] = 1000.0 * row["cpu_s"] / total_views
        row["speedup"] = base["wall_s"] / row["wall_s"]

    machine = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "gl_renderer": base["gl_renderer"],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "pyopengl_platform": os.environ.get("PYOPENGL_PLATFORM", ""),
        "load_average_before": load_before,
        "load_average_after": list(os.getloadavg()),
    }
    print(f"machine: {machine['cpu']}, {machine['cores']} cores, GL: {machine['gl_renderer']}")
    print(
        "load average (1 min) before/after: "
        f"{load_before[0]:.2f} / {machine['load_average_after'][0]:.2f}"  # type: ignore[index]
        " (other processes competing for the cores slow the wall-clock numbers, not the CPU ones)"
    )
    print(
        f"workload: {args.meshes} meshes ({min(faces)}-{max(faces)} faces, mean {np.mean(faces):.0f}) "
        f"x {args.views} views at {args.size} px = {total_views} views, cold cache"
    )
    header = (
        f"{'method':<26} {'workers':>7} {'wall s':>8} {'views/s':>9} {'ms/view':>8} {'CPU ms/view':>12} "
        f"{'speedup':>8}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['method']:<26} {row['workers']:>7} {row['wall_s']:>8.2f} {row['views_per_s']:>9.1f} "
            f"{row['ms_per_view']:>8.2f} {row['cpu_ms_per_view']:>12.2f} {row['speedup']:>7.1f}x"
        )
    for row in rows:
        if "warm_wall_s" in row:
            print(
                f"cached second call ({row['workers']} workers): {row['warm_wall_s'] * 1000:.0f} ms for "
                f"{args.meshes} meshes, no worker started"
            )
    result = {
        "benchmark": "render",
        "machine": machine,
        "params": {
            "meshes": args.meshes,
            "views": args.views,
            "size": args.size,
            "workers": args.workers,
            "seed": args.seed,
            "faces_mean": float(np.mean(faces)),
        },
        "rows": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
