"""Layout (issue 20, section 4): the ★ of the best validation on the validation curve (not the loss), a warning on an
overlay of runs trained on different datasets, search card titles elided at their start, and the run form within
its column with a weights file and Advanced open. Runs are followed from catalogue rows and events files alone (no
trainer); real widgets, real SQLite."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtGui import QFont, QFontMetrics

from app.pages.training import TrainingPage
from app.widgets.result_grid import elide_key
from app.widgets.weights_picker import FILE
from engine.workspace import Workspace

LONG = 60_000  # ms: bounds, not timing assertions


def add_run(ws: Workspace, name: str, dataset: str, evals: list[tuple[int, float]], steps: int = 10) -> None:
    """A finished run of ``steps`` steps (loss 2/step) with these validations (mean R@1 by step)."""
    run_dir = ws.runs / name
    run_dir.mkdir(parents=True)
    lines = [{"event": "started", "run": name, "total": steps, "step": 0, "device": "CPU"}]
    lines += [{"event": "progress", "step": s, "total": steps, "loss": 2.0 / s} for s in range(1, steps + 1)]
    lines += [{"event": "eval", "step": s, "split": "val", "metrics": {"text_to_shape_R@1": r, "mean_R@1": r}}
              for s, r in evals]
    best = max(evals, key=lambda e: e[1])
    lines += [{"event": "best", "step": best[0], "path": str(run_dir / "best.pt"), "score": best[1]},
              {"event": "done", "step": steps, "total": steps, "metrics": {}}]
    (run_dir / "events.jsonl").write_text("".join(json.dumps({"time": 0.0, **e}) + "\n" for e in lines))
    ws.catalog().upsert_run(name, loss="clip", status="done", run_dir=str(run_dir),
                            config={"dataset": dataset, "loss": "clip", "max_steps": steps, "name": name},
                            metrics={"best_step": best[0], "best_score": best[1]})


def open_page(qtbot, ws: Workspace, names: list[str]) -> TrainingPage:
    page = TrainingPage(ws)
    qtbot.addWidget(page)
    page.resize(1280, 720)
    page.show()
    qtbot.waitUntil(lambda: all(page.runs.state(n) is not None for n in names), timeout=LONG)
    return page


def test_the_best_star_is_on_the_validation_curve_and_mixed_overlays_warn(qtbot, tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "w")
    add_run(ws, "a", "shapes-a", [(4, 0.30), (8, 0.50), (10, 0.40)])
    add_run(ws, "a2", "shapes-a", [(5, 0.20), (10, 0.25)])
    add_run(ws, "b", "photos", [(10, 0.70)])
    page = open_page(qtbot, ws, ["a", "a2", "b"])
    page.select("a")
    qtbot.waitUntil(lambda: bool(page.eval_chart.markers), timeout=LONG)
    [star] = page.eval_chart.markers
    assert (star.x, star.y) == (8, 0.50)  # at the best validation, on its curve
    assert page.loss_chart.markers == []  # not on the loss curve (the loss at step 8 is 0.25)
    assert not page.curves.overlay_warning.isVisibleTo(page)

    page.select(["a", "a2"])  # one dataset: comparable, no warning
    assert len(page.eval_chart.markers) == 2 and not page.curves.overlay_warning.isVisibleTo(page)
    page.select(["a", "b"])  # two datasets: the overlay says its scores are not comparable
    assert page.curves.overlay_warning.isVisibleTo(page)
    assert "different datasets (shapes-a, photos)" in page.curves.overlay_warning.text()


def test_the_run_form_stays_inside_its_column(qtbot, tmp_path: Path) -> None:
    page = open_page(qtbot, Workspace.open(tmp_path / "w"), [])
    form = page.form
    form.start_from.set_mode(FILE)
    form.start_from.file.setText("/home/someone/a/long/folder/of/weights/" + "x" * 40 + ".safetensors")
    form.advanced_toggle.setChecked(True)
    form._show_errors([f"pretrained: {form.start_from.file.text()} does not exist: choose an existing file."])
    qtbot.waitUntil(lambda: page._form_scroll.minimumWidth() > 300, timeout=LONG)
    box = page._form_scroll.widget()
    assert box.minimumSizeHint().width() <= page._form_scroll.viewport().width()  # nothing behind the edge
    assert form.launch_button.isVisibleTo(page) and form.launch_button.width() <= box.width()


def test_search_card_titles_are_elided_at_their_start() -> None:
    fm = QFontMetrics(QFont())
    key = "chair/gome-very-long-folder-name-of-the-dataset/chair_0002.off"
    title = elide_key(key, fm, fm.horizontalAdvance("chair_0002.off") * 2)
    assert title.startswith("…") and title.endswith("chair_0002.off") and len(title) < len(key)
