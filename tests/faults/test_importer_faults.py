"""The importer corpus: its coverage, and two of its cases through a real ``python -m trainer``.

Every case runs, with the rest of the fault corpus, in ``test_corpus.py`` (through ``tests/faults/runner.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.corpus_importers import importer_cases


def test_corpus_is_big_and_covers_every_format(tmp_path: Path) -> None:
    cases = importer_cases(tmp_path / "cases")
    assert len(cases) >= 50
    assert len({c.name for c in cases}) == len(cases)
    formats = {c.argv[1] for c in cases if c.argv[0] == "import"}
    assert formats == {"folder", "csv", "karpathy", "coco", "flickr-token", "text2shape", "objaverse"}
    assert {c.expect_exit for c in cases} == {0, 2}


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
