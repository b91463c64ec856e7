"""`trainer import objaverse ROOT [--captions CSV] [--lvis JSON]` as a user runs it (``trainer.cli.main`` in this
process): the summary and its notes, the catalogue it leaves, a render of an imported GLB, and one-line refusals.
"""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

from tests.cli_runner import run_trainer

ROOT = Path(__file__).resolve().parents[2]


def trainer(*args: str, ws: Path) -> subprocess.CompletedProcess[str]:
    return run_trainer(*args, ws=ws)


def _silhouette(path: str) -> tuple[int, int]:
    """(height, width) of the non-white pixels of a view."""
    view = np.asarray(Image.open(path).convert("RGB"), dtype=int)
    rows, cols = np.nonzero(np.abs(view - 255).sum(axis=2) > 30)
    return int(np.ptp(rows)), int(np.ptp(cols))


def _download(tmp_path: Path) -> tuple[Path, Path, Path]:
    """An Objaverse folder of three GLBs (one truncated), Cap3D captions and LVIS annotations."""
    root = tmp_path / "hf-objaverse-v1"
    for shard, uid, extents in (("000-000", "u1", (1.0, 0.2, 0.2)), ("000-001", "u2", (0.2, 1.0, 0.2))):
        (root / "glbs" / shard).mkdir(parents=True, exist_ok=True)
        trimesh.creation.box(extents=extents).export(root / "glbs" / shard / f"{uid}.glb")
    whole = (root / "glbs" / "000-000" / "u1.glb").read_bytes()
    (root / "glbs" / "000-001" / "cut.glb").write_bytes(whole[:100])
    captions = tmp_path / "Cap3D_automated_Objaverse.csv"
    with captions.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["u1", "A long thin bar, lying down."], ["u9", "Not downloaded."]])
    lvis = tmp_path / "lvis-annotations.json"
    lvis.write_text(json.dumps({"bar": ["u1", "u9"], "post": ["u2", "u1"]}), encoding="utf-8")
    return root, captions, lvis


def test_import_prints_the_summary_and_the_dataset_renders(tmp_path: Path) -> None:
    root, captions, lvis = _download(tmp_path)
    ws = tmp_path / "ws"
    done = trainer("import", "objaverse", str(root), "--name", "obja", "--captions", str(captions),
                   "--lvis", str(lvis), ws=ws)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "imported 'obja' (objaverse): 2 new items (1 with captions), 1 new observations, 1 skipped"
    assert lines[1] == ("  note: Cap3D_automated_Objaverse.csv: captions for 1 of the 3 GLBs; 1 row for uids not "
                        "under the folder (not imported)")
    assert lines[2] == ("  note: lvis-annotations.json: categories for 2 of the 3 GLBs (1 in several categories: "
                        "the first listed kept); 1 listed uid not under the folder")
    assert lines[3].startswith(f"  skipped {root}: key cut: damaged GLB (its header says ")

    shown = json.loads(trainer("datasets", "show", "obja", "--json", ws=ws).stdout)
    assert shown["kind"] == "shape-text" and shown["source_format"] == "objaverse"
    assert shown["meta"]["up_axis"] == "y" and shown["items"] == 2 and shown["categories"] == 2

    rendered = trainer("render", "obja", "--views", "2", "--size", "64", "--elevation", "0", "--workers",
                       "1", ws=ws)
    assert rendered.returncode == 0 and "0 failed" in rendered.stdout, rendered.stdout + rendered.stderr
    sample = json.loads(trainer("datasets", "show", "obja", "--json", ws=ws).stdout)["sample"]
    assert sorted(len(item["views"]) for item in sample) == [2, 2]
    assert all(Path(view).is_file() for item in sample for view in item["views"])
    [post] = [item for item in sample if item["key"] == "u2"]  # a post along +y: upright when y is up
    for view in post["views"]:
        height, width = _silhouette(view)
        assert height > 2 * width, (view, height, width)


def test_refusals_are_one_line_with_exit_2(tmp_path: Path) -> None:
    root, captions, lvis = _download(tmp_path)
    ws = tmp_path / "ws"
    folder = trainer("import", "folder", str(root), "--name", "f", "--captions", str(captions), ws=ws)
    bad_lvis = tmp_path / "bad.json"
    bad_lvis.write_text('{"bar": ["u1"', encoding="utf-8")
    broken = trainer("import", "objaverse", str(root), "--name", "o", "--lvis", str(bad_lvis), ws=ws)
    nowhere = trainer("import", "objaverse", str(tmp_path / "nowhere"), "--name", "o", ws=ws)
    for done, words in ((folder, f"{root}: --captions applies to objaverse imports only, not folder"),
                        (broken, f"{bad_lvis}: not a file of LVIS annotations"),
                        (nowhere, f"{tmp_path / 'nowhere'}: Objaverse folder does not exist")):
        assert done.returncode == 2, done.stdout + done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
        assert words in done.stderr
    assert json.loads(trainer("datasets", "list", "--json", ws=ws).stdout)["datasets"] == []
