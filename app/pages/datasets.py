"""The Datasets page: the catalogue's datasets with their counts, and a browser of the selected one.

Top: the datasets (name, kind, counts), the Import…, Create demo datasets, Rescan (a dataset imported from a folder:
the folder imported again, which synchronises the dataset with it; ``app/rescan.py``) and Index with a pretrained
model… buttons (each runs the engine as a child process), and a progress bar (with Cancel) while the demo data is
made, the selected dataset is rescanned or indexed with pretrained weights (``trainer index --pretrained``: a
zero-shot run). Below:
the selected dataset in one line (its kind, items, and how many have captions: a folder imported as it is has
none, and can be searched but not trained on), filters (split, category, caption text — debounced; no caption
filter for a dataset without captions), a virtualised thumbnail grid of the matching items, and the selected item
in full (views, captions, metadata, "Search with this item").

Nothing here blocks the GUI thread: catalogue queries run on workers (``engine.catalog.browse``),
thumbnails are decoded by the :class:`ThumbnailCache`, and every answer is checked against the
request it answers, so a late answer for an old selection or filter is dropped.
"""

from __future__ import annotations

import html
from dataclasses import replace
from pathlib import PurePath
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.dialogs.import_dialog import ImportDialog
from app.dialogs.open_folder import OpenFolderDialog
from app.dialogs.pretrained_index import PretrainedIndexDialog, PretrainedIndexRequest
from app.dialogs.render_dialog import RenderDialog
from app.engine_job import EngineJob, LineEvent
from app.job_interface import Job, connect_job, show_progress
from app.open_folder import OpenFolderPlan, opened_line, run_of, stage_args
from app.render_job import SHAPES, RenderRequest, needs_render, render_line, unrendered_items
from app.rescan import FolderImport, folder_import, rescan_args, rescan_line
from app.staged_job import Stage, StagedJob
from app.thumbnails import ThumbnailCache, shared_cache
from app.widgets.item_detail import NO_MATCH, ItemDetailView
from app.widgets.item_grid import Background, CatalogHandle, ItemGrid, ItemGridModel
from app.widgets.render_notice import RenderNotice, not_rendered_picture
from engine.catalog import DatasetSummary
from engine.catalog.browse import DatasetFacets, dataset_facets
from engine.job_events import JobRun
from engine.workspace import Workspace

COLUMNS = ("Name", "Kind", "Format", "Items", "Captions", "Images", "Views", "Train / val / test", "Categories")
ALL = ""  # the combo data meaning "no filter"
TEXT_DEBOUNCE_MS = 300
TEXT_PLACEHOLDER = "caption contains…"


def summary_text(s: DatasetSummary) -> str:
    """The selected dataset in one line: kind, items, and how many have captions (what that means when not all)."""
    noun = "item" if s.items == 1 else "items"
    line = (f"<b>{html.escape(s.name)}</b> · {s.kind} · {s.items:,} {noun} · "
            f"captions: {s.captioned_items:,} of {s.items:,} {noun}")
    if s.items and not s.captioned_items:
        return (line + " <span style='color:#5f6368'>— search it with pretrained weights (Index with a pretrained "
                "model…); training needs captions</span>")
    if s.captioned_items < s.items:
        return line + (f" <span style='color:#5f6368'>— training uses the {s.captioned_items:,} with captions"
                       "</span>")
    return line


class DatasetsPage(QWidget):
    loaded = Signal(int)  # number of datasets shown, after each refresh
    dataset_selected = Signal(str)  # the dataset now browsed ("" when none)
    items_shown = Signal(int)  # items matching the filters, each time they change
    search_with_item = Signal(int)  # an item id: "search with this item" (for the Search page)
    demo_finished = Signal(bool)  # the demo-data job ended (ok?)
    # a pretrained index job ended: (run name, "finished" / "failed" / "cancelled", its one-line error or "")
    pretrained_finished = Signal(str, str, str)
    # a rescan ended: (dataset, "finished" / "failed" / "cancelled", the line the status shows)
    rescan_finished = Signal(str, str, str)
    # "Open a folder…" ended: (dataset, its zero-shot run ("" unless finished), the Search target, "finished" /
    # "failed" / "cancelled"); the status says what it did
    folder_opened = Signal(str, str, str, str)
    # a render of a mesh dataset's views ended: (dataset, "finished" / "failed" / "cancelled", the status line)
    render_finished = Signal(str, str, str)

    def __init__(
        self, workspace: Workspace, parent: QWidget | None = None, thumbnails: ThumbnailCache | None = None
    ) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.catalog = CatalogHandle(workspace)
        self.thumbnails = thumbnails or shared_cache()
        self.summaries: list[DatasetSummary] = []
        self.facets: DatasetFacets | None = None
        self.demo_options: list[str] = []  # extra `trainer demo-data` flags (e.g. --shapes 24)
        self.demo_job: EngineJob | None = None
        self.import_dialog: ImportDialog | None = None
        self.pretrained_dialog: PretrainedIndexDialog | None = None
        self.pretrained_job: EngineJob | None = None
        self.rescan_job: EngineJob | None = None
        self.render_job: EngineJob | None = None
        self.render_dialog: RenderDialog | None = None
        self.open_folder_dialog: OpenFolderDialog | None = None
        self.open_folder_job: StagedJob | None = None
        self.open_folder_render: dict[str, int] = {}  # OpenFolderPlan's views / size / workers (tests: tiny)
        self.bar_job: Job | None = None  # the job the progress bar shows (Cancel stops it)
        self._work = Background()
        self._refresh_generation = 0
        self._facets_generation = 0
        self._pending_selection: str | None = None
        self._status_note = ""  # said instead of the datasets' count when the next refresh lands (a rescan's line)

        header = self._build_header()
        self._build_job_bar()
        self.status = QLabel("Loading the catalogue…")
        self.status.setWordWrap(True)
        self.dataset_summary = QLabel()
        self.dataset_summary.setWordWrap(True)
        self.dataset_summary.setTextFormat(Qt.TextFormat.RichText)
        self.dataset_summary.hide()

        self._build_table()
        filters = self._build_filters()
        self._build_browser(filters)

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.job_bar)
        layout.addWidget(self.status)
        layout.addWidget(self.table)
        layout.addWidget(self.dataset_summary)
        layout.addWidget(self.browser, 1)
        layout.addWidget(self._build_empty_panel(), 1)
        self.refresh()

    # ---- building the widgets (called once, by __init__) ---------------------------------------
    def _build_empty_panel(self) -> QWidget:
        """What an empty workspace shows where the grid would be: the two ways to get a dataset."""
        self.empty_panel = QWidget()
        self.empty_panel.setObjectName("emptyPanel")
        text = QLabel("<h3>No datasets yet</h3>Start with the demo datasets (small, made here in a minute, "
                      "offline), open a folder of your own photos or meshes to search (no captions needed), or "
                      "import a captioned dataset.")
        text.setWordWrap(True)
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_demo_button = QPushButton("Create demo datasets")
        self.empty_demo_button.setDefault(True)
        self.empty_demo_button.setToolTip(self.demo_button.toolTip())
        self.empty_import_button = QPushButton("Import…")
        self.empty_import_button.setToolTip(self.import_button.toolTip())
        self.empty_open_folder_button = QPushButton("Open a folder…")
        self.empty_open_folder_button.setToolTip(self.open_folder_button.toolTip())
        self.empty_open_folder_button.clicked.connect(self.open_folder)
        self.empty_demo_button.clicked.connect(self.create_demo_data)
        self.empty_import_button.clicked.connect(self.open_import_dialog)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.empty_demo_button)
        buttons.addWidget(self.empty_open_folder_button)
        buttons.addWidget(self.empty_import_button)
        buttons.addStretch(1)
        box = QVBoxLayout(self.empty_panel)
        box.addStretch(1)
        box.addWidget(text)
        box.addLayout(buttons)
        box.addStretch(2)
        self.empty_panel.hide()
        return self.empty_panel

    def _build_no_match(self) -> QLabel:
        """Said above the grid when the filters match no item."""
        self.no_match = QLabel()
        self.no_match.setWordWrap(True)
        self.no_match.setStyleSheet("color: #5f6368; padding: 12px;")
        self.no_match.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.no_match.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)  # the grid's room
        self.no_match.hide()
        return self.no_match

    def _show_empty_workspace(self, empty: bool) -> None:
        self.empty_panel.setVisible(empty)
        self.browser.setVisible(not empty)
        self.table.setVisible(not empty)

    def no_match_text(self) -> str:
        """Why no item is shown: the filters, in words."""
        text = self.text_filter.text().strip()
        split, category = self.split_filter.currentData(), self.category_filter.currentData()
        where = " and ".join(p for p in (f"in split {split}" if split else "",
                                         f"in category {category}" if category else "") if p)
        if text:
            return f"No item's caption contains “{text}”" + (f" {where}" if where else "") + "."
        return f"No item {where}." if where else "No items in this dataset."

    def _build_header(self) -> QHBoxLayout:
        """The title and the actions."""
        self.title = QLabel("<h2 style='margin:0'>Datasets</h2>")
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip("Import a dataset (Flickr, COCO, Karpathy, CSV, folder, Text2Shape)")
        self.open_folder_button = QPushButton("Open a folder…")
        self.open_folder_button.setToolTip("Search a folder of photos or meshes as it is (no captions needed): import "
                                           "it, render its meshes and index it with pretrained weights, in one job")
        self.open_folder_button.clicked.connect(self.open_folder)
        self.demo_button = QPushButton("Create demo datasets")
        self.demo_button.setToolTip("Generate shapes-demo and scenes-demo (offline, deterministic)")
        self.pretrained_button = QPushButton("Index with a pretrained model…")
        self.pretrained_button.setToolTip("Encode the selected dataset with pretrained weights as they are (an "
                                          "open_clip tag or a weights file) and index it: a zero-shot run to search "
                                          "and to compare trained runs with")
        self.pretrained_button.setEnabled(False)
        self.rescan_button = QPushButton("Rescan")
        self.rescan_button.setEnabled(False)
        self.rescan_button.clicked.connect(self.rescan)
        self.render_button = QPushButton("Render…")
        self.render_button.setEnabled(False)
        self.render_button.setToolTip("Render the views of the selected mesh dataset's shapes not rendered yet")
        self.render_button.clicked.connect(self.open_render_dialog)
        self.refresh_button = QPushButton("Refresh")
        self.pretrained_button.clicked.connect(self.open_pretrained_dialog)
        self.import_button.clicked.connect(self.open_import_dialog)
        self.demo_button.clicked.connect(self.create_demo_data)
        self.refresh_button.clicked.connect(self.refresh)
        self.destroyed.connect(self.catalog.close)
        header = QHBoxLayout()
        header.addWidget(self.title)
        header.addStretch(1)
        for b in (self.import_button, self.open_folder_button, self.demo_button, self.rescan_button, self.render_button,
                  self.pretrained_button, self.refresh_button):
            header.addWidget(b)
        return header

    def _build_job_bar(self) -> None:
        """The running job's progress (the demo data, or a pretrained index; hidden while there is none)."""
        self.job_label = QLabel()
        self.job_progress = QProgressBar()
        self.job_progress.setTextVisible(True)
        self.job_cancel = QPushButton("Cancel")
        self.job_cancel.clicked.connect(self.cancel_job)
        self.job_bar = QWidget()
        job_layout = QHBoxLayout(self.job_bar)
        job_layout.setContentsMargins(0, 0, 0, 0)
        job_layout.addWidget(self.job_label)
        job_layout.addWidget(self.job_progress, 1)
        job_layout.addWidget(self.job_cancel)
        self.job_bar.hide()

    def _build_table(self) -> None:
        """The datasets."""
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.table.itemSelectionChanged.connect(self._table_selection_changed)

    def _build_filters(self) -> QHBoxLayout:
        """The item filters above the grid."""
        self.split_filter = QComboBox()
        self.category_filter = QComboBox()
        self.category_filter.setMinimumContentsLength(10)
        self.category_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.text_filter = QLineEdit()
        self.text_filter.setPlaceholderText(TEXT_PLACEHOLDER)
        self.text_filter.setClearButtonEnabled(True)
        self.count_label = QLabel()
        self.count_label.setMinimumWidth(120)
        self._text_timer = QTimer(self)
        self._text_timer.setSingleShot(True)
        self._text_timer.setInterval(TEXT_DEBOUNCE_MS)
        self._text_timer.timeout.connect(self.apply_filters)
        self.text_filter.textChanged.connect(self._text_edited)
        self.text_filter.returnPressed.connect(self.apply_filters)
        self.split_filter.currentIndexChanged.connect(self.apply_filters)
        self.category_filter.currentIndexChanged.connect(self.apply_filters)
        filters = QHBoxLayout()
        filters.setContentsMargins(0, 0, 0, 0)
        filters.addWidget(QLabel("Split"))
        filters.addWidget(self.split_filter)
        filters.addSpacing(8)
        filters.addWidget(QLabel("Category"))
        filters.addWidget(self.category_filter)
        filters.addSpacing(8)
        filters.addWidget(self.text_filter, 1)
        filters.addWidget(self.count_label)
        self._reset_filter_choices(None)
        return filters

    def _build_browser(self, filters: QHBoxLayout) -> None:
        """The item grid (under its filters) and the item detail, side by side."""
        self.model = ItemGridModel(self.catalog, self.thumbnails, icon_size=128, parent=self)
        self.grid = ItemGrid(self.model)
        self.detail = ItemDetailView(self.catalog, self.thumbnails)
        self.model.populated.connect(self._items_populated)
        self.model.failed.connect(self._items_failed)
        self.grid.current_item_changed.connect(self.detail.show_item)
        self.detail.search_with_item.connect(self.search_with_item)
        self.detail.render_requested.connect(self.open_render_dialog)
        self.render_notice = RenderNotice()
        self.render_notice.render_clicked.connect(self.open_render_dialog)

        browser_left = QWidget()
        left = QVBoxLayout(browser_left)
        left.setContentsMargins(0, 0, 0, 0)
        left.addLayout(filters)
        left.addWidget(self.render_notice)
        left.addWidget(self._build_no_match())
        left.addWidget(self.grid, 1)
        self.browser = QSplitter(Qt.Orientation.Horizontal)
        self.browser.addWidget(browser_left)
        self.browser.addWidget(self.detail)
        self.browser.setStretchFactor(0, 3)
        self.browser.setStretchFactor(1, 2)
        self.browser.setSizes([640, 460])

    # ---- datasets -----------------------------------------------------------------------------
    @property
    def current_dataset(self) -> str:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return ""
        item = self.table.item(rows[0].row(), 0)
        return item.text() if item else ""

    def refresh(self) -> None:
        """Read the datasets again (keeps the selected one and its filters if it is still there)."""
        self._refresh_generation += 1
        generation, catalog = self._refresh_generation, self.catalog
        self._work.run(lambda: (generation, catalog().summaries()), self._summaries_arrived)

    def select_dataset(self, name: str) -> bool:
        """Browse ``name``; if the list is still loading, once it has loaded."""
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).text() == name:
                self.table.selectRow(row)
                return True
        self._pending_selection = name
        return False

    def _summaries_arrived(self, answer: tuple[int, Any, str]) -> None:
        token, value, error = answer
        self._work.done(token)
        if error:
            self.status.setText(f"Could not read the catalogue: {error.splitlines()[0]}")
            return
        generation, summaries = value
        if generation != self._refresh_generation:
            return
        self._show_summaries(summaries)

    def _show_summaries(self, summaries: list[DatasetSummary]) -> None:
        keep = self._pending_selection or self.current_dataset
        self._pending_selection = None
        self.summaries = summaries
        self.table.blockSignals(True)
        self.table.clearSelection()
        self.table.setRowCount(len(summaries))
        for row, s in enumerate(summaries):
            values = (
                s.name, s.kind, s.source_format, s.items, s.by_modality.get("text", 0),
                s.by_modality.get("image", 0), s.by_modality.get("view", 0),
                " / ".join(str(s.by_split.get(k, 0)) for k in ("train", "val", "test")), s.categories,
            )
            for col, value in enumerate(values):
                cell = QTableWidgetItem(str(value))
                if isinstance(value, int):
                    cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, cell)
        self.table.resizeColumnsToContents()
        self._fit_table_height()
        names = [s.name for s in summaries]
        row = names.index(keep) if keep in names else (0 if names else -1)
        if row >= 0:
            self.table.selectRow(row)
        self.table.blockSignals(False)
        note, self._status_note = self._status_note, ""
        self.status.setText(note or (
            f"{len(summaries)} dataset{'s' if len(summaries) != 1 else ''} in {self.workspace.root}" if summaries
            else f"No datasets yet in {self.workspace.root}: create the demo datasets or import one."
        ))
        self._show_empty_workspace(not summaries)
        self._update_actions()
        self._browse(names[row] if row >= 0 else "", reload=True)
        self.loaded.emit(len(summaries))

    def _fit_table_height(self) -> None:
        """As tall as its rows (two to six; it scrolls beyond), so the browser below gets the rest."""
        rows = min(max(self.table.rowCount(), 2), 6)
        height = (self.table.horizontalHeader().height() + rows * self.table.verticalHeader().defaultSectionSize()
                  + 2 * self.table.frameWidth() + 2)
        self.table.setFixedHeight(height)

    def _table_selection_changed(self) -> None:
        self._browse(self.current_dataset)
        self._update_actions()

    def _update_actions(self) -> None:
        busy = self.bar_job is not None  # set from start to end (a job that failed to start ends too)
        self.pretrained_button.setEnabled(bool(self.current_dataset) and not busy)
        self.demo_button.setEnabled(not busy)
        self.open_folder_button.setEnabled(not busy)
        self.empty_open_folder_button.setEnabled(not busy)
        source = self.folder_source(self.current_dataset)
        self.rescan_button.setEnabled(source is not None and not busy)
        self.render_button.setEnabled(needs_render(self.summary(self.current_dataset)) and not busy)
        self.rescan_button.setToolTip(
            f"Import {source.folder} again: add its new files, drop the items whose file is gone, update the "
            "changed ones" if source is not None else "Only a dataset imported from a folder can be rescanned")

    def folder_source(self, name: str) -> FolderImport | None:
        """The folder dataset ``name`` was imported from, to rescan (None when it was not imported from one)."""
        summary = self.summary(name) if name else None
        return folder_import(summary.meta, summary.source_format, summary.kind) if summary is not None else None

    def summary(self, name: str) -> DatasetSummary | None:
        """The listed summary of dataset ``name`` (None when it is not listed)."""
        return next((s for s in self.summaries if s.name == name), None)

    def _show_dataset_summary(self, name: str) -> None:
        summary = self.summary(name) if name else None
        self.dataset_summary.setText(summary_text(summary) if summary else "")
        self.dataset_summary.setVisible(summary is not None)
        self.render_notice.show_count(unrendered_items(summary), summary.items if summary else 0)
        shapes = summary is not None and summary.kind == SHAPES
        self.model.missing_picture = not_rendered_picture(self.model.icon_size) if shapes else None

    def _browse(self, name: str, reload: bool = False) -> None:
        self._show_dataset_summary(name)
        if not name:
            self._facets_generation += 1
            self.facets = None
            self._reset_filter_choices(None)
            self.model.clear()
            self.detail.clear()
            self.count_label.setText("")
            self.dataset_selected.emit("")
            return
        if not reload and self.facets is not None and self.facets.name == name:
            return
        if self.facets is not None and self.facets.name != name:
            # another dataset: nothing of the old one stays on screen, and its late answers are dropped
            self.facets = None
            self.model.clear()
            self.detail.clear()
        self._facets_generation += 1
        generation, catalog = self._facets_generation, self.catalog
        self.count_label.setText("Loading…")
        self._work.run(lambda: (generation, dataset_facets(catalog(), name)), self._facets_arrived)

    def _facets_arrived(self, answer: tuple[int, Any, str]) -> None:
        token, value, error = answer
        self._work.done(token)
        if error:
            self.count_label.setText("")
            self.status.setText(f"Could not read the dataset: {error.splitlines()[0]}")
            return
        generation, facets = value
        if generation != self._facets_generation:
            return
        same = self.facets is not None and self.facets.dataset_id == facets.dataset_id
        if not same:
            self.detail.clear()
            self.text_filter.blockSignals(True)
            self.text_filter.clear()
            self.text_filter.blockSignals(False)
            self._text_timer.stop()
        self.facets = facets
        self._reset_filter_choices(facets, keep=same)
        self.dataset_selected.emit(facets.name)
        self.apply_filters()

    def _reset_filter_choices(self, facets: DatasetFacets | None, keep: bool = False) -> None:
        for combo, values, label in (
            (self.split_filter, facets.splits if facets else (), "All splits"),
            (self.category_filter, facets.categories if facets else (), "All categories"),
        ):
            previous = combo.currentData() if keep else ALL
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(label, ALL)
            for v in values:
                combo.addItem(v, v)
            index = combo.findData(previous)
            combo.setCurrentIndex(max(index, 0))
            combo.setEnabled(facets is not None)
            combo.blockSignals(False)
        summary = self.summary(facets.name) if facets is not None else None
        captionless = summary is not None and summary.items > 0 and summary.captioned_items == 0
        self.text_filter.setEnabled(facets is not None and not captionless)
        self.text_filter.setPlaceholderText("no captions to search in" if captionless else TEXT_PLACEHOLDER)
        self.text_filter.setToolTip("This dataset's items have no captions" if captionless else "")

    # ---- items --------------------------------------------------------------------------------
    def set_filters(self, split: str | None = None, category: str | None = None, text: str | None = None) -> None:
        """Set the filters (None leaves one as it is) and query at once (no debounce)."""
        for combo, value in ((self.split_filter, split), (self.category_filter, category)):
            if value is not None:
                combo.blockSignals(True)
                combo.setCurrentIndex(max(combo.findData(value), 0))
                combo.blockSignals(False)
        if text is not None:
            self.text_filter.blockSignals(True)
            self.text_filter.setText(text)
            self.text_filter.blockSignals(False)
        self.apply_filters()

    @property
    def filtering(self) -> bool:
        """A filter change is waiting for its debounce or its answer."""
        return self._text_timer.isActive() or self.model.loading

    def _text_edited(self, _text: str) -> None:
        self._text_timer.start()  # debounced: one query when the typing pauses

    def apply_filters(self) -> None:
        self._text_timer.stop()
        if self.facets is None:
            return
        self.count_label.setText("Filtering…")
        self.model.set_query(
            self.facets.dataset_id,
            split=self.split_filter.currentData() or None,
            category=self.category_filter.currentData() or None,
            text=self.text_filter.text().strip() or None,
        )

    def _items_populated(self, count: int) -> None:
        total = next((s.items for s in self.summaries if self.facets and s.name == self.facets.name), count)
        filtered = any((self.split_filter.currentData(), self.category_filter.currentData(),
                        self.text_filter.text().strip()))
        noun = "item" if total == 1 else "items"
        self.count_label.setText(f"{count:,} of {total:,} {noun}" if filtered else f"{count:,} {noun}")
        self.no_match.setText(self.no_match_text() if count == 0 else "")
        self.no_match.setVisible(count == 0 and self.facets is not None)
        self.grid.setVisible(count > 0 or self.facets is None)  # no blank grid under "No item matches"
        shown = self.detail.item_id
        row = self.model.row_of(shown) if shown is not None else -1
        if row < 0 and count:
            row = 0  # the item shown is not among the results any more: show the first one
        if row >= 0:
            self.grid.select_row(row)
        else:
            self.detail.clear(NO_MATCH if filtered else "")
        self.items_shown.emit(count)

    def _items_failed(self, message: str) -> None:
        self.count_label.setText("")
        self.status.setText(f"Could not read the items: {message.splitlines()[0]}")

    # ---- import -------------------------------------------------------------------------------
    def open_import_dialog(self) -> ImportDialog:
        if self.import_dialog is None:
            self.import_dialog = ImportDialog(self.workspace, self)
            self.import_dialog.imported.connect(self._imported)
            self.import_dialog.render_requested.connect(self.render)
        self.import_dialog.show()
        self.import_dialog.raise_()
        self.import_dialog.activateWindow()
        return self.import_dialog

    def _imported(self, report: dict) -> None:
        name = str(report.get("dataset") or "")
        if name:
            self._pending_selection = name
        self.refresh()

    # ---- demo data ----------------------------------------------------------------------------
    def create_demo_data(self) -> bool:
        if self.bar_job is not None:
            return False
        args = ["demo-data", *self.demo_options, "--events", "-"]
        self.demo_job = EngineJob(args, self.workspace.root, title="demo data", parent=self)
        connect_job(self.demo_job, progress=self._demo_progress, finished=lambda _report: self._demo_ended(""),
                    failed=self._demo_ended, cancelled=lambda: self._demo_ended("cancelled"))
        self.job_label.setText("Creating the demo datasets…")
        self.job_progress.setRange(0, 0)
        self._show_bar(self.demo_job)
        self.demo_button.setEnabled(False)
        self.demo_job.start()
        return True

    def cancel_demo_data(self) -> None:
        if self.demo_job is not None and self.demo_job.running:
            self.job_label.setText("Cancelling…")
            self.job_cancel.setEnabled(False)
            self.demo_job.cancel()

    def cancel_job(self) -> None:
        """Cancel the job the progress bar shows (the job protocol's ``cancel()``: it ends ``cancelled``)."""
        job = self.bar_job
        if job is not None and job.running:
            self.job_label.setText("Cancelling…")
            self.job_cancel.setEnabled(False)
            job.cancel()

    def _start_on_bar(self, job: Job, label: str) -> None:
        """Start ``job`` with the progress bar (busy, "starting…" until its first progress) under ``label``."""
        self.job_label.setText(label)
        self.job_progress.setRange(0, 0)
        self.job_progress.setFormat("starting…")
        self._show_bar(job)
        job.start()

    def _show_bar(self, job: Job) -> None:
        self.bar_job = job
        self.job_cancel.setEnabled(True)
        self.job_bar.show()
        self._update_actions()

    def _hide_bar(self) -> None:
        self.bar_job = None
        self.job_bar.hide()
        self._update_actions()

    def _demo_progress(self, done: int, total: int, stage: str) -> None:
        self.job_label.setText(f"Creating the demo datasets — {stage}")
        show_progress(self.job_progress, done, total, f"{stage}: %v / %m" if total > 0 else None)

    def _demo_ended(self, error: str) -> None:
        """The demo job ended: done when ``error`` is empty."""
        self._hide_bar()
        self.demo_button.setEnabled(True)
        if not error:
            self.status.setText("Demo datasets ready.")
            if not self.current_dataset:
                self._pending_selection = "shapes-demo"
        else:
            self.status.setText(f"Could not create the demo datasets: {error}")
        self.refresh()
        self.demo_finished.emit(not error)

    # ---- a zero-shot run: pretrained weights, indexed ---------------------------------------------------------------
    def open_pretrained_dialog(self) -> PretrainedIndexDialog | None:
        """Ask for a model, its weights and a run name for the selected dataset (None when none is selected)."""
        dataset = self.current_dataset
        if not dataset:
            return None
        if self.pretrained_dialog is not None:
            self.pretrained_dialog.close()
            self.pretrained_dialog.deleteLater()
        self.pretrained_dialog = PretrainedIndexDialog(dataset, self)
        self.pretrained_dialog.requested.connect(self.index_pretrained)
        self.pretrained_dialog.show()
        return self.pretrained_dialog

    def index_pretrained(self, request: PretrainedIndexRequest) -> bool:
        """Run ``trainer index --model M --pretrained P --dataset D --name N`` as a child process (False when a job
        already holds the progress bar)."""
        if self.bar_job is not None:
            return False
        if self.pretrained_job is not None:
            self.pretrained_job.deleteLater()  # the previous one, long ended
        job = EngineJob(request.args(), self.workspace.root, title=f"index {request.name}", parent=self)
        connect_job(job, progress=self._pretrained_progress,
                    finished=lambda _report: self._pretrained_ended(request, "finished", ""),
                    failed=lambda message: self._pretrained_ended(request, "failed", message),
                    cancelled=lambda: self._pretrained_ended(request, "cancelled", ""))
        job.typed_event.connect(lambda event: self._pretrained_event(request, event))
        self.pretrained_job = job
        self._start_on_bar(job, f"Loading {request.model} ({request.pretrained}) for {request.dataset}…")
        return True

    def _pretrained_event(self, request: PretrainedIndexRequest, event: LineEvent) -> None:
        if isinstance(event, JobRun):
            verb = "made" if event.created else "reused"
            self.job_label.setText(f"Zero-shot run {event.run or request.name} {verb}: indexing {request.dataset}…")

    def _pretrained_progress(self, done: int, total: int, stage: str) -> None:
        show_progress(self.job_progress, done, total, f"{stage or 'encoding'}: %v / %m" if total > 0 else None)

    def _pretrained_ended(self, request: PretrainedIndexRequest, outcome: str, error: str) -> None:
        self._hide_bar()  # the ended job stays (a child of the page) until the next one replaces it
        line = (error.splitlines() or [""])[0]
        if outcome == "finished":
            self.status.setText(f"Zero-shot run {request.name} is indexed on {request.dataset}: search it on the "
                                "Search page, or compare it with trained runs on the Training page.")
        elif outcome == "cancelled":
            self.status.setText(f"Indexing {request.dataset} with {request.model} ({request.pretrained}) was "
                                "cancelled.")
        else:
            self.status.setText(f"Could not index {request.dataset} with {request.model}: {line}")
        self.pretrained_finished.emit(request.name, outcome, line)

    # ---- rescan: a folder imported again, the dataset synchronised with it -------------------------------------------
    def rescan(self) -> bool:
        """Import the selected dataset's folder again (``trainer import folder DIR --name N``, as it was imported) as
        a child process with the progress bar (False when it was not imported from a folder or a job holds the
        bar)."""
        dataset = self.current_dataset
        source = self.folder_source(dataset)
        if source is None or self.bar_job is not None:
            return False
        if self.rescan_job is not None:
            self.rescan_job.deleteLater()  # the previous one, long ended
        job = EngineJob(rescan_args(dataset, source), self.workspace.root, title=f"rescan {dataset}", parent=self)
        connect_job(job, progress=self._rescan_progress,
                    finished=lambda report: self._rescan_done(dataset, report),
                    failed=lambda error: self._rescan_ended(
                        dataset, "failed", f"Could not rescan {dataset}: {(error.splitlines() or [''])[0]}"),
                    cancelled=lambda: self._rescan_ended(
                        dataset, "cancelled", f"Rescan of {dataset} cancelled before it finished; Rescan again to "
                        "complete it."))
        self.rescan_job = job
        self._start_on_bar(job, f"Rescanning {source.folder}…")
        return True

    def _rescan_progress(self, done: int, total: int, _stage: str) -> None:
        show_progress(self.job_progress, done, total, "%v / %m files" if total > 0 else "")

    def _rescan_done(self, dataset: str, report: object) -> None:
        report = report if isinstance(report, dict) else {}
        if report.get("items_changed"):
            self.thumbnails.clear()  # keyed by path: a changed file's old picture must not stay
        self._rescan_ended(dataset, "finished", rescan_line(dataset, report))

    def _rescan_ended(self, dataset: str, outcome: str, line: str) -> None:
        self._hide_bar()
        self.status.setText(line)
        self._status_note = line  # kept when the refresh below lands
        self._pending_selection = dataset
        self.refresh()  # the counts, the grid and the item shown follow the catalogue
        self.rescan_finished.emit(dataset, outcome, line)

    # ---- render: a mesh dataset's views ---------------------------------------------------------------------------
    def open_render_dialog(self) -> RenderDialog | None:
        """Ask for the views and size to render the selected dataset with (None when it has nothing to render)."""
        summary = self.summary(self.current_dataset)
        if not needs_render(summary) or summary is None:
            return None
        if self.render_dialog is not None:
            self.render_dialog.close()
            self.render_dialog.deleteLater()
        self.render_dialog = RenderDialog(summary.name, unrendered_items(summary), self)
        self.render_dialog.requested.connect(self.render)
        self.render_dialog.show()
        return self.render_dialog

    def render(self, request: RenderRequest) -> bool:
        """Run ``trainer render DATASET --views V --size S`` as a child process with the progress bar (False when
        a job holds the bar: the status says so)."""
        if self.bar_job is not None:
            self.status.setText(f"{request.dataset} is not rendered yet: Render… once the running job has ended.")
            return False
        if self.render_job is not None:
            self.render_job.deleteLater()  # the previous one, long ended
        job = EngineJob(request.args(), self.workspace.root, title=f"render {request.dataset}", parent=self)
        connect_job(job, progress=self._render_progress,
                    finished=lambda report: self._render_ended(request, "finished", render_line(request, report)),
                    failed=lambda error: self._render_ended(
                        request, "failed", f"Could not render {request.dataset}: {(error.splitlines() or [''])[0]}"),
                    cancelled=lambda: self._render_ended(
                        request, "cancelled", f"Rendering {request.dataset} was cancelled; what was rendered is "
                        "kept (Render… again to finish)."))
        self.render_job = job
        self._start_on_bar(job, f"Rendering {request.dataset} ({request.views} views, {request.size} px)…")
        return True

    def _render_progress(self, done: int, total: int, _stage: str) -> None:
        show_progress(self.job_progress, done, total, "%v / %m shapes" if total > 0 else "")

    def _render_ended(self, request: RenderRequest, outcome: str, line: str) -> None:
        self._hide_bar()
        self.status.setText(line)
        self._status_note = line  # kept when the refresh below lands
        self._pending_selection = request.dataset
        self.refresh()  # the views replace "not rendered yet" in the grid
        self.detail.reload()  # and in the detail
        self.render_finished.emit(request.dataset, outcome, line)

    # ---- open a folder: import, render (meshes), index with pretrained weights, as one job --------------------------
    def open_folder(self) -> OpenFolderDialog:
        """Ask for a folder, its dataset's name, the meshes' up axis and the weights (``dialogs/open_folder.py``)."""
        if self.open_folder_dialog is None:
            self.open_folder_dialog = OpenFolderDialog(self)
            self.open_folder_dialog.requested.connect(self.start_open_folder)
        self.open_folder_dialog.show()
        self.open_folder_dialog.raise_()
        self.open_folder_dialog.activateWindow()
        return self.open_folder_dialog

    def start_open_folder(self, plan: OpenFolderPlan) -> bool:
        """Run the plan's stages (``app/open_folder.py``) as one :class:`StagedJob` with the progress bar (False when
        a job holds the bar)."""
        if self.bar_job is not None:
            self.status.setText(f"Open {plan.folder} again once the running job has ended.")
            return False
        if self.open_folder_render:
            plan = replace(plan, **self.open_folder_render)
        if self.open_folder_job is not None:
            self.open_folder_job.deleteLater()  # the previous one, long ended
        root = self.workspace.root
        stages = [Stage(label, lambda a=args, t=label: EngineJob(a, root, title=f"{t} {plan.name}"), quiet=args[0])
                  for label, args in stage_args(plan)]
        job = StagedJob(stages, f"open {plan.name}", parent=self)
        connect_job(job, progress=self._open_folder_progress,
                    finished=lambda results: self._open_folder_ended(plan, "finished", opened_line(plan, results),
                                                                     run_of(results)),
                    failed=lambda error: self._open_folder_ended(plan, "failed", f"Could not open {plan.folder}: "
                                                                 f"{error}. What was done before is kept."),
                    cancelled=lambda: self._open_folder_ended(
                        plan, "cancelled", f"Opening {plan.folder} was cancelled; what was done is kept (open it "
                        "again to finish)."))
        job.stage_started.connect(self._open_folder_stage)
        self.open_folder_job = job
        self.status.setText(f"Opening {plan.folder} as dataset {plan.name}, to search with {plan.model} "
                            f"({PurePath(plan.pretrained).name})…")
        self._start_on_bar(job, f"Opening {plan.name}…")
        return True

    def _open_folder_stage(self, index: int, _text: str) -> None:
        if index:  # the list shows what the stage before did (the import's items, the render's views)
            self._status_note = self.status.text()
            self.refresh()
            self.detail.reload()

    def _open_folder_progress(self, done: int, total: int, stage: str) -> None:
        show_progress(self.job_progress, done, total, stage if total > 0 else None)

    def _open_folder_ended(self, plan: OpenFolderPlan, outcome: str, line: str, run: str = "") -> None:
        self._hide_bar()
        self.status.setText(line)
        self._status_note = line  # kept when the refresh below lands
        self._pending_selection = plan.name
        self.refresh()
        self.folder_opened.emit(plan.name, run, plan.target, outcome)
