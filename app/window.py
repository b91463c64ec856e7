"""The main window: a sidebar of pages and a status bar."""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QStackedWidget,
    QWidget,
)

from app.pages.datasets import DatasetsPage
from engine.workspace import Workspace


def _placeholder(text: str) -> QWidget:
    page = QWidget()
    layout = QHBoxLayout(page)
    label = QLabel(text)
    label.setWordWrap(True)
    layout.addWidget(label)
    return page


class MainWindow(QMainWindow):
    def __init__(self, workspace: Workspace) -> None:
        super().__init__()
        self.workspace = workspace
        self.setWindowTitle(f"Crossfold — {workspace.root}")
        self.resize(1200, 800)

        self.sidebar = QListWidget()
        self.sidebar.setFixedWidth(160)
        self.pages = QStackedWidget()
        self.datasets_page = DatasetsPage(workspace)
        for name, page in (
            ("Datasets", self.datasets_page),
            ("Training", _placeholder("<h2>Training</h2><p>Runs will be launched and followed here.</p>")),
            ("Search", _placeholder("<h2>Search</h2><p>Cross-modal search will live here.</p>")),
        ):
            self.sidebar.addItem(name)
            self.pages.addWidget(page)
        self.sidebar.currentRowChanged.connect(self.pages.setCurrentIndex)
        self.sidebar.setCurrentRow(0)

        central = QWidget()
        layout = QHBoxLayout(central)
        layout.addWidget(self.sidebar)
        layout.addWidget(self.pages, 1)
        self.setCentralWidget(central)
        self.statusBar().showMessage(f"Workspace: {workspace.root}")

        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        self.menuBar().addMenu("&File").addAction(quit_action)

        self._settings = QSettings("Crossfold", "Crossfold")
        geometry = self._settings.value("main/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)

    def closeEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt override
        self._settings.setValue("main/geometry", self.saveGeometry())
        super().closeEvent(event)
