"""Hostile meshes for the renderer: ``trainer render`` of a folder of meshes (the bad ones reported and skipped,
the good one rendered) and ``trainer search --mesh`` with each bad mesh (exit 2, one line naming the file).

Category ``render``. The search cases ask the state corpus's template run (``tests/faults/corpus_state.py``).
"""

from __future__ import annotations

import struct
from pathlib import Path

from tests.faults.case import FaultCase
from tests.faults.corpus_state import RUN, _copy_template, build_template

GOOD_OBJ = "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 0 0 1\nv 1 0 1\nv 1 1 1\nv 0 1 1\n" + "".join(
    f"f {a} {b} {c}\n" for a, b, c in [(1, 2, 3), (1, 3, 4), (5, 6, 7), (5, 7, 8), (1, 2, 6), (1, 6, 5),
                                       (2, 3, 7), (2, 7, 6), (3, 4, 8), (3, 8, 7), (4, 1, 5), (4, 5, 8)])


def _binary_stl(triangles: int, truncate: bool) -> bytes:
    body = b"".join(struct.pack("<12fH", *([0.0] * 3), 0, 0, 0, 1, 0, 0, 0, 1, 0, 0) for _ in range(triangles))
    data = b"\0" * 80 + struct.pack("<I", triangles) + body
    return data[: len(data) // 2] if truncate else data


#: name -> (file name, bytes): meshes no renderer can make a picture of.
BAD_MESHES: dict[str, tuple[str, bytes]] = {
    "garbage-obj": ("garbage.obj", b"\x89\x00\xff not a mesh \x13\x37" * 40),
    "nan-obj": ("nan.obj", b"v nan 0 0\nv 1 nan 0\nv 0 1 nan\nf 1 2 3\n"),
    "inf-obj": ("inf.obj", b"v inf 0 0\nv 1 -inf 0\nv 0 1 0\nf 1 2 3\n"),
    "empty-obj": ("empty.obj", b""),
    "no-faces-obj": ("points.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\n"),
    "bad-index-obj": ("index.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 99\n"),
    "degenerate-obj": ("point.obj", b"v 1 1 1\nv 1 1 1\nv 1 1 1\nf 1 2 3\n"),
    "huge-obj": ("huge.obj", b"v 1e300 0 0\nv 0 1e300 0\nv 0 0 1e300\nf 1 2 3\n"),
    "truncated-stl": ("cut.stl", _binary_stl(50, truncate=True)),
    "header-only-ply": ("header.ply", b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nend_header\n"),
    "garbage-glb": ("garbage.glb", b"glTF\x02\x00\x00\x00" + b"\xff" * 64),
    "text-as-off": ("text.off", b"OFF\nthree four five\n"),
}


def render_cases(tmp: Path) -> list[FaultCase]:
    cases: list[FaultCase] = []
    # 1. one folder of meshes: each bad one reported at import or at render, the good one rendered
    folder = tmp / "meshes"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "good.obj").write_text(GOOD_OBJ)
    (folder / "good.txt").write_text("a unit cube\n")
    for _, (name, data) in BAD_MESHES.items():
        (folder / name).write_bytes(data)
        (folder / name).with_suffix(".txt").write_text(f"caption of {name}\n")
    cases.append(FaultCase("render-folder-of-bad-meshes", "render", ("render", "meshes", "--views", "2", "--size",
                                                                      "32", "--workers", "1"), 0,
                           before=(("import", "folder", str(folder), "--name", "meshes"),)))
    # 2. each bad mesh as a query
    template = build_template(tmp / "template")
    copy = _copy_template(template)
    for label, (name, data) in BAD_MESHES.items():
        path = tmp / "queries" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        ws = tmp / "search" / label
        cases.append(FaultCase(f"search-mesh-{label}", "render",
                               ["search", "--run", RUN, "--mesh", str(path), "--target", "captions", "--k", "3",
                                "--workspace", str(ws)], 2, setup=copy, forbidden_output=("Traceback",)))
    missing = tmp / "queries" / "missing.obj"
    cases.append(FaultCase("search-mesh-missing-file", "render",
                           ["search", "--run", RUN, "--mesh", str(missing), "--target", "shapes",
                            "--workspace", str(tmp / "search" / "missing")], 2, setup=copy))
    return cases

