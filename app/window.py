"""The main window: pages Datasets, Training and Search in a sidebar; status bar; menus; saved state."""

from __future__ import annotations

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QWidget,
)

from app.heap import freeze_long_lived
from app.job_interface import tracker
from app.pages.datasets import DatasetsPage
from app.pages.search import SearchPage
from app.pages.training import TrainingPage
from app.tasks import submit
from engine.workspace import Workspace

PAGES = ("Datasets", "Training", "Search")


def compute_device_name() -> str:
    from engine.run.device import describe, pick_device

    return describe(pick_device("auto"))


class MainWindow(QMainWindow):
    def __init__(self, workspace: Workspace) -> None:
        super().__init__()
        self.workspace = workspace
        self.setObjectName("MainWindow")
        self.setWindowTitle(f"Crossfold — {workspace.root}")
        self.resize(1280, 820)

        self.sidebar = QListWidget()
        self.sidebar.setFixedWidth(150)
        self.pages = QStackedWidget()
        self.datasets_page = DatasetsPage(workspace)
        self.training_page = TrainingPage(workspace)
        self.search_page = SearchPage(workspace)
        for name, page in zip(PAGES, (self.datasets_page, self.training_page, self.search_page), strict=True):
            self.sidebar.addItem(name)
            self.pages.addWidget(page)
        self.sidebar.currentRowChanged.connect(self.pages.setCurrentIndex)
        self.datasets_page.search_with_item.connect(self._search_with_item)
        self.datasets_page.folder_opened.connect(self._folder_opened)

        central = QWidget()
        layout = QHBoxLayout(central)
        layout.addWidget(self.sidebar)
        layout.addWidget(self.pages, 1)
        self.setCentralWidget(central)

        self.workspace_label = QLabel(f"Workspace: {workspace.root}")
        self.device_label = QLabel("Device: …")
        self.jobs_label = QLabel("No jobs running")
        self.statusBar().addWidget(self.workspace_label)
        self.statusBar().addPermanentWidget(self.jobs_label)
        self.statusBar().addPermanentWidget(self.device_label)
        tracker().changed.connect(self._jobs_changed)
        self._device_task = submit(compute_device_name, lambda name: self.device_label.setText(f"Device: {name}"),
                                   lambda _err: self.device_label.setText("Device: CPU"), owner=self)
        self._menus()

        self._settings = QSettings("Crossfold", "Crossfold")
        geometry = self._settings.value("main/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self._settings.value("main/state")
        if state is not None:
            self.restoreState(state)
        self.sidebar.setCurrentRow(int(self._settings.value("main/page", 0) or 0))
        QTimer.singleShot(0, freeze_long_lived)  # once the pages are built: see app/heap.py

    def _menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        for text, shortcut, slot in (
            ("&Open a folder…", QKeySequence.StandardKey.Open, self._open_folder),
            ("&Import dataset…", QKeySequence("Ctrl+I"), self._import),
            ("Create &demo datasets", None, self.datasets_page.create_demo_data),
            ("&Refresh", QKeySequence.StandardKey.Refresh, self.datasets_page.refresh),
        ):
            action = QAction(text, self)
            if shortcut is not None:
                action.setShortcut(shortcut)
            action.triggered.connect(slot)
            file_menu.addAction(action)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)

        view_menu = self.menuBar().addMenu("&View")
        for i, name in enumerate(PAGES):
            action = QAction(f"&{name}", self)
            action.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
            action.triggered.connect(lambda _=False, row=i: self.sidebar.setCurrentRow(row))
            view_menu.addAction(action)

        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About Crossfold", self)
        about.triggered.connect(lambda: QMessageBox.about(
            self, "About Crossfold",
            "Crossfold: cross-modal search and representation learning on multifold data "
            "(CLIP, MXM-CLR, GCL, SSPC)."))
        help_menu.addAction(about)

    def _import(self) -> None:
        self.sidebar.setCurrentRow(0)
        self.datasets_page.open_import_dialog()

    def _open_folder(self) -> None:
        self.sidebar.setCurrentRow(0)
        self.datasets_page.open_folder()

    def _search_with_item(self, item_id: int) -> None:
        self.sidebar.setCurrentRow(PAGES.index("Search"))
        summary = self.datasets_page.summary(self.datasets_page.current_dataset)
        self.search_page.search_with_item(item_id, summary.kind if summary else "", summary.name if summary else "")

    def _folder_opened(self, _dataset: str, run: str, target: str, outcome: str) -> None:
        """"Open a folder…" finished: the Search page, on its zero-shot run."""
        if outcome == "finished" and run:
            self.sidebar.setCurrentRow(PAGES.index("Search"))
            self.search_page.open_run(run, target)

    def _jobs_changed(self, titles: list[str]) -> None:
        self.jobs_label.setText(f"Running: {', '.join(titles)}" if titles else "No jobs running")

    def closeEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt override
        self._settings.setValue("main/geometry", self.saveGeometry())
        self._settings.setValue("main/state", self.saveState())
        self._settings.setValue("main/page", self.sidebar.currentRow())
        super().closeEvent(event)

