"""``bench/coco_scale.py --smoke`` runs end to end (a real import, index, searches and Datasets page)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_smoke_run_prints_the_table_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "coco.json"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "bench/coco_scale.py", "--smoke", "--json", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "| import (karpathy, in process)" in done.stdout and "Datasets page: scroll to end" in done.stdout
    result = json.loads(out.read_text())
    assert result["import"]["items"] == 200 and result["import"]["observations"] == 1200
    assert result["index"]["modalities"]["text"]["count"] == 1000
    assert result["index"]["modalities"]["image"]["count"] == 200
    assert set(result["search"]) == {"captions", "images"}
    assert result["gui"]["rows"] == 200
