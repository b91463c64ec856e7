"""The state corpus (catalogue, workspace, checkpoints, indexes, arguments): its coverage, the acceptance case as a
real child process, and one message. Every case runs, with the rest of the corpus, in ``test_corpus.py``."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.case import FaultCase
from tests.faults.corpus_state import state_cases
from trainer.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cases(state_faults_dir: Path) -> list[FaultCase]:
    return state_cases(state_faults_dir)


def workspace_of(case: FaultCase) -> Path:
    return Path(case.argv[case.argv.index("--workspace") + 1])


def run_in_process(case: FaultCase) -> tuple[int, str]:
    if case.setup is not None:
        case.setup(workspace_of(case))
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(case.argv)
        except SystemExit as exc:  # argparse refusals
            code = int(exc.code or 0)
    return code, err.getvalue()


def test_the_corpus_is_large_and_varied(cases: list[FaultCase]) -> None:
    assert len(cases) >= 40
    assert {c.category for c in cases} >= {"catalog", "workspace", "checkpoint", "index", "args"}
    assert len({c.name for c in cases}) == len(cases)


def test_random_bytes_catalogue_names_file_backup_and_doctor_in_a_child_process(cases: list[FaultCase]) -> None:
    """The acceptance line: exit 2, one line naming the file, the newest backup and `trainer doctor`."""
    case = next(c for c in cases if c.name == "catalog-random-bytes-list")
    ws = workspace_of(case)
    assert case.setup is not None
    case.setup(ws)
    backups = sorted((ws / "backups").glob("catalog-*.sqlite"))
    assert backups, "the template's catalogue was opened after a day's first use: a backup exists"
    done = subprocess.run([sys.executable, "-m", "trainer", *case.argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    line = lines[0]
    assert "Traceback" not in line
    assert str(ws / "catalog.sqlite") in line and "damaged" in line
    assert str(backups[-1]) in line
    assert "trainer doctor --repair" in line


def test_unknown_category_lists_the_known_ones(cases: list[FaultCase]) -> None:
    case = next(c for c in cases if c.name == "args-search-category-unknown")
    code, err = run_in_process(case)
    assert code == 2 and "nosuch" in err and "known: " in err and "red" in err
