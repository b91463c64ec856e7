"""The Training page's Evaluation tab: one run's retrieval metrics, a row per direction (the mean last), on the
validation split at the best or the latest step, or on the test split; below them its by-category evaluation
(:class:`~app.widgets.category_eval.CategoryEvalView`, ``by_category``).

``EvaluationView(states)``: ``states()`` gives the runs shown (the page's selection; the table is for one).
Signal: ``failuresRequested()`` (a row double-clicked or the button pressed: the page opens the failure browser
of :meth:`EvaluationView.direction`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.runs import RunState
from app.widgets.category_eval import CategoryEvalView
from app.widgets.labels import direction_label, rate
from engine.metric_keys import SUMMARY_ROW, TABLE_RATES, is_rate, parse_metrics

EVAL_COLUMNS = (*TABLE_RATES, "median_rank", "num_queries")
EVAL_HEADERS = {"median_rank": "Median rank", "num_queries": "Queries"}
EVAL_TIPS = {
    "R@1": "Recall at 1: the share of queries whose right answer ranks first",
    "R@5": "Recall at 5: the share of queries whose right answer is in the top 5",
    "R@10": "Recall at 10: the share of queries whose right answer is in the top 10",
    "RR@1": "Recall rate at 1, the Text2Shape papers' name for the same number as R@1: the share of queries "
            "with a right answer ranked first (shown to compare with published results)",
    "RR@5": "Recall rate at 5, the Text2Shape papers' name for the same number as R@5: the share of queries "
            "with a right answer in the top 5 (shown to compare with published results)",
    "NDCG@5": "Normalised discounted cumulative gain over the top 5: every right answer counts, higher ranks "
              "count more (1 = all of them first)",
    "median_rank": "The middle rank of the right answers (1 is best)",
    "num_queries": "How many queries were evaluated in this direction",
}
TEST = "test"


class EvaluationView(QWidget):
    """Attributes: ``eval_split`` (which evaluation), ``eval_caption``, ``eval_table``, ``eval_failures_button``,
    ``by_category``."""

    failuresRequested = Signal()

    def __init__(self, states: Callable[[], list[RunState]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.states = states
        self.eval_split = QComboBox()
        self.eval_split.addItems(["val: best checkpoint", "val: latest", TEST])
        self.eval_split.currentIndexChanged.connect(self.refresh)
        self.eval_caption = QLabel("")
        self.eval_table = QTableWidget(0, len(EVAL_COLUMNS))
        self._set_eval_headers()
        self.eval_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.eval_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.eval_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.eval_table.verticalHeader().setDefaultSectionSize(22)
        self.eval_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.eval_table.doubleClicked.connect(lambda _i: self.failuresRequested.emit())
        self.eval_failures_button = QPushButton("Browse failures of this direction…")
        self.eval_failures_button.clicked.connect(lambda: self.failuresRequested.emit())
        eval_top = QHBoxLayout()
        eval_top.addWidget(QLabel("Split"))
        eval_top.addWidget(self.eval_split)
        eval_top.addWidget(self.eval_caption, 1)
        eval_top.addWidget(self.eval_failures_button)
        self.by_category = CategoryEvalView(states)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(eval_top)
        layout.addWidget(self.eval_table, 2)
        layout.addWidget(self.by_category, 3)

    def _set_eval_headers(self) -> None:
        """Words, not keys, for the evaluation table's columns; each explains itself in a tooltip."""
        for c, col in enumerate(EVAL_COLUMNS):
            item = QTableWidgetItem(EVAL_HEADERS.get(col, col))
            item.setToolTip(EVAL_TIPS.get(col, ""))
            self.eval_table.setHorizontalHeaderItem(c, item)

    def direction(self) -> str | None:
        """The direction of the selected row; None for none, or for the mean."""
        row = self.eval_table.currentRow()
        item = self.eval_table.verticalHeaderItem(row) if row >= 0 else None
        direction = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        return None if direction == SUMMARY_ROW else direction

    def split_of(self, state: RunState) -> str:
        """The split shown, for ``state``: ``test`` or its validation split."""
        return TEST if self.eval_split.currentText() == TEST else state.val_split

    def _metrics(self, state: RunState) -> tuple[dict[str, Any], str]:
        choice = self.eval_split.currentText()
        if choice == TEST:
            return state.latest_metrics(TEST), "test split, best checkpoint"
        if choice == "val: latest":
            evals = state.val_evals()
            if evals:
                return evals[-1].metrics, f"{state.val_split} at step {evals[-1].step}"
            return {}, ""
        step, _ = state.best
        return state.best_val_metrics(), f"{state.val_split} at the best step {step}" if step is not None else ""

    def refresh(self) -> None:
        """The tables for the run shown; a word for none or several."""
        self.by_category.refresh()
        states = self.states()
        self.eval_table.setRowCount(0)
        if len(states) != 1:
            self.eval_caption.setText("Select one run.")
            self.eval_table.setVisible(True)
            return
        metrics, where = self._metrics(states[0])
        rows = parse_metrics(metrics)
        self.eval_caption.setText(f"{where} — rates in %; double-click a row for its failures" if rows
                                  else "No retrieval evaluation on this split yet.")
        self.eval_table.setRowCount(len(rows))
        bold = QFont(self.font())
        bold.setBold(True)
        for r, (direction, values) in enumerate(rows.items()):
            head = QTableWidgetItem(direction_label(direction))
            head.setData(Qt.ItemDataRole.UserRole, direction)
            self.eval_table.setVerticalHeaderItem(r, head)
            for c, col in enumerate(EVAL_COLUMNS):
                v = values.get(col)
                text = rate(v) if is_rate(col) else (f"{v:g}" if isinstance(v, (int, float)) else "–")
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if direction == SUMMARY_ROW:
                    item.setFont(bold)
                self.eval_table.setItem(r, c, item)
        if rows:
            self.eval_table.selectRow(0)
        # an empty table would only push the by-category evaluation (a zero-shot run's usual one) out of sight
        self.eval_table.setVisible(bool(rows))
