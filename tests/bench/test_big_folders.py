"""``bench/big_folders.py`` at a tiny scale, its ``trainer`` commands run in process (``--in-process``: a child each
would load torch again): every row of the table is measured and the rescans report what changed in the folders; then
one command as the real bench runs it, a child process with its CPU time and memory."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_tiny_run_measures_every_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("big_folders", ROOT / "bench" / "big_folders.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "big.json"
    workdir = tmp_path / "work"
    code = bench.main(["--meshes", "40", "--photos", "60", "--render-sample", "4", "--views", "1", "--size", "32",
                       "--queries", "5", "--repeats", "1", "--in-process", "--workdir", str(workdir), "--json",
                       str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert [row[0] for row in result["rows"]] == list(bench.ROWS)
    printed = capsys.readouterr().out
    assert all(f"| {name}" in printed for name in bench.ROWS)

    imported = result["import"]
    assert imported["meshes"]["report"]["items_added"] == 40 and imported["photos"]["report"]["items_added"] == 60
    assert imported["meshes"]["report"]["captioned_items_added"] == 0
    assert (result["render"]["rendered"], result["render"]["failed"]) == (4, 0)
    assert result["index"]["photos"]["counts"]["image"] == 60
    assert result["index"]["mesh_sample"]["counts"]["shape"] == 4
    assert result["search"]["photos"]["hits"] == 10 and result["search"]["mesh_sample"]["hits"] == 4
    for name, total in (("meshes", 40), ("photos", 60)):
        unchanged = result["rescan"][f"{name}_unchanged"]["report"]
        assert (unchanged["items_added"], unchanged["items_removed"], unchanged["items_unchanged"]) == (0, 0, total)
        changed = result["rescan"][f"{name}_changed"]
        assert changed["as_expected"], changed
        assert changed["report"]["items_removed"] == 1 and changed["report"]["items_changed"] == 2
    files = sorted(p.name for p in (workdir / "data").iterdir())
    assert files == ["mesh-sample", "meshes", "photos"]  # the source lies outside the workspace

    child = bench.Cli(workdir / "ws").run(["datasets", "list", "--json"])
    assert {d["name"] for d in child["output"]["datasets"]} >= {"meshes", "photos", "mesh-sample"}
    assert child["cpu_s"] > 0 and child["max_rss_mib"] > 10 and child["peak_rss_mib"] > 0
