"""The whole fault corpus through the real CLI: no traceback, the expected exit with one line, no good record lost,
no forbidden file read or imported, nothing written outside the workspace, no hang (``tests/faults/runner.py``)."""

from __future__ import annotations

from pathlib import Path

from tests.faults.runner import all_cases, describe, run_corpus, summarise


def test_every_fault_case_ends_clearly(tmp_path: Path) -> None:
    cases = all_cases(tmp_path)
    assert len(cases) >= 150
    assert len({c.name for c in cases}) == len(cases)
    assert {c.category for c in cases} >= {"catalog", "workspace", "checkpoint", "index", "args"}
    outcomes = run_corpus(tmp_path, cases)
    failures = [describe(o) for o in outcomes if not o.clear]
    assert not failures, "\n".join(failures)
    total = summarise(outcomes)[-1]
    assert total["inputs"] == len(cases) and total["clear"] == len(cases)
