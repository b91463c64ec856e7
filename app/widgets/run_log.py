"""The Training page's Log tab: the selected run's log (its trainer output and its events in words), followed as
it grows; kept at the end when it was there."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QFont
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from app.runs import RunState


class RunLog(QPlainTextEdit):
    """``RunLog(states)``: ``states()`` gives the runs shown (the page's selection; the log is of one)."""

    def __init__(self, states: Callable[[], list[RunState]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.states = states
        self._shown: tuple[str, int] | None = None  # (run, lines of its log shown)
        self.setReadOnly(True)
        self.setMaximumBlockCount(5000)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.TypeWriter)
        self.setFont(mono)

    def refresh(self, reset: bool = False) -> None:
        """Append the shown run's new lines (everything again when ``reset`` or another run is shown)."""
        states = self.states()
        if len(states) != 1:
            if reset:
                self.setPlainText("Select one run to see its log." if len(states) > 1 else "")
                self._shown = None
            return
        s = states[0]
        if reset or self._shown is None or self._shown[0] != s.name:
            self.setPlainText("\n".join(s.log))
            self._shown = (s.name, s.log_total)
            self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())
            return
        shown = self._shown[1]
        if s.log_total > shown:
            start = max(0, shown - s.log_dropped)
            bar = self.verticalScrollBar()
            at_end = bar.value() >= bar.maximum() - 4
            for line in s.log[start:]:
                self.appendPlainText(line)
            self._shown = (s.name, s.log_total)
            if at_end:
                bar.setValue(bar.maximum())
