"""The Training page's Evaluation tab shows a run's by-category evaluation (``trainer eval --by-category``): runs
from the real catalogue, their events files written by the typed EventWriter, real widgets."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QTableWidget

from app.pages.training import TrainingPage
from engine.run.events import CategoryEval, Done, EventWriter, Progress
from engine.workspace import Workspace
from tests.engine.runs.sample import add_run, started

LONG = 120_000  # ms: the CPU is slow and shared
SHOT = Path("/tmp/crossfold_category_eval.png")


def by_category(step: int, top1: float, dataset: str = "shapes", split: str = "test") -> CategoryEval:
    """40 items in 4 categories (3 of them in the split), 2 unlabelled; per-category rates deliberately not in the
    order they are written, so the table's order is the widget's."""
    return CategoryEval(
        step=step, split=split, dataset=dataset, checkpoint="/runs/zs/checkpoints/best.pt",
        metrics={"top1": top1, "top5": 0.95, "mean_class_top1": 0.6, "num_items": 40.0, "num_categories": 4.0,
                 "num_unlabelled": 2.0},
        per_category={
            "lamp": {"count": 10, "top1": 0.3, "top5": 0.9},
            "chair": {"count": 20, "top1": 0.9, "top5": 1.0},
            "table": {"count": 10, "top1": 0.6, "top5": 0.9},
        },
        confusions={"lamp": {"table": 2, "chair": 5}, "table": {"chair": 4}},
    )


@pytest.fixture()
def workspace(tmp_path: Path) -> Workspace:
    ws = Workspace.open(tmp_path / "ws")
    run = [started(), Progress(step=4, total=4, loss=1.0), Done(step=4, total=4, metrics={})]
    add_run(ws, "zs", "done", None, [*run, by_category(4, 0.1), by_category(4, 0.675),
                                     by_category(4, 0.5, dataset="photos", split="val")])
    add_run(ws, "plain", "done", None, run)
    return ws


def rows(table: QTableWidget) -> list[list[str]]:
    return [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]


def open_page(qtbot, ws: Workspace) -> TrainingPage:
    page = TrainingPage(ws)
    qtbot.addWidget(page)
    page.resize(1100, 760)
    page.show()
    qtbot.waitUntil(lambda: {"zs", "plain"} <= set(page.runs.names()), timeout=LONG)
    page.tabs.setCurrentWidget(page.evaluation)
    return page


def test_the_newest_by_category_evaluation_is_shown_with_what_it_rests_on(qtbot, workspace: Workspace) -> None:
    page = open_page(qtbot, workspace)
    view = page.evaluation.by_category
    page.select("zs")
    assert view.isVisible() and not view.hint.isVisible()
    assert not page.eval_table.isVisible()  # no retrieval evaluation: its empty table does not take the room
    # newest first, one per dataset / split: the photos / val one was written last
    assert [view.choice.itemText(i) for i in range(view.choice.count())] == ["photos / val", "shapes / test"]
    assert view.choice.isEnabled()
    view.choice.setCurrentText("shapes / test")
    # the newest of shapes / test (67.5 %), not the older 10 %; chance is 1 in 4 categories
    text = view.headline.text()
    assert "top-1 67.5%" in text and "chance 25.0%" in text and "top-5 95.0%" in text
    assert "mean per category 60.0%" in text
    assert "40 items, 4 categories (3 with items in test), 2 unlabelled left out" in text
    assert view.source.text() == "step 4 (best.pt), the default prompts"
    # categories best first, whatever order the event lists them in
    assert rows(view.category_table) == [["chair", "20", "90.0", "100.0"], ["table", "10", "60.0", "90.0"],
                                         ["lamp", "10", "30.0", "90.0"]]
    assert view.category_table.item(2, 2).toolTip() == "3 of 10 items"
    # the confused pairs, most first, and how many of the wrong items they account for: 40 * (1 - 0.675) = 13
    assert rows(view.confusion_table) == [["lamp", "→ chair", "5"], ["table", "→ chair", "4"],
                                          ["lamp", "→ table", "2"]]
    assert view.confusion_caption.text() == "Most confused pairs (11 of 13 wrong items)"
    # the other dataset / split, and the choice is kept when the run is shown again
    view.choice.setCurrentText("photos / val")
    assert "top-1 50.0%" in view.headline.text()
    page.evaluation.refresh()
    assert view.choice.currentText() == "photos / val"
    SHOT.unlink(missing_ok=True)
    view.choice.setCurrentText("shapes / test")
    page.layout().activate()  # laid out as after the event loop's next turn, for the screenshot
    page.evaluation.layout().activate()
    assert page.grab().save(str(SHOT)) and SHOT.stat().st_size > 0
    # several runs: the tab is for one
    page.select(["zs", "plain"])
    assert not view.isVisible()


def test_a_run_without_one_names_the_command_and_fills_in_when_it_arrives(qtbot, workspace: Workspace) -> None:
    page = open_page(qtbot, workspace)
    view = page.evaluation.by_category
    page.select("plain")
    assert view.hint.isVisible()
    assert "trainer eval --run plain --by-category" in view.hint.text()
    assert not view.category_table.isVisible() and not view.headline.isVisible()
    assert view.category_table.rowCount() == 0
    page.layout().activate()
    page.evaluation.layout().activate()
    assert page.grab().save(str(SHOT.with_name("crossfold_category_eval_hint.png")))
    # `trainer eval --by-category` appends its event to the run's file: the shown tab follows it
    writer = EventWriter(workspace.runs / "plain" / "events.jsonl")
    writer.emit(CategoryEval(step=4, split="test", dataset="shapes", metrics={
        "top1": 1.0, "top5": 1.0, "mean_class_top1": 1.0, "num_items": 2.0, "num_categories": 2.0,
        "num_unlabelled": 0.0}, per_category={"a": {"count": 1, "top1": 1.0, "top5": 1.0},
                                              "b": {"count": 1, "top1": 1.0, "top5": 1.0}}))
    writer.close()
    qtbot.waitUntil(lambda: view.category_table.rowCount() == 2, timeout=LONG)
    assert not view.hint.isVisible() and view.headline.isVisible()
    assert "2 items, 2 categories, none unlabelled" in view.headline.text()
    assert view.choice.currentText() == "shapes / test" and not view.choice.isEnabled()  # nothing to choose
    assert view.confusion_caption.text() == "No item was labelled wrongly."
    assert view.confusion_table.rowCount() == 0
