"""The Compare tab marks each row's best only among runs of one dataset: R@k on another dataset is another test."""

from __future__ import annotations

from app.runs import RunState
from app.widgets.run_comparison import RunComparison
from engine.runs.state import Eval


def _run(name: str, dataset: str, r1: float, tested_on: str | None = None) -> RunState:
    return RunState(name=name, dataset=dataset, loss="clip", in_catalog=True, status="done",
                    evals=[Eval(step=10, split="test", metrics={"text_to_image_R@1": r1, "mean_R@1": r1},
                                dataset=tested_on)])


def _bold_cells(view: RunComparison) -> list[tuple[str, str]]:
    table = view.compare_table
    return [(table.verticalHeaderItem(r).text(), table.horizontalHeaderItem(c).text())
            for r in range(table.rowCount()) for c in range(table.columnCount())
            if table.item(r, c) is not None and table.item(r, c).font().bold()]


def test_runs_of_two_datasets_are_shown_but_no_best_is_marked(qtbot) -> None:
    states = [_run("a", "photos", 0.40), _run("b", "photos", 0.55)]
    view = RunComparison(lambda: states)
    qtbot.addWidget(view)
    view.refresh()
    assert view.compare_caption.text() == "Metrics in %, the best of each row in bold."
    bold = _bold_cells(view)
    assert bold and all(column == "b" for _, column in bold)  # b's 55 % over a's 40 %

    states[1] = _run("b", "scenes-demo", 0.55)
    view.refresh()
    caption = view.compare_caption.text()
    assert "different datasets (photos, scenes-demo)" in caption and "no best is marked" in caption
    assert _bold_cells(view) == []
    table = view.compare_table
    dataset_row = next(r for r in range(table.rowCount()) if table.verticalHeaderItem(r).text() == "dataset")
    assert [table.item(dataset_row, c).text() for c in range(2)] == ["photos", "scenes-demo"]


def test_a_test_evaluation_on_another_dataset_is_not_compared_either(qtbot) -> None:
    states = [_run("a", "photos", 0.40), _run("b", "photos", 0.55, tested_on="flickr8k")]  # trainer eval --dataset
    view = RunComparison(lambda: states)
    qtbot.addWidget(view)
    view.refresh()
    assert "different datasets (flickr8k, photos)" in view.compare_caption.text() and _bold_cells(view) == []
    table = view.compare_table
    assert table.item(0, 1).text() == "photos (test: flickr8k)"
