"""The Training page's charts and words as a first-time user meets them: runs followed from their catalogue rows and
events files alone (no trainer), real widgets, real SQLite."""

from __future__ import annotations

import json
import os
from pathlib import Path

from app.pages.training import TrainingPage
from app.widgets.config_diff import config_differences
from app.widgets.line_chart import LineChart, nice_ticks
from engine.workspace import Workspace

LONG = 120_000  # ms


def _event(kind: str, **fields) -> str:
    return json.dumps({"event": kind, "time": 0.0, **fields}) + "\n"


def add_run(ws: Workspace, name: str, evals: list[tuple[int, float]], parts: bool = False, status: str = "done",
            steps: int = 10) -> None:
    run_dir = ws.runs / name
    run_dir.mkdir(parents=True)
    config = {"dataset": "d", "loss": "clip", "max_steps": steps, "batch_size": 2, "lr": 0.001, "name": name}
    lines = [_event("started", run=name, total=steps, step=0, device="CPU")]
    for step in range(1, steps + 1 if status == "done" else 1):
        lines.append(_event("progress", step=step, total=steps, loss=2.0 / step,
                            **({"parts": {"hard": 1.0 / step}} if parts else {})))
    for step, r1 in evals:
        lines.append(_event("eval", step=step, split="val",
                            metrics={"text_to_shape_R@1": r1, "shape_to_text_R@1": r1, "mean_R@1": r1}))
    best = max(evals, key=lambda e: e[1]) if evals else None
    if status == "done":
        lines.append(_event("done", step=steps, total=steps, metrics={}))
    (run_dir / "events.jsonl").write_text("".join(lines))
    metrics = {"best_step": best[0], "best_score": best[1]} if best else {}
    ws.catalog().upsert_run(name, loss="clip", config=config, status=status, run_dir=str(run_dir), metrics=metrics,
                            pid=os.getpid() if status == "running" else None)


def open_page(qtbot, ws: Workspace, names: list[str]) -> TrainingPage:
    page = TrainingPage(ws)
    qtbot.addWidget(page)
    page.resize(1400, 860)
    page.show()
    qtbot.waitUntil(lambda: all(page.runs.state(n) is not None for n in names), timeout=LONG)
    return page


def test_eval_chart_follows_a_weak_run_and_overlays_stay_distinguishable(qtbot, tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "w")
    add_run(ws, "weak", [(3, 0.03), (6, 0.06), (9, 0.09)], parts=True)
    add_run(ws, "once", [(10, 0.05)])
    page = open_page(qtbot, ws, ["weak", "once"])
    page.select("weak")
    qtbot.waitUntil(lambda: page.eval_chart.point_count() > 0, timeout=LONG)
    lo, hi = page.eval_chart.y_range()
    assert 0.0 <= lo <= 0.03 and 0.09 <= hi <= 0.12, (lo, hi)  # 3-9 %: not a flat line at the bottom of 0-100 %
    page.full_scale.setChecked(True)
    assert page.eval_chart.y_range() == (0.0, 1.0)
    page.full_scale.setChecked(False)
    assert page.eval_chart.y_range()[1] < 0.2
    assert page.show_parts.isEnabled()  # this run's loss has parts
    assert page.loss_chart.x_integer and page.eval_chart.x_integer

    page.select(["weak", "once"])  # overlaid: every run its colour and marker, the one-eval run included
    series = [page.eval_chart.series(k) for k in ("weak/mean", "once/mean")]
    assert all(s is not None and s.dots for s in series)
    assert series[0].marker != series[1].marker and series[0].colour != series[1].colour
    assert page.eval_chart.point_count("once/mean") == 1
    assert {m.colour.name() for m in page.eval_chart.markers} == {s.colour.name() for s in series}
    assert not page.show_parts.isEnabled()  # no parts in an overlay
    page.select("once")
    assert not page.show_parts.isEnabled()  # its loss has no parts


def test_a_starting_run_says_it_waits_and_words_replace_keys(qtbot, tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "w")
    add_run(ws, "fresh", [], status="running")
    page = open_page(qtbot, ws, ["fresh"])
    page.select("fresh")
    qtbot.waitUntil(lambda: page.runs.state("fresh").display_status == "running", timeout=LONG)
    page.select([])
    page.select("fresh")
    assert page.loss_chart.point_count() == 0
    assert page.loss_chart.empty_text == "Waiting for the first step…"
    headers = [page.eval_table.horizontalHeaderItem(c) for c in range(page.eval_table.columnCount())]
    texts = [h.text() for h in headers]
    assert "Queries" in texts and "Median rank" in texts and "num queries" not in texts
    rr = headers[texts.index("RR@1")]
    assert "same number as R@1" in rr.toolTip()


def test_chart_ticks_legend_and_nested_config_rows(qtbot) -> None:
    assert nice_ticks(0, 3, 8, integer=True) == [0, 1, 2, 3]
    assert all(float(t).is_integer() for t in nice_ticks(0, 7, 10, integer=True))
    chart = LineChart("rising")
    qtbot.addWidget(chart)
    chart.resize(420, 260)
    xs = list(range(50))
    chart.set_series("up", xs, [x / 49 for x in xs], label="a rising curve")  # covers bottom left and top right
    chart.show()
    chart.grab()
    legend = chart.legend_rect
    assert not legend.isEmpty()
    assert legend.center().x() < chart.width() / 2 and legend.center().y() < chart.height() / 2  # top left: empty
    rows = config_differences([{"augment": {"flip": True, "crop": 0.8}, "lr": 0.1},
                               {"augment": {"flip": False, "crop": 0.8}, "lr": 0.1}])
    assert rows == [("augment.flip", ["True", "False"], True)]


def test_opening_selects_the_best_run_and_says_which(qtbot, tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "w")
    add_run(ws, "older-best", [(5, 0.09)])
    add_run(ws, "middling", [(5, 0.05)])
    add_run(ws, "newest", [(5, 0.02)])
    page = open_page(qtbot, ws, ["older-best", "middling", "newest"])
    qtbot.waitUntil(lambda: page.selected_names() == ["older-best"], timeout=LONG)  # not the newest: the best
    assert "Showing older-best, the best run" in page.notice.text()
    assert "Runs (3)" in page.runs_title.text()
