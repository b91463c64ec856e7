"""One state template (a toy dataset, a 2-step run and its indexes) for every fault test module of a session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def state_faults_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the state corpus builds its template once (``corpus_state.build_template``) and its cases' copies."""
    return tmp_path_factory.mktemp("state-faults")
