"""Fixtures of the run-following tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.runs.sample import Runs, sample_runs


@pytest.fixture()
def runs(tmp_path: Path) -> Iterator[Runs]:
    with sample_runs(tmp_path) as made:
        yield made
