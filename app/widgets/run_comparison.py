"""The Training page's Compare tab: the selected runs side by side (their metrics, the best of each row in bold)
and the difference of their configurations.

``RunComparison(states)``: ``states()`` gives the runs shown (the page's selection; two or more are compared).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.runs import RunState
from app.widgets.config_diff import ConfigDiff
from app.widgets.labels import direction_label, rate
from engine.metric_keys import CURVE_RATES, mean_key, metric_key, parse_metrics

#: The test metrics compared per direction.
TEST_RATES = ("R@1", "R@5", "NDCG@5")


class RunComparison(QWidget):
    """Attributes: ``compare_caption``, ``compare_table`` (a column per run), ``config_diff``."""

    def __init__(self, states: Callable[[], list[RunState]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.states = states
        self.compare_caption = QLabel("Select several runs (Ctrl+click) to compare them side by side.")
        self.compare_caption.setWordWrap(True)
        self.compare_table = QTableWidget(0, 0)
        self.compare_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.compare_table.verticalHeader().setDefaultSectionSize(22)
        self.config_diff = ConfigDiff()
        compare_split = QSplitter(Qt.Orientation.Vertical)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.compare_caption)
        top_layout.addWidget(self.compare_table, 1)
        compare_split.addWidget(top)
        compare_split.addWidget(self.config_diff)
        compare_split.setStretchFactor(0, 3)
        compare_split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(compare_split)

    def refresh(self) -> None:
        """The table and the config difference for the runs shown."""
        states = self.states()
        self.config_diff.set_runs([(s.name, s.config) for s in states])
        table = self.compare_table
        table.clear()
        if len(states) < 2:
            self.compare_caption.setText("Select several runs (Ctrl+click in the table) to compare them side by "
                                         "side.")
            table.setRowCount(0)
            table.setColumnCount(0)
            return
        keys = {datasets_of(s) for s in states}
        comparable = len(keys) == 1
        datasets = sorted({d for key in keys for d in key})
        if comparable:
            self.compare_caption.setText("Metrics in %, the best of each row in bold.")
        else:  # R@k on another dataset is another test: no row's best means anything
            self.compare_caption.setText(
                "Metrics in %. <span style='color:#c5221f'>These runs were evaluated on different datasets ("
                + ", ".join(html.escape(d or "unknown") for d in datasets)
                + "): their numbers do not compare, so no best is marked.</span>")
        rows = _rows(states)
        table.setColumnCount(len(states))
        table.setHorizontalHeaderLabels([s.name for s in states])
        table.setRowCount(len(rows))
        bold = QFont(self.font())
        bold.setBold(True)
        for r, (label, values, is_rate) in enumerate(rows):
            table.setVerticalHeaderItem(r, QTableWidgetItem(label))
            numbers = [v for v in values if isinstance(v, (int, float)) and not math.isnan(v)]
            best = max(numbers) if is_rate and numbers else None
            for c, v in enumerate(values):
                text = rate(v) if is_rate else ("" if v is None else str(v))
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if comparable and best is not None and v == best and len(numbers) > 1:
                    item.setFont(bold)
                    item.setBackground(QColor(102, 187, 106, 60))
                table.setItem(r, c, item)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        table.horizontalHeader().setDefaultSectionSize(130)
        for c in range(table.columnCount()):
            table.setColumnWidth(c, 130)


def datasets_of(state: RunState) -> tuple[str, str]:
    """``(trained and validated on, tested on)``: the run's dataset, and that of its latest test evaluation
    (``trainer eval --dataset`` may name another)."""
    own = state.dataset or str(state.config.get("dataset") or "")
    test = next((e for e in reversed(state.evals) if e.split == "test"), None)
    return own, (test.dataset if test is not None and test.dataset else own)


def _dataset_label(state: RunState) -> str:
    own, test = datasets_of(state)
    return own if test == own else f"{own} (test: {test})"


def _rows(states: list[RunState]) -> list[tuple[str, list[Any], bool]]:
    """The comparison's rows: ``(label, a value per run, is a rate)``."""
    rows: list[tuple[str, list[Any], bool]] = [
        ("dataset", [_dataset_label(s) for s in states], False),
        ("loss", [s.loss or s.config.get("loss", "") for s in states], False),
        ("status", [s.display_status for s in states], False),
        ("steps", [f"{s.step}/{s.total}" if s.total else "" for s in states], False),
        ("best step", [s.best[0] for s in states], False),
    ]
    for metric in CURVE_RATES:
        rows.append((f"val mean {metric} (best)", [s.best_val_metrics().get(mean_key(metric)) for s in states],
                     True))
    directions: list[str] = []
    for s in states:
        for d in parse_metrics(s.latest_metrics("test")):
            if d not in directions:
                directions.append(d)
    for d in directions:
        for metric in TEST_RATES:
            rows.append((f"test {direction_label(d)} {metric}",
                         [s.latest_metrics("test").get(metric_key(d, metric)) for s in states], True))
    return rows
