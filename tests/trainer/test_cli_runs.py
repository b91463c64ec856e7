"""``trainer runs list|show`` as a user runs it: ``trainer.cli.main`` on a real workspace (SQLite catalogue,
events files written by the typed writer, a live and a dead pid)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_runner import run_trainer
from tests.engine.runs.sample import Runs, sample_runs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def runs(tmp_path: Path) -> Iterator[Runs]:
    with sample_runs(tmp_path) as made:
        yield made


def trainer(*args: str, ws: Path) -> subprocess.CompletedProcess[str]:
    return run_trainer("runs", *args, ws=ws)


def test_runs_list_json_and_table(runs: Runs) -> None:
    listed = trainer("list", "--json", ws=runs.ws.root)
    assert listed.returncode == 0, listed.stderr
    by_name = {r["name"]: r for r in json.loads(listed.stdout)["runs"]}
    assert {n: r["status"] for n, r in by_name.items()} == {
        "finished": "done", "training": "running", "broken": "failed", "orphan": "interrupted",
        "recycled": "interrupted"}
    done = by_name["finished"]
    assert (done["loss"], done["dataset"], done["step"], done["total"]) == ("clip", "toy", 4, 4)
    assert (done["best_step"], done["best_score"]) == (4, 0.5)
    assert done["val"] == {"mean_R@1": 0.5, "mean_R@5": 0.75} and done["test"]["mean_NDCG@5"] == 0.4
    assert done["started_at"] and done["finished_at"] and done["run_dir"] == str(runs.ws.runs / "finished")
    training = by_name["training"]
    assert (training["step"], training["total"], training["pid"]) == (3, 10, runs.trainer.pid)
    assert by_name["orphan"]["catalog_status"] == "running" and by_name["orphan"]["finished_at"] is None

    table = trainer("list", ws=runs.ws.root)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:5] == ["run", "loss", "dataset", "status", "progress"]
    row = next(line for line in lines if line.startswith("finished "))
    assert "done" in row and "4/4" in row and "★ 50.0% @4" in row and "25.0%" in row
    assert "interrupted" in next(line for line in lines if line.startswith("orphan "))


def test_runs_show_adds_the_config_and_the_last_error(runs: Runs) -> None:
    shown = trainer("show", "broken", "--json", ws=runs.ws.root)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["status"] == "failed" and data["error"] == "CUDA out of memory"
    assert data["config"]["lr"] == 0.001 and data["config"]["name"] == "broken"
    training = json.loads(trainer("show", "training", "--json", ws=runs.ws.root).stdout)
    assert training["skipped_events"] == 2 and training["error"] == ""  # two bad lines, skipped and counted
    text = trainer("show", "finished", ws=runs.ws.root)
    assert text.returncode == 0, text.stderr
    assert "status: done" in text.stdout and "best checkpoint: /x/best.pt" in text.stdout
    assert "test metrics (latest): mean_R@1=0.2500" in text.stdout and "  lr: 0.001" in text.stdout


def test_an_unknown_run_is_one_line_and_exit_2(runs: Runs) -> None:
    missing = trainer("show", "nope", ws=runs.ws.root)
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.count("\n") == 1 and missing.stderr.startswith("trainer: error: no run named 'nope'")
    assert "finished" in missing.stderr  # the runs there are named


def test_an_empty_workspace_has_no_runs(tmp_path: Path) -> None:
    empty = trainer("list", ws=tmp_path / "empty")
    assert empty.returncode == 0 and empty.stdout.startswith("no runs in ")
    assert json.loads(trainer("list", "--json", ws=tmp_path / "empty").stdout)["runs"] == []
