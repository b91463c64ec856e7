"""Faults of the machine, not the input: a full disk, a read-only one, a catalogue whose JSON values a cut page
damaged while SQLite's integrity check still passes, a catalogue set aside by an earlier repair.

The disk cases share one small workspace on a tmpfs (``mount -t tmpfs``: root, as on CI), made once from the state
corpus's template; each case's ``setup`` sets the disk's state (so much free space, read-only or not) before its
command runs. Where mounting is not allowed, :func:`machine_cases` leaves the disk cases out and says why
(:data:`SKIPPED`). :func:`unmount_all` (called by the runner after the corpus) takes the tmpfs down.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

from engine.render.cache import TEMP_PREFIX
from tests.faults.case import FaultCase
from tests.faults.corpus_render import GOOD_OBJ
from tests.faults.corpus_state import ALWAYS_FORBIDDEN, DATASET, RUN, _copy_template, build_template
from tests.faults.runner import trainer

#: why the disk cases were left out ("" when they run)
SKIPPED: list[str] = []
_MOUNTS: list[Path] = []
#: the tmpfs: the template's workspace (one checkpoint, linked as best.pt too) and room to spare
DISK_SIZE = "200m"
STALE_TEMP = ".step_00000009.pt.killed.tmp"


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False)


def unmount_all() -> None:
    while _MOUNTS:
        _run("umount", "-l", str(_MOUNTS.pop()))


def _mount(mount: Path) -> str:
    """Mount a tmpfs at ``mount``: "" when done, else why not."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root (as on CI)"
    mount.mkdir(parents=True, exist_ok=True)
    done = _run("mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE}", "tmpfs", str(mount))
    if done.returncode != 0:
        return f"mount -t tmpfs is not allowed here ({done.stderr.strip() or done.returncode})"
    _MOUNTS.append(mount)
    atexit.register(unmount_all)
    view = mount.with_name(mount.name + "-ro")  # the same disk, mounted read-only (open files do not stop it)
    view.mkdir(exist_ok=True)
    if _run("mount", "--bind", str(mount), str(view)).returncode != 0:
        return "mount --bind is not allowed here"
    _MOUNTS.append(view)
    if _run("mount", "-o", "remount,bind,ro", str(view)).returncode != 0:
        return "mount -o remount,bind,ro is not allowed here"
    return ""


class Disk:
    """The tmpfs and its workspace; ``state(free)`` is a case's ``setup``."""

    def __init__(self, mount: Path, template: Path) -> None:
        self.mount, self.ws = mount, mount / "ws"
        _copy_template(template)(self.ws)
        checkpoints = self.ws / "runs" / RUN / "checkpoints"
        step = next(checkpoints.glob("step_*.pt"))
        step.unlink()
        os.link(checkpoints / "best.pt", step)  # one checkpoint's space, not two

    @staticmethod
    def fill(mount: Path, free: int) -> None:
        """Leave ``free`` bytes on the tmpfs at ``mount`` (a filler file takes the rest)."""
        filler = mount / "filler"
        filler.unlink(missing_ok=True)
        gc.collect()  # files an earlier in-process case left open and unlinked: their space freed now, not mid-case
        st = os.statvfs(mount)
        with open(filler, "wb") as f, contextlib.suppress(OSError):
            f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - free))

    def state(self, free: int = 0, without_indexes: bool = False) -> Callable[[Path], None]:
        def setup(_ws: Path) -> None:
            (self.mount / "filler").unlink(missing_ok=True)
            if without_indexes:
                shutil.rmtree(self.ws / "indexes" / RUN, ignore_errors=True)
            for side in ("-wal", "-shm"):  # what an earlier case's failed open left, empty
                side_file = self.ws / f"catalog.sqlite{side}"
                if side_file.exists() and side_file.stat().st_size == 0:
                    side_file.unlink()
            for aside in self.ws.glob("catalog.sqlite.*-2*"):
                aside.unlink()
            (self.ws / "runs" / RUN / "checkpoints" / STALE_TEMP).write_bytes(b"\0" * 4096)
            self.fill(self.mount, free)

        return setup


def _json_damage(ws: Path) -> None:
    """What a cut last page did in the issue's catalogue: JSON text half zeros, SQLite's integrity check passing."""
    conn = sqlite3.connect(ws / "catalog.sqlite")
    try:
        for table, column in (("runs", "config"), ("runs", "metrics"), ("datasets", "meta")):
            (value,) = conn.execute(f"SELECT {column} FROM {table} LIMIT 1").fetchone()
            half = len(value) // 2
            conn.execute(f"UPDATE {table} SET {column} = ?", (value[:half] + "\0" * (len(value) - half),))
        conn.commit()
    finally:
        conn.close()


def _set_aside(ws: Path) -> None:
    """A good catalogue sits aside as ``catalog.sqlite.damaged-<time>`` (what the old advice did on a full disk)."""
    src = sqlite3.connect(ws / "catalog.sqlite")
    dst = sqlite3.connect(ws / "catalog.sqlite.damaged-20260101T000000Z")
    src.backup(dst)
    dst.close()
    src.close()


def _nothing_left(ws: Path, _output: str) -> list[str]:
    """A disk case leaves no catalogue moved aside and no temporary file (but the stale one its setup planted)."""
    wrong = [f"catalogue moved aside: {p.name}" for p in ws.glob("catalog.sqlite.damaged-*")]
    return wrong + [f"temporary file left: {p}" for p in ws.rglob("*.tmp") if p.name != STALE_TEMP]


MESHES = "meshes"


def _mesh_dataset(disk: Disk) -> Callable[[Path], None]:
    """A case's ``setup``: a shape dataset of two small meshes (imported into the disk's workspace once, while
    there is room), then the disk full."""

    def setup(ws: Path) -> None:
        (disk.mount / "filler").unlink(missing_ok=True)
        source = disk.mount / "mesh-source"
        if not source.is_dir():
            source.mkdir()
            for i in range(2):  # two files, two renders (the cache keys a mesh by its bytes)
                (source / f"cube{i}.obj").write_text(f"{GOOD_OBJ}# cube {i}\n")
            code, _, err, _, _ = trainer(["import", "folder", str(source), "--name", MESHES, "--up", "z",
                                          "--workspace", str(ws)])
            assert code == 0, err
        disk.state(0)(ws)

    return setup


def _renders_nothing_left(ws: Path, output: str) -> list[str]:
    """A render on a full disk: one \"no space\" line, no half-made cache entry, nothing moved aside."""
    renders = ws / "renders"
    wrong = _nothing_left(ws, output)
    wrong += [f"temporary render left: {p}" for p in renders.rglob(f"{TEMP_PREFIX}*")] if renders.is_dir() else []
    return wrong + ([] if "no space left on the disk holding" in output else ["no \"no space left\" line"])


def machine_cases(tmp: Path) -> list[FaultCase]:
    template = build_template(tmp / "template")
    cases: list[FaultCase] = []
    forbid = (*ALWAYS_FORBIDDEN, "damaged", "hnswlib header", "truncated")

    # the catalogue's JSON values, each case in its own copy (not on the tmpfs)
    copy = _copy_template(template)

    def json_case(name: str, argv: list[str], expect: int, damage: Callable[[Path], None] = _json_damage) -> None:
        ws = tmp / "cases" / name

        def setup(root: Path) -> None:
            copy(root)
            damage(root)

        cases.append(FaultCase(name, "catalog-json", [*argv, "--workspace", str(ws)], expect, setup=setup,
                               forbidden_output=(*ALWAYS_FORBIDDEN, "JSONDecodeError")))

    json_case("json-damaged-runs-list", ["runs", "list"], 0)
    json_case("json-damaged-runs-show", ["runs", "show", RUN], 0)
    json_case("json-damaged-datasets-show", ["datasets", "show", DATASET], 0)
    json_case("json-damaged-doctor", ["doctor"], 1)
    json_case("json-damaged-repair", ["doctor", "--repair"], 0)
    json_case("aside-catalogue-doctor", ["doctor"], 0, _set_aside)

    mount = tmp / "machine-disk"
    why = _mount(mount)
    if why:
        SKIPPED.append(why)
        return cases
    disk = Disk(mount, template)
    ws = str(disk.ws)
    csv = tmp / "machine-source.csv"
    csv.write_text("filepath,title\n" + "".join(f"{template}/views/{i:03d}_0.png,caption {i}\n" for i in range(3)))
    search = ["search", "--run", RUN, "--text", "a red square", "--device", "cpu"]
    train = ["train", "--dataset", DATASET, "--model", "cf-vit-tiny-64", "--device", "cpu", "--batch-size", "4",
             "--views-per-item", "2", "--captions-per-item", "2", "--workers", "0"]

    def add(name: str, argv: list[str], expect: int, free: int = 0, read_only: bool = False,
            good_records: int | None = None, without_indexes: bool = False) -> None:
        root = str(mount.with_name(mount.name + "-ro") / "ws") if read_only else ws
        cases.append(FaultCase(name, "machine", [*argv, "--workspace", root], expect, good_records=good_records,
                               setup=disk.state(free, without_indexes), forbidden_output=forbid,
                               check=_nothing_left, shared_workspace=True))

    # a full disk: reads work, writes say so in one line, nothing is called damaged or moved aside
    add("full-datasets-list", ["datasets", "list"], 0)
    add("full-datasets-show", ["datasets", "show", DATASET], 0)
    add("full-runs-list", ["runs", "list"], 0)
    add("full-search", search, 0)
    add("full-eval", ["eval", "--run", RUN, "--device", "cpu"], 0)
    add("full-doctor", ["doctor"], 0)
    add("full-repair", ["doctor", "--repair"], 2)
    add("full-import", ["import", "csv", str(csv), "--name", "n"], 2, good_records=0)
    add("full-import-some-room", ["import", "csv", str(csv), "--name", "n2"], 2, free=48 << 10, good_records=0)
    add("full-train", [*train, "--name", "new", "--max-steps", "1"], 2)
    add("full-train-resume", [*train, "--name", RUN, "--resume", "latest", "--max-steps", "3"], 2)
    cases.append(FaultCase("full-render", "machine", ["render", MESHES, "--views", "2", "--size", "32", "--workers",
                                                      "1", "--workspace", ws], 2, setup=_mesh_dataset(disk),
                           forbidden_output=forbid, check=_renders_nothing_left, shared_workspace=True))
    # a read-only disk
    room = 16 << 20
    add("ro-datasets-list", ["datasets", "list"], 0, free=room, read_only=True)
    add("ro-search", search, 0, free=room, read_only=True)
    add("ro-doctor", ["doctor"], 0, free=room, read_only=True)
    add("ro-import", ["import", "csv", str(csv), "--name", "n"], 2, free=room, read_only=True)
    add("ro-train", [*train, "--name", "new", "--max-steps", "1"], 2, free=room, read_only=True)
    # a rebuild over indexes that are there (another path; the same after an upgrade of a path): hnswlib writes a
    # short file to a full disk without an error, which must read as the full disk, never as a damaged index
    add("full-index-rebuild", ["index", "--run", RUN, "--device", "cpu", "--exact"], 2)
    # last: an index build with its indexes gone (the cases above search them); `trainer pack` on a full disk is
    # test_machine_faults.py's child process (a regression there is SIGBUS, which would end this process)
    add("full-index", ["index", "--run", RUN, "--device", "cpu"], 2, without_indexes=True)
    return cases


def restore_disk(ws: Path) -> None:
    """After a disk case: room again (for what a test checks next)."""
    with contextlib.suppress(OSError):
        (ws.parent / "filler").unlink()
