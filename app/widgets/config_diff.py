"""The configuration difference between runs: one row per option whose value differs, one column per run.

Nested options (a dict in the config) are one row per changed key (``augment.flip``), never raw JSON; lists
are their values separated by commas."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

#: Fields that always differ between runs or say nothing about how they were trained.
IGNORED = ("name", "resume")


def _value_text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, (list, tuple)):
        return ", ".join(_value_text(v) for v in value) if value else "(none)"
    if isinstance(value, dict):  # only an empty one gets here (others are flattened)
        return "(none)"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (an empty dict stays one key)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def config_differences(configs: Sequence[dict[str, Any]], show_all: bool = False) -> list[tuple[str, list[str], bool]]:
    """``(option, value text per run, differs)`` in the configs' order: with ``show_all`` every option, else
    only the options whose values differ. Nested options are flattened to ``parent.key`` rows."""
    configs = [flatten(c) for c in configs]
    keys: list[str] = []
    for config in configs:
        for key in config:
            if key not in keys and key not in IGNORED:
                keys.append(key)
    rows = []
    for key in keys:
        values = [_value_text(config.get(key)) for config in configs]
        differs = len(set(values)) > 1
        if differs or show_all:
            rows.append((key, values, differs))
    return rows


class ConfigDiff(QWidget):
    """``set_runs([(name, config), ...])``; shows the options that differ (or all of them, highlighted)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runs: list[tuple[str, dict[str, Any]]] = []
        self.caption = QLabel("Select two runs (Ctrl+click) to compare their configurations.")
        self.caption.setWordWrap(True)
        self.show_all = QCheckBox("Show every option")
        self.show_all.toggled.connect(self._fill)
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        top = QHBoxLayout()
        top.addWidget(self.caption, 1)
        top.addWidget(self.show_all)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)

    def set_runs(self, runs: Sequence[tuple[str, dict[str, Any]]]) -> None:
        self._runs = [(name, dict(config or {})) for name, config in runs]
        self._fill()

    def differences(self) -> list[tuple[str, list[str], bool]]:
        return config_differences([c for _, c in self._runs], self.show_all.isChecked())

    def _fill(self) -> None:
        runs = self._runs
        if len(runs) < 2:
            self.caption.setText("Select two or more runs (Ctrl+click in the table) to see how their "
                                 "configurations differ.")
            self.table.clear()
            self.table.setRowCount(0)
            self.table.setColumnCount(0)
            return
        rows = self.differences()
        differing = sum(1 for _, _, d in rows if d)
        names = ", ".join(n for n, _ in runs)
        if differing == 0:
            self.caption.setText(f"{names}: same configuration (apart from the name).")
        else:
            self.caption.setText(f"{names}: {differing} option{'s differ' if differing != 1 else ' differs'}.")
        self.table.clear()
        self.table.setColumnCount(1 + len(runs))
        self.table.setHorizontalHeaderLabels(["Option", *(n for n, _ in runs)])
        self.table.setRowCount(len(rows))
        bold = QFont(self.font())
        bold.setBold(True)
        highlight = QBrush(QColor(255, 214, 102, 90))
        for r, (key, values, differs) in enumerate(rows):
            item = QTableWidgetItem(key.replace("_", " "))
            item.setToolTip(f"--{key.replace('_', '-')}")
            if differs:
                item.setFont(bold)
            self.table.setItem(r, 0, item)
            for c, text in enumerate(values, start=1):
                cell = QTableWidgetItem(text)
                if differs:
                    cell.setBackground(highlight)
                    cell.setFont(bold)
                self.table.setItem(r, c, cell)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.resizeColumnsToContents()
        for c in range(1, self.table.columnCount()):
            self.table.setColumnWidth(c, max(140, self.table.columnWidth(c)))
        header.setStretchLastSection(True)
