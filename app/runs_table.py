"""The Qt table of runs (:class:`RunsTableModel`): one row per run of a :class:`~app.runs.RunsModel`, its cells
written by :mod:`engine.runs.columns` (the same text as ``trainer runs list``), with the app's colours, fonts and
tooltips."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont

from engine.fmt import pct
from engine.runs.columns import COLUMNS, cell

if TYPE_CHECKING:
    from app.runs import RunsModel, RunState

HEADER_TIPS = {
    "Best": "★ the best checkpoint: its validation mean R@1 and its step",
    "Val R@1": "Mean R@1 over the directions on the validation split, at the best checkpoint",
    "Test R@1": "Mean R@1 over the directions on the test split (best checkpoint)",
    "Test R@5": "Mean R@5 over the directions on the test split (best checkpoint)",
    "NDCG@5": "Mean NDCG@5 over the directions on the test split (best checkpoint)",
}
PROGRESS_COLUMN = COLUMNS.index("Progress")
STATUS_COLUMN = COLUMNS.index("Status")
BEST_COLUMN = COLUMNS.index("Best")
STATUS_COLOURS = {"running": "#1565c0", "starting": "#1565c0", "done": "#2e7d32", "failed": "#c62828",
                  "cancelled": "#8d6e63", "interrupted": "#ef6c00"}
ProgressRole = Qt.ItemDataRole.UserRole + 1
NameRole = Qt.ItemDataRole.UserRole + 2


class RunsTableModel(QAbstractTableModel):
    """One row per run, in the model's order; rows are inserted and removed, never reset (selection stays)."""

    def __init__(self, runs: RunsModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runs = runs
        self._names: list[str] = list(runs.names())
        runs.runsChanged.connect(self._sync)
        runs.runUpdated.connect(self._updated)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._names)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return HEADER_TIPS.get(COLUMNS[section])
        return None

    def name_at(self, row: int) -> str:
        return self._names[row]

    def row_of(self, name: str) -> int:
        return self._names.index(name) if name in self._names else -1

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        state = self.runs.state(self._names[index.row()])
        if state is None:
            return None
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(state, col)
        if role == NameRole:
            return state.name
        if role == ProgressRole:
            return state.fraction
        if role == Qt.ItemDataRole.ForegroundRole and col == STATUS_COLUMN:
            return QColor(STATUS_COLOURS.get(state.display_status, "#444444"))
        if role == Qt.ItemDataRole.FontRole and col in (0, STATUS_COLUMN):
            font = QFont()
            font.setBold(col == 0 or state.live)
            return font
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(state, col)
        if role == Qt.ItemDataRole.TextAlignmentRole and col >= BEST_COLUMN and col != len(COLUMNS) - 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _text(s: RunState, col: int) -> str:
        return cell(s, COLUMNS[col])

    @staticmethod
    def _tooltip(s: RunState, col: int) -> str:
        name = COLUMNS[col]
        if name == "Best":
            step, score = s.best
            path = s.best_path or s.metrics.get("best_checkpoint", "")
            return f"best checkpoint: step {step}, mean R@1 {pct(score)} on {s.val_split}\n{path}" if step else ""
        if name == "Status":
            if s.display_status == "interrupted":
                return "The catalogue says running but its process is gone: resume it from its last checkpoint."
            if s.error or s.job_error:
                return s.error or s.job_error
            return f"pid {s.pid}" if s.live and s.pid else ""
        if name == "Run":
            return s.run_dir
        if name == "Loss" and s.zero_shot:
            weights = s.config.get("pretrained") or "pretrained weights"
            return (f"Zero-shot: {s.config.get('model', 'the model')} with {weights} as they are, no training "
                    "(made by “Index with a pretrained model…” or trainer index --pretrained)")
        return ""

    def _sync(self) -> None:
        names = self.runs.names()
        keep = set(names)
        for row in reversed(range(len(self._names))):
            if self._names[row] not in keep:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._names[row]
                self.endRemoveRows()
        have = set(self._names)
        for name in names:
            if name not in have:
                row = len(self._names)
                self.beginInsertRows(QModelIndex(), row, row)
                self._names.append(name)
                self.endInsertRows()

    def _updated(self, name: str) -> None:
        row = self.row_of(name)
        if row >= 0:
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
