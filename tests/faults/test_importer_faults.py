"""Every hostile importer input of ``corpus_importers``: the right exit, no traceback, the right counts.

The cases run in this process through ``trainer.cli.main`` (stdout/stderr captured), one shared
workspace, so the ~90 cases take seconds rather than a Python start-up each.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import pytest

from tests.faults.case import FaultCase
from tests.faults.corpus_importers import importer_cases
from trainer.cli import main


def _trainer(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as exc:  # argparse
            rc = int(exc.code or 0)
        except BaseException as exc:  # noqa: BLE001 - what a user would see as a traceback
            return -1, out.getvalue(), f"Traceback: {type(exc).__name__}: {exc}"
    return rc, out.getvalue(), err.getvalue()


def _forbidden_lines(paths: tuple[Path, ...]) -> set[str]:
    lines: set[str] = set()
    for path in paths:
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for f in files:
            lines |= {" ".join(line.split()) for line in f.read_bytes().decode("utf-8", "replace").splitlines()
                      if line.strip()}
    return lines


def _check(case: FaultCase, ws: Path) -> list[str]:
    """What went wrong with ``case`` (empty when nothing)."""
    wrong: list[str] = []
    for argv in case.before:
        rc, _, err = _trainer([*argv, "--workspace", str(ws)])
        if rc != 0:
            wrong.append(f"setup {argv[:2]} exited {rc}: {err.strip()[-300:]}")
    rc, out, err = _trainer([*case.argv, "--workspace", str(ws)])
    if "Traceback" in err:
        return [f"traceback: {err.strip()[-500:]}"]
    if rc != case.expect_exit:
        wrong.append(f"exit {rc}, expected {case.expect_exit}: {(err or out).strip()[-300:]}")
    errors = [line for line in err.splitlines() if line.startswith("trainer: error:")]
    if case.expect_exit == 2 and len(errors) != 1:
        wrong.append(f"expected one error line, got {errors}")
    rc, shown, _ = _trainer(["datasets", "show", case.dataset, "--json", "--items", "100000", "--workspace", str(ws)])
    data = json.loads(shown) if rc == 0 else {"items": 0, "by_modality": {}, "sample": []}
    if data["items"] != case.good_records:
        wrong.append(f"{data['items']} items, expected {case.good_records}")
    captions = data["by_modality"].get("text", 0)
    if case.good_captions is not None and captions != case.good_captions:
        wrong.append(f"{captions} captions, expected {case.good_captions}")
    secret = _forbidden_lines(case.forbidden)
    real_forbidden = [os.path.realpath(p) for p in case.forbidden]
    for item in data["sample"]:
        if leaked := secret & set(item["captions"]):
            wrong.append(f"caption(s) from a forbidden file imported: {sorted(leaked)[:3]}")
        for path in [*item["images"], *item["views"], *([item["asset_path"]] if item["asset_path"] else [])]:
            real = os.path.realpath(path)
            if any(real == f or real.startswith(f + os.sep) for f in real_forbidden):
                wrong.append(f"forbidden file imported: {path}")
    return wrong


def test_corpus_is_big_and_covers_every_format(tmp_path: Path) -> None:
    cases = importer_cases(tmp_path / "cases")
    assert len(cases) >= 50
    assert len({c.name for c in cases}) == len(cases)
    formats = {c.argv[1] for c in cases if c.argv[0] == "import"}
    assert formats == {"folder", "csv", "karpathy", "coco", "flickr-token", "text2shape"}
    assert {c.expect_exit for c in cases} == {0, 2}


def test_every_importer_fault_case(tmp_path: Path) -> None:
    cases = importer_cases(tmp_path / "cases")
    ws = tmp_path / "ws"
    failures = {case.name: wrong for case in cases if (wrong := _check(case, ws))}
    assert not failures, "\n".join(f"{name}: {'; '.join(w)}" for name, w in failures.items())


@pytest.mark.parametrize("which", ["folder_caption_symlink_etc_passwd", "karpathy_nested_json"])
def test_a_case_as_a_child_process(tmp_path: Path, which: str) -> None:
    """Two cases through a real `python -m trainer`, as a user runs it."""
    import subprocess
    import sys

    [case] = [c for c in importer_cases(tmp_path / "cases") if c.name == which]
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "trainer", *case.argv, "--workspace", str(tmp_path / "ws")],
                          cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == case.expect_exit, done.stderr
    assert "Traceback" not in done.stderr
