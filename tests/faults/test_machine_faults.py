"""The machine corpus (``corpus_machine.py``): what its table cannot show. A full disk never moves the catalogue
aside, a failed import leaves no dataset, a run's stale temporary files go at its next start, `trainer pack` checks
the space before mapping its store (a real child process: a regression there is SIGBUS), `trainer render` stops at
the first view the disk cannot hold and renders once there is room, a catalogue set aside is
named with the command that puts it back, and a repair mends damaged JSON values. Every case also runs, with the
rest of the corpus, in ``test_corpus.py``."""

from __future__ import annotations

import contextlib
import io
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.case import FaultCase
from tests.faults.corpus_machine import SKIPPED, STALE_TEMP, Disk, machine_cases, restore_disk, unmount_all
from trainer.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cases(state_faults_dir: Path) -> Iterator[dict[str, FaultCase]]:
    SKIPPED.clear()
    try:
        yield {c.name: c for c in machine_cases(state_faults_dir)}
    finally:
        unmount_all()


def run(case: FaultCase, *extra: str) -> tuple[int, str, str]:
    if case.setup is not None:
        case.setup(workspace_of(case))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*case.argv, *extra])
    return code, out.getvalue(), err.getvalue()


def workspace_of(case: FaultCase) -> Path:
    return Path(case.argv[case.argv.index("--workspace") + 1])


def disk_cases(cases: dict[str, FaultCase]) -> dict[str, FaultCase]:
    if SKIPPED:
        pytest.skip(f"the disk cases need a tmpfs: {SKIPPED[0]}")
    return cases


def test_full_disk_repair_moves_nothing_and_a_failed_import_leaves_no_dataset(cases: dict[str, FaultCase]) -> None:
    cases = disk_cases(cases)
    repair = cases["full-repair"]
    ws = workspace_of(repair)
    code, _, err = run(repair)
    assert code == 2 and "no space left on the disk holding" in err and "damaged" not in err
    assert not list(ws.glob("catalog.sqlite.damaged-*")) and (ws / "catalog.sqlite").stat().st_size > 0
    code, _, err = run(cases["full-import-some-room"])
    assert code == 2 and "kept: none" in err
    restore_disk(ws)
    code, out, _ = run(cases["full-datasets-list"])
    assert code == 0 and "toy-shapes" in out and "n2" not in out  # all datasets, none half-made


def test_a_resumed_run_removes_its_stale_temp_files_and_names_its_checkpoint(cases: dict[str, FaultCase]) -> None:
    cases = disk_cases(cases)
    resume = cases["full-train-resume"]
    code, _, err = run(resume)
    stale = workspace_of(resume) / "runs" / "ok" / "checkpoints" / STALE_TEMP
    assert code == 2 and "kept: the last good checkpoint" in err and "step_00000002.pt" in err
    assert not stale.exists()


def test_pack_on_a_full_disk_is_one_line_not_sigbus(cases: dict[str, FaultCase]) -> None:
    cases = disk_cases(cases)
    listing = cases["full-datasets-list"]
    ws = workspace_of(listing)
    Disk.fill(ws.parent, 400 << 10)
    done = subprocess.run([sys.executable, "-m", "trainer", "pack", "toy-shapes", "--size", "128", "--workspace",
                           str(ws)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    restore_disk(ws)
    assert done.returncode == 2, (done.returncode, -signal.SIGBUS, done.stderr)
    assert len(done.stderr.splitlines()) == 1 and "no space left on the disk holding" in done.stderr
    assert not [p for p in (ws / "renders").rglob("*") if p.name.endswith(".tmp")]


def test_render_on_a_full_disk_stops_in_one_line_and_renders_once_there_is_room(
        cases: dict[str, FaultCase]) -> None:
    cases = disk_cases(cases)
    render = cases["full-render"]
    ws = workspace_of(render)
    code, out, err = run(render)
    assert code == 2 and len(err.splitlines()) == 1 and f"no space left on the disk holding {ws} " in err, (out, err)
    assert "kept: the views rendered so far" in err and "damaged" not in err
    assert not list(ws.glob("catalog.sqlite.damaged-*")) and not list((ws / "renders").rglob(".tmp-*"))
    restore_disk(ws)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(list(render.argv)) == 0
    assert "2 meshes rendered, 0 from cache, 0 failed" in out.getvalue()


def test_a_catalogue_set_aside_is_named_and_put_back(cases: dict[str, FaultCase]) -> None:
    case = cases["aside-catalogue-doctor"]
    ws = workspace_of(case)
    code, out, _ = run(case)
    aside = ws / "catalog.sqlite.damaged-20260101T000000Z"
    assert code == 0 and f"trainer doctor --restore {aside}" in out and "passes the checks" in out
    code, out, _ = run(FaultCase("restore", "x", ["doctor", "--restore", str(aside), "--workspace", str(ws)], 0))
    assert code == 0 and f"restored from {aside}" in out
    assert not aside.exists() and list(ws.glob("catalog.sqlite.before-restore-*"))


def test_repair_mends_damaged_json_values_from_the_run_folder(cases: dict[str, FaultCase]) -> None:
    case = cases["json-damaged-repair"]
    code, out, _ = run(case)
    assert code == 0 and "config re-read from" in out and "meta restored from a backup" in out
    code, out, _ = run(FaultCase("again", "x", ["runs", "show", "ok", "--workspace", str(workspace_of(case))], 0))
    assert code == 0 and "cf-vit-tiny-64" in out
