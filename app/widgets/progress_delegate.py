"""The runs table's Progress column, drawn as a bar with ``step/total`` on it in the colour of the run's status."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, Qt
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionProgressBar, QStyleOptionViewItem

from app.runs_table import PROGRESS_COLUMN, STATUS_COLOURS, ProgressRole


class ProgressDelegate(QStyledItemDelegate):
    """Draws the Progress column as a bar with ``step/total`` on it."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        text = index.data(Qt.ItemDataRole.DisplayRole) or ""
        if not text:
            super().paint(painter, option, index)
            return
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(option.rect, option.palette.highlight())
        bar = QStyleOptionProgressBar()
        bar.rect = QRect(option.rect.adjusted(3, 4, -3, -4))
        bar.minimum, bar.maximum = 0, 1000
        bar.progress = int(round(1000 * float(index.data(ProgressRole) or 0.0)))
        bar.text = text
        bar.textVisible = True
        bar.textAlignment = Qt.AlignmentFlag.AlignCenter
        bar.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Horizontal
        bar.palette = QPalette(option.palette)
        status = index.sibling(index.row(), PROGRESS_COLUMN - 1).data(Qt.ItemDataRole.DisplayRole)
        bar.palette.setColor(QPalette.ColorRole.Highlight, QColor(STATUS_COLOURS.get(status, "#1565c0")))
        widget = option.widget
        style = widget.style() if widget is not None else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, widget)
