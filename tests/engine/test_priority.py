"""Engine processes started by the app run below the GUI's priority (``CROSSFOLD_NICE``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.engine_job import ENGINE_NICENESS, engine_environment
from engine.priority import NICE_VARIABLE

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not hasattr(os, "nice"), reason="needs os.nice (POSIX)")

PROBE = """
import os, subprocess, sys
from engine.priority import lower_priority
before = os.nice(0)
after = lower_priority()
child = subprocess.run([sys.executable, "-c", "import os; print(os.nice(0))"], capture_output=True, text=True)
print(before, after, os.environ.get("CROSSFOLD_NICE"), child.stdout.strip())
"""


def python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})


def test_the_variable_lowers_this_process_and_its_children_once() -> None:
    out = python(PROBE, CROSSFOLD_NICE="7")
    assert out.returncode == 0, out.stderr
    before, after, left, child = out.stdout.split()
    assert int(after) == max(int(before), 7)  # absolute: the niceness asked for, never a higher priority
    assert left == "None"  # removed: a trainer started by this one is not lowered again
    assert int(child) == int(after)  # a child process (a DataLoader worker, torchrun's) inherits it


def test_without_the_variable_nothing_changes() -> None:
    out = python(PROBE, CROSSFOLD_NICE="")
    assert out.returncode == 0, out.stderr
    before, after, _, child = out.stdout.split()
    assert after == "None" and int(child) == int(before)


@pytest.mark.parametrize("value", ["high", "25", "-5"])
def test_a_bad_value_is_a_one_line_error_naming_the_variable(value: str, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "trainer", "datasets", "list", "--workspace", str(tmp_path)]
    out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60,
                         env={**os.environ, NICE_VARIABLE: value})
    assert out.returncode == 2
    assert out.stderr.strip() == (f"trainer: error: {NICE_VARIABLE} must be a whole number from 0 to 19, "
                                  f"not {value!r}")


def test_a_value_under_the_current_niceness_does_not_raise_the_priority() -> None:
    out = python("import os; os.nice(12)" + PROBE, CROSSFOLD_NICE="3")  # already lower than asked
    assert out.returncode == 0, out.stderr
    before, after, _, child = out.stdout.split()
    assert int(before) == int(after) == int(child) >= 12


def test_the_app_starts_engine_processes_below_the_gui() -> None:
    gui = os.getpriority(os.PRIO_PROCESS, os.getpid())
    assert ENGINE_NICENESS > 0
    assert engine_environment({})[NICE_VARIABLE] == str(min(19, gui + ENGINE_NICENESS))
