"""Big folders without captions, as people keep them: import, list/show, render, zero-shot index, search, rescan.

    .venv/bin/python bench/big_folders.py                       # 50,000 meshes and 100,000 photos (issue 19, section 5)
    .venv/bin/python bench/big_folders.py --quick               # 2,000 meshes, 4,000 photos, 100 renders: a check
    .venv/bin/python bench/big_folders.py --workdir /tmp/bf --keep --json /tmp/bf.json

The source (generated, timed but not measured) lies in ``WORKDIR/data``, outside the workspace (``WORKDIR/ws``), as
a user's folders do:

* ``data/meshes/<category>/<category>_NNNNNN.{off,obj,ply}``: ``--meshes`` tiny meshes (8-48 vertices) in
  ModelNet40's 40 category sub-folders, Z-up, the three formats in turn; every file a distinct mesh (one of six
  trimesh primitives scaled per axis), so the render cache (keyed by the file's sha256) dedups nothing;
* ``data/photos/<year>/<NNN>/IMG_NNNNNN.JPG`` (4 in 5) and ``Screenshot_NNNNNN.png``, 1,000 per sub-folder:
  ``--photos`` small pictures (128x96), each the bytes of one of 64 pre-encoded pictures with its own comment
  (a JPEG COM segment, a PNG tEXt chunk): a real file to verify and decode, written without encoding each;
* ``data/mesh-sample``: hard links to ``--render-sample`` meshes spread over the categories (``trainer render``
  renders a whole dataset: the sample is a dataset of its own, imported the same way).

Measured, every command the real ``trainer`` CLI as a child process (Python's start-up included): wall time, CPU
time (user + system, of the child and the workers it waited for: ``wait4``; what a busy machine does not inflate)
and peak memory, polled every 100 ms (``MemoryPoll``): the largest VmHWM of one process of the child's tree (``max
RSS``: the kernel's high-water mark; not ``ru_maxrss``, which on Linux keeps the forking parent's peak) and the
largest sum of the tree's RSS (``peak RSS (tree)``: a render pool or decode workers included; shared pages counted
once per process):

* **import**: ``trainer import folder DIR --name N`` (``--up z`` for meshes), no caption file anywhere;
* **list / show**: ``trainer datasets list --json`` and ``trainer datasets show NAME --json``, the median of
  ``--repeats``;
* **render**: ``trainer render mesh-sample`` (``--views``/``--size``, default the command's 8 views of 224 px, all
  cores): meshes/s and views/s of the sample (never the whole folder);
* **zero-shot index**: ``trainer index --model cf-rn-tiny-64 --pretrained W --dataset D`` with ``W`` a bare
  ``state_dict`` file of a randomly initialised ``cf-rn-tiny-64`` (as the tests make it): the photos (every one,
  or ``--index-photos N``: a sample dataset of N of them, imported the same way) and the rendered mesh sample;
  items/s;
* **search**: ``Searcher.search(text=...)`` in this process (one torch thread, as the app's search worker), the
  run and its index loaded by a first query, then ``--queries`` text queries: p50/p99; and one ``trainer search
  --text`` (median of ``--repeats``);
* **rescan**: the same ``trainer import folder`` again on the unchanged folder (it synchronises: added, removed,
  changed, unchanged), its time as a share of the first import; then after 1 % of the files changed (half
  rewritten with other contents, half only touched: a new mtime), 0.1 % deleted and as many added: the time and
  the counts it reports, against the counts expected.

``--in-process`` runs the commands through ``trainer.cli.main`` in this process instead (CPU time, no memory
figures): the test's tiny run, where a child per command would load torch again and again.

Prints the machine and a table; writes JSON (``--json``, default ``bench/results/big_folders.json``), whose
``rows`` hold the table (``ROWS`` names them).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe, machine  # noqa: E402

MODEL = "cf-rn-tiny-64"
MESHES, PHOTOS, SAMPLE, PHOTO_SAMPLE = "meshes", "photos", "mesh-sample", "photo-sample"
MESH_RUN, PHOTO_RUN = "mesh-sample-zs", "photos-zs"
CATEGORIES = ("airplane", "bathtub", "bed", "bench", "bookshelf", "bottle", "bowl", "car", "chair", "cone", "cup",
              "curtain", "desk", "door", "dresser", "flower_pot", "glass_box", "guitar", "keyboard", "lamp", "laptop",
              "mantel", "monitor", "night_stand", "person", "piano", "plant", "radio", "range_hood", "sink", "sofa",
              "stairs", "stool", "table", "tent", "toilet", "tv_stand", "vase", "wardrobe", "xbox")
MESH_FORMATS = ("off", "obj", "ply")
PHOTO_BASES = 64
PHOTOS_PER_FOLDER = 1000
QUERIES = ("a chair", "a red car", "a dog on the beach", "a table with four legs", "a lamp", "a bottle",
           "a sunset over the sea", "a screenshot of a chat", "an airplane", "a cup of coffee", "a guitar",
           "a birthday cake", "a plant in a pot", "a sofa", "mountains in the snow")
ROWS = ("generate meshes", "generate photos", "import meshes", "import photos", "datasets list", "datasets show meshes",
        "datasets show photos", "render sample", "index photos", "index mesh sample", "search photos",
        "search mesh sample", "trainer search (one shot)", "rescan meshes, unchanged", "rescan photos, unchanged",
        "rescan meshes, 1 % changed", "rescan photos, 1 % changed")


# ---- the source (timed, not measured) -----------------------------------------------------------------------
def mesh_templates() -> list[tuple[np.ndarray, np.ndarray]]:
    """(vertices, faces) of six small primitives, unit-sized."""
    import trimesh

    c = trimesh.creation
    meshes = [c.box(extents=(1.0, 1.0, 1.0)), c.cylinder(radius=0.5, height=1.0, sections=16),
              c.cone(radius=0.5, height=1.0, sections=16), c.icosphere(subdivisions=1, radius=0.5),
              c.capsule(height=0.6, radius=0.3, count=(6, 6)), c.annulus(r_min=0.25, r_max=0.5, height=0.4, sections=12)]
    return [(np.asarray(m.vertices, np.float64), np.asarray(m.faces, np.int64)) for m in meshes]


def mesh_text(vertices: np.ndarray, faces: np.ndarray, fmt: str, faces_text: dict[tuple[int, str], str],
              template: int) -> str:
    """One mesh as OFF, OBJ or ASCII PLY text; the faces' text is formatted once per template and format."""
    n, m = len(vertices), len(faces)
    key = (template, fmt)
    if key not in faces_text:
        row = "f %d %d %d\n" if fmt == "obj" else "3 %d %d %d\n"
        faces_text[key] = (row * m) % tuple((faces + (1 if fmt == "obj" else 0)).ravel().tolist())
    prefix = "v " if fmt == "obj" else ""
    coords = ((prefix + "%.5f %.5f %.5f\n") * n) % tuple(vertices.ravel().tolist())
    if fmt == "off":
        return f"OFF\n{n} {m} 0\n{coords}{faces_text[key]}"
    if fmt == "ply":
        header = (f"ply\nformat ascii 1.0\nelement vertex {n}\nproperty float x\nproperty float y\nproperty float z\n"
                  f"element face {m}\nproperty list uchar int vertex_indices\nend_header\n")
        return header + coords + faces_text[key]
    return f"# mesh\n{coords}{faces_text[key]}"


class MeshWriter:
    """Writes mesh ``i`` of the folder: its category, format and primitive follow from ``i``, its scale from a
    seeded generator (``variant`` > 0 for a changed file: other contents)."""

    def __init__(self, root: Path, seed: int) -> None:
        self.root, self.seed = root, seed
        self.templates = mesh_templates()
        self.faces_text: dict[tuple[int, str], str] = {}

    def path(self, i: int) -> Path:
        category = CATEGORIES[i % len(CATEGORIES)]
        return self.root / category / f"{category}_{i:06d}.{MESH_FORMATS[(i // len(CATEGORIES)) % 3]}"

    def write(self, i: int, variant: int = 0) -> Path:
        path = self.path(i)
        template = i % len(self.templates)
        vertices, faces = self.templates[template]
        scale = np.random.default_rng((self.seed, i, variant)).uniform(0.4, 1.6, 3)
        path.write_text(mesh_text(vertices * scale, faces, path.suffix[1:], self.faces_text, template))
        return path


def photo_bases(seed: int) -> list[tuple[bytes, bytes]]:
    """(JPEG bytes, PNG bytes) of ``PHOTO_BASES`` small pictures: gradients and blobs, a little noise."""
    import io

    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:96, 0:128]
    out = []
    for i in range(PHOTO_BASES):
        base = rng.integers(30, 225, 3)
        pixels = np.stack([base[ch] + 50 * np.sin(x / (9 + 3 * ch) + i) + 40 * np.cos(y / (7 + 2 * ch)) for ch in
                           range(3)], axis=2)
        image = Image.fromarray(np.clip(pixels + rng.normal(0, 6, pixels.shape), 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        for _ in range(4):
            x0, y0 = int(rng.integers(0, 100)), int(rng.integers(0, 70))
            draw.ellipse((x0, y0, x0 + int(rng.integers(10, 60)), y0 + int(rng.integers(10, 50))),
                         fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
        jpeg, png = io.BytesIO(), io.BytesIO()
        image.save(jpeg, "JPEG", quality=85)
        image.quantize(64).convert("RGB").save(png, "PNG")  # a screenshot's few colours
        out.append((jpeg.getvalue(), png.getvalue()))
    return out


def with_comment(data: bytes, comment: bytes) -> bytes:
    """The same picture with its own comment: a JPEG COM segment after SOI, a PNG tEXt chunk after IHDR."""
    if data[:2] == b"\xff\xd8":
        return data[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + data[2:]
    payload = b"Comment\x00" + comment
    chunk = struct.pack(">I", len(payload)) + b"tEXt" + payload + struct.pack(">I", zlib.crc32(b"tEXt" + payload))
    return data[:33] + chunk + data[33:]  # signature (8) + IHDR (25)


class PhotoWriter:
    """Writes photo ``i``: a JPEG (4 in 5) or a PNG screenshot, 1,000 per sub-folder."""

    def __init__(self, root: Path, seed: int) -> None:
        self.root = root
        self.bases = photo_bases(seed)

    def path(self, i: int) -> Path:
        folder = self.root / str(2015 + i // (PHOTOS_PER_FOLDER * 20)) / f"{i // PHOTOS_PER_FOLDER:03d}"
        return folder / (f"Screenshot_{i:06d}.png" if i % 5 == 4 else f"IMG_{i:06d}.JPG")

    def write(self, i: int, variant: int = 0) -> Path:
        path = self.path(i)
        jpeg, png = self.bases[(i * 7 + variant * 13) % PHOTO_BASES]
        path.write_bytes(with_comment(png if i % 5 == 4 else jpeg, f"photo {i} v{variant}".encode()))
        return path


def generate(writer: MeshWriter | PhotoWriter, count: int) -> dict[str, Any]:
    start = time.perf_counter()
    made: set[Path] = set()
    size = 0
    for i in range(count):
        folder = writer.path(i).parent
        if folder not in made:
            folder.mkdir(parents=True, exist_ok=True)
            made.add(folder)
        size += writer.write(i).stat().st_size
    return {"seconds": time.perf_counter() - start, "files": count, "bytes": size, "folders": len(made)}


def link_sample(writer: MeshWriter | PhotoWriter, count: int, sample: int, dest: Path) -> int:
    """Hard links to ``sample`` files spread evenly over the folder (so over its categories), in ``dest``."""
    step = count / sample
    for j in range(sample):
        src = writer.path(int(j * step))
        link = dest / src.relative_to(writer.root)
        link.parent.mkdir(parents=True, exist_ok=True)
        os.link(src, link)
    return sample


# ---- measurements -------------------------------------------------------------------------------------------
def status_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB, from ``/proc/PID/status`` (0, 0 when it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0, 0
    fields = dict(line.split(":", 1) for line in text.splitlines() if line.startswith(("VmRSS", "VmHWM")))
    return (int(fields.get("VmRSS", "0 kB").split()[0]), int(fields.get("VmHWM", "0 kB").split()[0]))


class MemoryPoll:
    """Polls a child's process tree every ``interval`` s: the largest sum of the processes' RSS (shared pages count
    once per process: an upper bound for a pool of forked workers) and the largest VmHWM of any one process (the
    kernel's high-water mark of its resident memory since it started: exact but for growth in the last poll)."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid, self.interval = pid, interval
        self.tree_kib = self.hwm_kib = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
            while not self.done.is_set():
                pids = [self.pid, *(c.pid for c in root.children(recursive=True))]
                read = [status_kib(p) for p in pids]
                self.tree_kib = max(self.tree_kib, sum(rss for rss, _ in read))
                self.hwm_kib = max(self.hwm_kib, *(hwm for _, hwm in read))
                self.done.wait(self.interval)
        except psutil.NoSuchProcess:
            pass

    def stop(self) -> None:
        self.done.set()
        self.thread.join()


class Cli:
    """Runs ``trainer ARGS --workspace W``: as a child process (the measurement), or with ``in_process`` through
    ``trainer.cli.main`` in this process (the test's tiny run: no start-up per command; CPU time only, no memory)."""

    def __init__(self, workspace: Path, in_process: bool = False) -> None:
        self.workspace, self.in_process = workspace, in_process

    def run(self, args: list[str]) -> dict[str, Any]:
        """Seconds, CPU seconds, memory (child processes: :class:`MemoryPoll`) and stdout (parsed when JSON)."""
        argv = [*args, "--workspace", str(self.workspace)]
        code, stdout, stderr, done = self._here(argv) if self.in_process else self._child(argv)
        if code != 0:
            raise SystemExit(f"error: trainer {' '.join(args)} exited with {code}: {stderr.strip()[-2000:]}")
        try:
            done["output"] = json.loads(stdout)
        except json.JSONDecodeError:
            done["output"] = stdout.strip()
        return done

    def median(self, args: list[str], repeats: int) -> float:
        return statistics.median(self.run(args)["seconds"] for _ in range(repeats))

    @staticmethod
    def _child(argv: list[str]) -> tuple[int, str, str, dict[str, Any]]:
        env = {**os.environ, "HF_HUB_OFFLINE": "1",
               "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            start = time.perf_counter()
            child = subprocess.Popen([sys.executable, "-m", "trainer", *argv], cwd=REPO, env=env, stdout=out,
                                     stderr=err, text=True)
            memory = MemoryPoll(child.pid)
            _, status, usage = os.wait4(child.pid, 0)  # its CPU time, and that of the children it waited for
            seconds = time.perf_counter() - start
            memory.stop()
            child.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(), err.read()
        return child.returncode, stdout, stderr, {
            "seconds": seconds, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mib": memory.tree_kib / 1024,
            "max_rss_mib": memory.hwm_kib / 1024}

    @staticmethod
    def _here(argv: list[str]) -> tuple[int, str, str, dict[str, Any]]:
        import contextlib
        import io
        import resource

        from trainer.cli import main as trainer_main

        def cpu() -> float:
            return sum(u.ru_utime + u.ru_stime for u in map(resource.getrusage, (resource.RUSAGE_SELF,
                                                                                 resource.RUSAGE_CHILDREN)))

        out, err = io.StringIO(), io.StringIO()
        start, started = time.perf_counter(), cpu()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = trainer_main(argv)
        return code, out.getvalue(), err.getvalue(), {"seconds": time.perf_counter() - start, "cpu_s": cpu() - started,
                                                      "peak_rss_mib": None, "max_rss_mib": None}


def import_folder(cli: Cli, folder: Path, name: str, meshes: bool) -> dict[str, Any]:
    up = ["--up", "z"] if meshes else []
    done = cli.run(["import", "folder", str(folder), "--name", name, *up, "--json"])
    report = done.pop("output")
    done["report"] = {k: report.get(k) for k in ("items_added", "captioned_items_added", "items_removed",
                                                 "items_changed", "items_unchanged", "skipped", "synced")}
    return done


def measure_index(cli: Cli, weights: Path, dataset: str, run: str) -> dict[str, Any]:
    done = cli.run(["index", "--model", MODEL, "--pretrained", str(weights), "--dataset", dataset, "--name", run,
                    "--device", "cpu", "--json"])
    modalities = done.pop("output")["modalities"]
    done["counts"] = {m: d["count"] for m, d in modalities.items()}
    items = modalities["shape"]["count"] if "shape" in modalities else modalities["image"]["count"]
    done.update(items=items, items_per_s=items / done["seconds"])
    return done


def measure_search(workspace: Path, run: str, target: str, queries: int) -> dict[str, Any]:
    import torch

    from engine.search import Searcher
    from engine.workspace import Workspace

    torch.set_num_threads(1)  # as the app's search worker
    searcher = Searcher(Workspace.open(workspace), run, device="cpu")
    start = time.perf_counter()
    first = searcher.search(text=QUERIES[0], target=target, k=10)
    first_s = time.perf_counter() - start
    times = []
    for i in range(queries):
        text = QUERIES[i % len(QUERIES)] + ("" if i < len(QUERIES) else f" {i}")
        start = time.perf_counter()
        searcher.search(text=text, target=target, k=10)
        times.append((time.perf_counter() - start) * 1e3)
    return {"first_s": first_s, "p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99)),
            "queries": queries, "hits": len(first.hits)}


def change_folder(writer: MeshWriter | PhotoWriter, count: int, seed: int) -> dict[str, int]:
    """1 % of the files changed (half rewritten with other contents, half touched), 0.1 % deleted, as many
    added (new numbers after the last): the counts a rescan should report."""
    rng = np.random.default_rng(seed)
    changed_n, moved_n = max(2, count // 100), max(1, count // 1000)
    picked = rng.choice(count, changed_n + moved_n, replace=False)
    changed, deleted = picked[:changed_n], picked[changed_n:]
    later = time.time() + 60
    for n, i in enumerate(changed.tolist()):
        if n % 2:
            os.utime(writer.path(i), (later, later))
        else:
            writer.write(i, variant=1)
    for i in deleted.tolist():
        writer.path(i).unlink()
    for i in range(count, count + moved_n):
        writer.path(i).parent.mkdir(parents=True, exist_ok=True)
        writer.write(i)
    return {"items_added": moved_n, "items_removed": moved_n, "items_changed": changed_n,
            "items_unchanged": count - changed_n - moved_n}


def rescan(cli: Cli, folder: Path, name: str, meshes: bool, first: dict[str, Any]) -> dict[str, Any]:
    done = import_folder(cli, folder, name, meshes)
    done["share_of_first_import"] = done["seconds"] / first["seconds"]
    done["cpu_share_of_first_import"] = done["cpu_s"] / first["cpu_s"]
    return done


# ---- the run --------------------------------------------------------------------------------------------------
def measure_all(args: argparse.Namespace, workdir: Path, r: dict[str, Any]) -> None:
    """Every row, in order, into ``r``: the source and its import, list/show, render, index and search, rescans."""
    data, cli = workdir / "data", Cli(workdir / "ws", in_process=args.in_process)
    meshes, photos = MeshWriter(data / "meshes", args.seed), PhotoWriter(data / "photos", args.seed)
    step("generate", f"{args.meshes:,} meshes, {args.photos:,} photos in {data}")
    r["generate"] = {"meshes": generate(meshes, args.meshes), "photos": generate(photos, args.photos)}
    step("import", "meshes, then photos")
    r["import"] = {"meshes": import_folder(cli, meshes.root, MESHES, True),
                   "photos": import_folder(cli, photos.root, PHOTOS, False)}
    step("datasets list/show", f"median of {args.repeats}")
    r["datasets"] = {"list_s": cli.median(["datasets", "list", "--json"], args.repeats),
                     "show_meshes_s": cli.median(["datasets", "show", MESHES, "--json"], args.repeats),
                     "show_photos_s": cli.median(["datasets", "show", PHOTOS, "--json"], args.repeats)}
    step("render", f"a sample of {args.render_sample} meshes, {args.views} views of {args.size} px")
    link_sample(meshes, args.meshes, args.render_sample, data / SAMPLE)
    r["render"] = measure_render(cli, data / SAMPLE, args)
    measure_index_and_search(cli, workdir, photos, args, r)
    step("rescan", "unchanged folders")
    first_m, first_p = r["import"]["meshes"], r["import"]["photos"]
    r["rescan"] = {"meshes_unchanged": rescan(cli, meshes.root, MESHES, True, first_m),
                   "photos_unchanged": rescan(cli, photos.root, PHOTOS, False, first_p)}
    step("rescan", "after 1 % changed, 0.1 % deleted and as many added")
    for name, writer, count, first, is_mesh in (("meshes", meshes, args.meshes, first_m, True),
                                                ("photos", photos, args.photos, first_p, False)):
        expected = change_folder(writer, count, args.seed)
        done = rescan(cli, writer.root, name, is_mesh, first)
        done["expected"] = expected
        done["as_expected"] = all(done["report"][k] == v for k, v in expected.items())
        r["rescan"][f"{name}_changed"] = done


def measure_render(cli: Cli, sample: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The sample imported as a dataset of its own (``trainer render`` renders a whole dataset), then rendered."""
    import_folder(cli, sample, SAMPLE, True)
    render = cli.run(["render", SAMPLE, "--views", str(args.views), "--size", str(args.size), "--json"])
    out = render.pop("output")
    render.update(sample=args.render_sample, views=args.views, size=args.size, rendered=out["rendered"],
                  cached=out["cached"], failed=len(out["failed"]), meshes_per_s=out["rendered"] / render["seconds"],
                  views_per_s=out["rendered"] * args.views / render["seconds"])
    return render


def measure_index_and_search(cli: Cli, workdir: Path, photos: PhotoWriter, args: argparse.Namespace,
                             r: dict[str, Any]) -> None:
    weights = workdir / "cf-rn-tiny-64.pt"
    save_weights(weights)
    photo_set = PHOTOS
    if 0 < args.index_photos < args.photos:
        photo_set = PHOTO_SAMPLE
        link_sample(photos, args.photos, args.index_photos, workdir / "data" / PHOTO_SAMPLE)
        import_folder(cli, workdir / "data" / PHOTO_SAMPLE, PHOTO_SAMPLE, False)
    step("index", f"{photo_set}, then {SAMPLE}, with {MODEL} from a bare state_dict")
    r["index"] = {"photos": {**measure_index(cli, weights, photo_set, PHOTO_RUN), "dataset": photo_set},
                  "mesh_sample": {**measure_index(cli, weights, SAMPLE, MESH_RUN), "dataset": SAMPLE}}
    step("search", f"{args.queries} text queries in process, then trainer search")
    r["search"] = {"photos": measure_search(cli.workspace, PHOTO_RUN, "images", args.queries),
                   "mesh_sample": measure_search(cli.workspace, MESH_RUN, "shapes", args.queries),
                   "cli_s": cli.median(["search", "--run", PHOTO_RUN, "--text", QUERIES[1], "--target", "images",
                                        "--k", "10", "--device", "cpu", "--json"], args.repeats)}


def save_weights(path: Path) -> None:
    """A bare ``state_dict`` of a randomly initialised ``cf-rn-tiny-64`` (seed 0), as the tests make it."""
    import logging

    import open_clip
    import torch

    import engine.models  # noqa: F401 - registers cf-rn-tiny-64 with open_clip

    torch.manual_seed(0)
    logging.disable(logging.WARNING)  # open_clip's "No pretrained weights loaded": random weights are the point
    try:
        torch.save(open_clip.create_model(MODEL).state_dict(), path)
    finally:
        logging.disable(logging.NOTSET)


def step(what: str, detail: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {what}: {detail}", flush=True)


# ---- report -------------------------------------------------------------------------------------------------
def mem(d: dict[str, Any]) -> str:
    if d["max_rss_mib"] is None:
        return "memory not measured (--in-process)"
    return f"peak RSS {d['peak_rss_mib']:.0f} MiB (tree), max RSS {d['max_rss_mib']:.0f} MiB"


def counts(report: dict[str, Any]) -> str:
    return ", ".join(f"{k.removeprefix('items_')} {report[k]:,}" for k in
                     ("items_added", "items_removed", "items_changed", "items_unchanged"))


def table_rows(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(what, time, notes) for each of ``ROWS``, in that order."""
    g, imp, ds, ren, ix, se, rs = (r[k] for k in ("generate", "import", "datasets", "render", "index", "search",
                                                  "rescan"))
    rows = [(f"generate {k}", f"{g[k]['seconds']:.1f} s", f"{g[k]['files']:,} files in {g[k]['folders']} folders, "
             f"{g[k]['bytes'] / 2**20:.0f} MiB (not measured)") for k in ("meshes", "photos")]
    for k in ("meshes", "photos"):
        rep = imp[k]["report"]
        rows.append((f"import {k}", f"{imp[k]['seconds']:.1f} s", f"CPU {imp[k]['cpu_s']:.1f} s; {rep['items_added']:,} items "
                     f"({rep['captioned_items_added']} with captions), {rep['skipped']} skipped; {mem(imp[k])}"))
    rows += [("datasets list", f"{ds['list_s']:.2f} s", "--json, child process"),
             ("datasets show meshes", f"{ds['show_meshes_s']:.2f} s", "--json, child process"),
             ("datasets show photos", f"{ds['show_photos_s']:.2f} s", "--json, child process"),
             ("render sample", f"{ren['seconds']:.1f} s", f"**{ren['meshes_per_s']:.2f} meshes/s** "
              f"({ren['views_per_s']:.1f} views/s), sample of {ren['sample']:,}, {ren['views']} views x {ren['size']} "
              f"px, {ren['failed']} failed; {mem(ren)}")]
    for key, label in (("photos", "index photos"), ("mesh_sample", "index mesh sample")):
        d = ix[key]
        what = ", ".join(f"{n:,} {m}" for m, n in d["counts"].items())
        rows.append((label, f"{d['seconds']:.1f} s", f"**{d['items_per_s']:.1f} items/s** ({d['dataset']}: {what}); "
                     f"{mem(d)}"))
    for key, label in (("photos", "search photos"), ("mesh_sample", "search mesh sample")):
        d = se[key]
        rows.append((label, f"p50 {d['p50_ms']:.1f} / p99 {d['p99_ms']:.1f} ms",
                     f"{d['queries']} text queries, search() in process; first {d['first_s']:.2f} s (loads the run)"))
    rows.append(("trainer search (one shot)", f"{se['cli_s']:.2f} s", "--text, child process: torch, model, index"))
    for k in ("meshes", "photos"):
        d = rs[f"{k}_unchanged"]
        rows.append((f"rescan {k}, unchanged", f"{d['seconds']:.1f} s", f"**{d['share_of_first_import']:.2f}x** the "
                     f"first import (CPU {d['cpu_s']:.1f} s: {d['cpu_share_of_first_import']:.2f}x); "
                     f"{counts(d['report'])}; {mem(d)}"))
    for k in ("meshes", "photos"):
        d = rs[f"{k}_changed"]
        ok = "as expected" if d["as_expected"] else f"EXPECTED {counts(d['expected'])}"
        rows.append((f"rescan {k}, 1 % changed", f"{d['seconds']:.1f} s", f"{d['share_of_first_import']:.2f}x the "
                     f"first import (CPU {d['cpu_share_of_first_import']:.2f}x); {counts(d['report'])} ({ok})"))
    return rows


def print_table(r: dict[str, Any]) -> None:
    print(f"\n{describe(r['machine'])}")
    p = r["params"]
    print(f"{p['meshes']:,} meshes, {p['photos']:,} photos, no captions{' (--quick)' if p['quick'] else ''}\n")
    width = max(len(a) for a, _, _ in r["rows"])
    print(f"| {'what'.ljust(width)} | time | notes |\n|{'-' * (width + 2)}|---|---|")
    for a, b, c in r["rows"]:
        print(f"| {a.ljust(width)} | {b} | {c} |")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/big_folders.py", description=__doc__.split("\n")[0])
    p.add_argument("--meshes", type=int, default=50_000)
    p.add_argument("--photos", type=int, default=100_000)
    p.add_argument("--quick", action="store_true", help="2,000 meshes, 4,000 photos, 100 renders: a check")
    p.add_argument("--render-sample", type=int, default=300, help="meshes rendered (and indexed; default 300)")
    p.add_argument("--views", type=int, default=8, help="views per mesh (default 8, as trainer render)")
    p.add_argument("--size", type=int, default=224, help="view size in px (default 224, as trainer render)")
    p.add_argument("--index-photos", type=int, default=0, help="index a sample of N photos (default 0: all)")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--repeats", type=int, default=3, help="runs of list/show/search whose median is shown")
    p.add_argument("--workdir", type=Path, default=None, help="an empty or new folder for the data and the "
                   "workspace (default: a temp dir, removed unless --keep)")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--in-process", action="store_true", help="run the trainer commands through trainer.cli.main in "
                   "this process (the test's tiny run: no start-up per command, no memory figures)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=str(REPO / "bench" / "results" / "big_folders.json"))
    args = p.parse_args(argv)
    if args.quick:
        args.meshes, args.photos, args.render_sample = 2000, 4000, min(args.render_sample, 100)
    if min(args.meshes, args.photos, args.render_sample, args.views, args.size, args.queries, args.repeats) < 1:
        p.error("counts and sizes must be at least 1")
    args.render_sample = min(args.render_sample, args.meshes)
    if args.workdir is not None and args.workdir.exists() and any(args.workdir.iterdir()):
        p.error(f"--workdir {args.workdir}: not empty (the bench needs a fresh workspace)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="big-folders-"))
    workdir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"machine": machine(), "params": {
        k: getattr(args, k) for k in ("meshes", "photos", "quick", "render_sample", "views", "size", "index_photos",
                                      "queries", "repeats", "seed", "in_process")}}
    start = time.perf_counter()
    try:
        measure_all(args, workdir, result)
    finally:
        if args.workdir is None and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    result["total_s"] = time.perf_counter() - start
    result["rows"] = table_rows(result)
    print_table(result)
    print(f"\nwhole bench: {result['total_s']:.0f} s")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
