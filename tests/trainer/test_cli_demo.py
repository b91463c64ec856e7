"""`trainer demo` as a user runs it: data, two trained runs and their indexes from nothing, then nothing redone."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.cli_runner import run_trainer

ROOT = Path(__file__).resolve().parents[2]
SMALL = ("--steps", "3", "--shapes", "60", "--scenes", "60", "--device", "cpu")


def trainer(*args: str, ws: Path) -> subprocess.CompletedProcess[str]:
    return run_trainer(*args, ws=ws)


def started_events(ws: Path, run: str) -> int:
    lines = (ws / "runs" / run / "events.jsonl").read_text().splitlines()
    return sum(json.loads(line)["event"] == "started" for line in lines if line.strip())


def test_demo_builds_everything_once_and_is_searchable(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    first = trainer("demo", *SMALL, ws=ws)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "run demo-shapes-mxm: training" in first.stdout and "run demo-scenes-gcl: training" in first.stdout
    assert "shape built" in first.stdout and "image built" in first.stdout

    runs = json.loads(trainer("eval", "--run", "demo-shapes-mxm", "--json", ws=ws).stdout)
    assert runs["run"] == "demo-shapes-mxm"
    config = (ws / "runs" / "demo-shapes-mxm" / "config.yaml").read_text()
    assert "model: cf-rn-tiny-64" in config and "max_steps: 3" in config

    again = trainer("demo", *SMALL, ws=ws)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "run demo-shapes-mxm: already trained" in again.stdout
    assert "run demo-scenes-gcl: already trained" in again.stdout
    assert "built" not in again.stdout and "added" not in again.stdout  # every index is up to date
    assert "up-to-date" in again.stdout
    assert started_events(ws, "demo-shapes-mxm") == 1 and started_events(ws, "demo-scenes-gcl") == 1

    for target in ("shapes", "images"):
        found = trainer("search", "--text", "a red chair", "--target", target, "--k", "4", "--json", ws=ws)
        assert found.returncode == 0, found.stderr[-2000:]
        result = json.loads(found.stdout)
        assert result["run"] == ("demo-shapes-mxm" if target == "shapes" else "demo-scenes-gcl")
        assert len(result["hits"]) == 4
        assert all(hit["captions"] for hit in result["hits"])
