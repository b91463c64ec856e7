"""`trainer ... | head`: a reader that leaves early ends the command quietly, never with a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_output_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line: every write meets a broken pipe
    try:
        done = subprocess.run([sys.executable, "-m", "trainer", "datasets", "list", "--workspace",
                               str(tmp_path / "ws")], cwd=ROOT, stdout=write, stderr=subprocess.PIPE, text=True,
                              timeout=300, check=False)
    finally:
        os.close(write)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
