"""The Datasets page: the catalogue's datasets with their counts."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from app.tasks import submit
from engine.catalog import DatasetSummary
from engine.workspace import Workspace

COLUMNS = ("Name", "Kind", "Format", "Items", "Captions", "Images", "Views", "Train / val / test")


class DatasetsPage(QWidget):
    loaded = Signal(int)  # number of datasets shown

    def __init__(self, workspace: Workspace, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.title = QLabel("<h2>Datasets</h2>")
        self.status = QLabel("Loading the catalogue…")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.status)
        layout.addWidget(self.table)
        self._tasks: list[object] = []
        self.refresh()

    def refresh(self) -> None:
        ws = self.workspace
        self._tasks.append(submit(lambda: ws.catalog().summaries(), self._show, self._failed))

    def _show(self, summaries: list[DatasetSummary]) -> None:
        self.table.setRowCount(len(summaries))
        for row, s in enumerate(summaries):
            values = (
                s.name, s.kind, s.source_format, s.items, s.by_modality.get("text", 0),
                s.by_modality.get("image", 0), s.by_modality.get("view", 0),
                " / ".join(str(s.by_split.get(k, 0)) for k in ("train", "val", "test")),
            )
            for col, value in enumerate(values):
                self.table.setItem(row, col, QTableWidgetItem(str(value)))
        self.table.resizeColumnsToContents()
        self.status.setText(
            f"{len(summaries)} datasets in {self.workspace.root}" if summaries
            else f"No datasets yet in {self.workspace.root}: run `trainer demo-data`."
        )
        self.loaded.emit(len(summaries))

    def _failed(self, message: str) -> None:
        self.status.setText(f"Could not read the catalogue: {message.splitlines()[0]}")
