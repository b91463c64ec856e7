"""``bench/gpu_check.sh --smoke``: every section of the GPU check runs end to end on the CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_check_smoke_runs_every_section(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable, "GPU_CHECK_OUT": str(tmp_path / "out"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(["bash", "bench/gpu_check.sh", "--smoke"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    for section in ("== machine", "== eager", "== compiled-mxm", "== data", "== multisk", "== summary"):
        assert section in done.stdout
    data = json.loads((tmp_path / "out" / "data.json").read_text())
    rows = {r["row"]: r for r in data["rows"]}
    assert any("packed store" in name for name in rows) and any("PNG files" in name for name in rows)
    assert all(r["samples_per_s"] > 0 for r in rows.values())
    assert json.loads((tmp_path / "out" / "multisk.json").read_text())["rows"]
