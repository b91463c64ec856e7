"""The Search page: a query in, ranked items out, from a trained run's indexes.

A query is text typed in the box (searched as you type, debounced), an image or a mesh file (obj, off, ply,
stl, glb, gltf) dropped on the page or picked with "Image…"/"Mesh…", or an item of the catalogue
(:meth:`SearchPage.search_with_item`, the slot behind "Search with this item" and every result's "More like
this"); text together with an image, mesh or item is a fused query. A mesh is rendered with the run's
dataset's view spec and its views pooled by the run's model, on the search worker (a render process does
the rendering); a mesh that cannot be rendered fails the search with the renderer's one-line reason.
The target selector picks what is searched (shapes, images or captions), the run selector which finished
run's encoder and indexes answer (by default ``engine.search.default_run`` for the target). Results are cards
(thumbnail, rank, score, caption); clicking one opens its detail on the right. "A/B" runs the same query on
two runs side by side.

When the run has no usable index for the target, the page says so and offers to build it: ``trainer index``
as a child process (:class:`~app.engine_job.EngineJob`), its progress events driving a progress bar; then the query
runs again.

Nothing here waits on the GUI thread: searches run in :class:`~app.search_worker.SearchService` (one
``Searcher`` per run, one query at a time per run, the newest query wins), the run list and item lookups on
workers, thumbnails in the :class:`~app.thumbnails.ThumbnailCache`.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QMimeData, QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImageReader, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.catalog_changes import catalog_changes
from app.engine_job import EngineJob
from app.job_interface import connect_job, show_progress
from app.mesh_source import dataset_up_axis
from app.search_worker import (
    TARGET_LABELS,
    IndexNeeded,
    RunList,
    SearchQuery,
    SearchService,
    list_runs,
    target_of_kind,
)
from app.thumbnails import ThumbnailCache, shared_cache
from app.widgets.ab_compare import ABCompare
from app.widgets.item_detail import ItemDetailView
from app.widgets.item_grid import Background, CatalogHandle
from app.widgets.mesh_chip import MeshChip
from app.widgets.result_grid import ResultGrid
from engine.catalog.browse import ItemDetail, item_detail
from engine.mesh_files import MESH_SUFFIXES
from engine.search import TARGETS, SearchResult
from engine.workspace import Workspace

DEBOUNCE_MS = 250
CHANNEL = "main"
CHIP_SIZE = 40
BANNER_STYLE = ("#confidence {{ background: {background}; border: 1px solid {border}; border-radius: 6px; "
                "padding: 4px 8px; color: {text}; }}")
NOT_CONFIDENT_COLOURS = {"background": "#fce8e6", "border": "#f6aea9", "text": "#a50e0e"}  # a warning: red
NOT_CALIBRATED_COLOURS = {"background": "#fef7e0", "border": "#f9e0a2", "text": "#7a5400"}  # a notice: amber
HINT = ("Describe what you are looking for, drop an image or a 3D mesh here, or use “Search with this item” on "
        "the Datasets page.")


def image_suffixes() -> set[str]:
    return {"." + bytes(f).decode().lower() for f in QImageReader.supportedImageFormats()}


def image_path_from(mime: QMimeData) -> str | None:
    """The first local image file in a drag's data, else None."""
    found = query_file_from(mime)
    return found[1] if found is not None and found[0] == "image" else None


def query_file_from(mime: QMimeData) -> tuple[str, str] | None:
    """``("image" | "mesh", path)`` of the first local image or mesh file in a drag's data, else None."""
    if not mime.hasUrls():
        return None
    images = image_suffixes()
    for url in mime.urls():
        if url.isLocalFile():
            path = url.toLocalFile()
            suffix = Path(path).suffix.lower()
            kind = "image" if suffix in images else "mesh" if suffix in MESH_SUFFIXES else None
            if kind is not None and Path(path).is_file():
                return kind, path
    return None


class SearchPage(QWidget):
    results_shown = Signal(int)  # hits now shown in the grid (after every answered query)
    search_failed = Signal(str)  # the engine's message
    index_needed = Signal(object)  # IndexNeeded: the page now offers to build it
    index_built = Signal(str)  # run name: an index build finished (ok)
    index_failed = Signal(str)  # the build's error
    runs_loaded = Signal(int)  # finished runs in the selector

    def __init__(
        self, workspace: Workspace, parent: QWidget | None = None, thumbnails: ThumbnailCache | None = None,
        device: str = "auto",
    ) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.catalog = CatalogHandle(workspace)
        self.thumbnails = thumbnails or shared_cache()
        self.service = SearchService(workspace, self.catalog, device=device, parent=self)
        self.runs = RunList(())
        self.result: SearchResult | None = None  # the answer shown in the grid
        self.query: SearchQuery | None = None  # the query asked last (shown or awaited)
        self.need: IndexNeeded | None = None  # the index offered for building
        self.build_job: EngineJob | None = None
        self.building: IndexNeeded | None = None
        self._token = 0
        self._image: str | None = None
        self._mesh: str | None = None
        self._item: ItemDetail | None = None
        self._item_id: int | None = None
        self._run_pinned = False  # the user picked a run: keep it when the target changes
        self._user_run: str | None = None  # the run the user picked (it answers whenever it can)
        self._runs_loading = False
        self._runs_again = False
        self._runs_loaded_once = False
        self._work = Background()
        self.setAcceptDrops(True)

        query_row, controls = self._build_query_row()
        self._build_subject()
        self._build_index_banner()
        status_row = self._build_status_row()
        self._build_results()
        layout = QVBoxLayout(self)
        layout.addLayout(query_row)
        layout.addLayout(controls)
        layout.addWidget(self.subject)
        layout.addWidget(self.index_banner)
        layout.addLayout(status_row)
        layout.addWidget(self._build_confidence_banner())
        layout.addWidget(self.splitter, 1)

        self._wire()
        self.reload_runs()

    # ---- building the widgets (called once, by __init__) ---------------------------------------
    def _build_query_row(self) -> tuple[QHBoxLayout, QHBoxLayout]:
        """The query box and its image button; target, run, top-k and A/B."""
        self.title = QLabel("<h2 style='margin:0'>Search</h2>")
        self.query_edit = QLineEdit()
        self.query_edit.setPlaceholderText("Search: describe a shape or an image (e.g. “a big red chair”)…")
        self.query_edit.setClearButtonEnabled(True)
        self.query_edit.setMinimumWidth(260)
        self.query_edit.installEventFilter(self)  # image drops on the box are queries, not text
        self.image_button = QPushButton("Image…")
        self.image_button.setToolTip("Search with an image file (or drop one on the page)")
        self.mesh_button = QPushButton("Mesh…")
        self.mesh_button.setToolTip("Search with a 3D mesh file: obj, off, ply, stl, glb or gltf (or drop one on "
                                    "the page); it is rendered like the run's shapes")
        self.target_combo = QComboBox()
        for target in TARGETS:
            self.target_combo.addItem(TARGET_LABELS.get(target, target), target)
        self.target_combo.setToolTip("What to search: shapes (items), images, or captions")
        self.run_combo = QComboBox()
        self.run_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.run_combo.setMinimumContentsLength(22)
        self.run_combo.setToolTip("The finished run whose encoder and indexes answer the query")
        self.k_spin = QSpinBox()
        self.k_spin.setRange(1, 200)
        self.k_spin.setValue(24)
        self.k_spin.setToolTip("How many results")
        self.ab_button = QToolButton()
        self.ab_button.setText("A/B")
        self.ab_button.setCheckable(True)
        self.ab_button.setToolTip("Compare two runs on the same query, side by side")

        query_row = QHBoxLayout()
        query_row.addWidget(self.title)
        query_row.addSpacing(12)
        query_row.addWidget(self.query_edit, 1)
        query_row.addWidget(self.image_button)
        query_row.addWidget(self.mesh_button)
        controls = QHBoxLayout()
        for label, widget in (("Target", self.target_combo), ("Run", self.run_combo), ("Top", self.k_spin)):
            text = QLabel(label)
            text.setBuddy(widget)
            controls.addWidget(text)
            controls.addWidget(widget, 1 if widget is self.run_combo else 0)
            controls.addSpacing(8)
        controls.addWidget(self.ab_button)
        return query_row, controls

    def _build_subject(self) -> None:
        """The chip showing the image or item the query is made of (hidden until there is one)."""
        self.subject = QFrame()
        self.subject.setObjectName("subject")
        self.subject.setStyleSheet("#subject { background: #e8f0fe; border: 1px solid #c6dafc; border-radius: 6px; }")
        self.subject_picture = QLabel()
        self.subject_picture.setFixedSize(CHIP_SIZE, CHIP_SIZE)
        self.subject_picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.subject_label = QLabel()
        self.subject_label.setTextFormat(Qt.TextFormat.RichText)
        self.subject_clear = QToolButton()
        self.subject_clear.setText("✕")
        self.subject_clear.setToolTip("Search with the text only")
        self.subject_clear.setAutoRaise(True)
        chip = QHBoxLayout(self.subject)
        chip.setContentsMargins(6, 3, 6, 3)
        chip.addWidget(self.subject_picture)
        self.subject_mesh = MeshChip()  # a mesh query: drawn, with its up axis
        self.subject_mesh.axis_changed.connect(lambda _axis: self.search_now())
        self.subject_mesh.hide()
        chip.addWidget(self.subject_mesh)
        chip.addWidget(self.subject_label, 1)
        chip.addWidget(self.subject_clear)
        self.subject.hide()

    def _build_index_banner(self) -> None:
        """The banner offering to build the index a run lacks, and the build's progress."""
        self.index_banner = QFrame()
        self.index_banner.setObjectName("banner")
        self.index_banner.setStyleSheet("#banner { background: #fef7e0; border: 1px solid #f9e0a2; "
                                        "border-radius: 6px; }")
        self.index_message = QLabel()
        self.index_message.setWordWrap(True)
        self.index_message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.index_message.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.build_button = QPushButton("Build index")
        self.build_progress = QProgressBar()
        self.build_progress.setMinimumWidth(220)
        self.build_progress.setTextVisible(True)
        self.build_progress.hide()
        banner = QHBoxLayout(self.index_banner)
        banner.setContentsMargins(10, 6, 10, 6)
        banner.addWidget(self.index_message, 1)
        banner.addWidget(self.build_progress)
        banner.addWidget(self.build_button)
        self.index_banner.hide()

    def _build_status_row(self) -> QHBoxLayout:
        """The status line and its busy bar."""
        self.status = QLabel()
        self.status.setStyleSheet("color: #5f6368;")
        self.status.setTextFormat(Qt.TextFormat.RichText)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.status.setMinimumHeight(self.status.fontMetrics().lineSpacing() + 2)  # no jump when text appears
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setFixedSize(80, 10)
        self.busy_bar.setTextVisible(False)
        self.busy_bar.hide()
        self.run_note = QLabel()  # why the run changed under the user (a target it cannot search)
        self.run_note.setObjectName("run_note")
        self.run_note.setStyleSheet("color: #7a5400;")
        self.run_note.hide()
        status_row = QHBoxLayout()
        status_row.addWidget(self.run_note)
        status_row.addWidget(self.status, 1)
        status_row.addWidget(self.busy_bar)
        return status_row

    def _build_results(self) -> None:
        """The result grid (or the A/B comparison) and the detail panel beside it."""
        self.grid = ResultGrid(self.thumbnails)
        self.grid.set_message(HINT)
        self.ab = ABCompare(self.service, self.thumbnails)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.grid)
        self.stack.addWidget(self.ab)
        self.detail = ItemDetailView(self.catalog, self.thumbnails)
        self.detail_close = QToolButton()
        self.detail_close.setText("✕")
        self.detail_close.setToolTip("Close the detail")
        self.detail_close.setAutoRaise(True)
        self.detail_panel = QWidget()
        panel = QVBoxLayout(self.detail_panel)
        panel.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        head.addWidget(QLabel("<b>Result detail</b>"))
        head.addStretch(1)
        head.addWidget(self.detail_close)
        panel.addLayout(head)
        panel.addWidget(self.detail, 1)
        self.detail_panel.hide()
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.stack)
        self.splitter.addWidget(self.detail_panel)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)

    def _wire(self) -> None:
        """Connect the widgets, the search service and the thumbnails to the page."""
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self.search_now)
        self.query_edit.textChanged.connect(self._text_changed)
        self.query_edit.returnPressed.connect(self.search_now)
        self.image_button.clicked.connect(self.pick_image)
        self.mesh_button.clicked.connect(self.pick_mesh)
        self.target_combo.currentIndexChanged.connect(self._target_changed)
        self.run_combo.activated.connect(self._run_picked)
        self.k_spin.valueChanged.connect(lambda _v: self._debounce.start())
        self.ab_button.toggled.connect(self.set_compare)
        catalog_changes().changed.connect(self.reload_runs)  # a run or an index made or removed: list them again
        self.subject_clear.clicked.connect(self.clear_subject)
        self.build_button.clicked.connect(self.build_index)
        self.grid.item_activated.connect(self.open_detail)
        self.grid.more_like_this.connect(self.search_with_item)
        self.ab.item_activated.connect(self.open_detail)
        self.ab.more_like_this.connect(self.search_with_item)
        self.ab.build_requested.connect(self.build_index)
        self.detail.search_with_item.connect(self.search_with_item)
        self.detail_close.clicked.connect(self.close_detail)
        self.service.finished.connect(self._finished)
        self.service.needs_index.connect(self._needs_index)
        self.service.failed.connect(self._failed)
        self.service.busy_changed.connect(self._busy_changed)
        self.thumbnails.ready.connect(self._thumbnail_ready)
        self.query_edit.textChanged.connect(lambda _text: self._show_subject())
        QShortcut(QKeySequence("Ctrl+L"), self, self.query_edit.setFocus)

    def _build_confidence_banner(self) -> QLabel:
        """The line shown when even the top hit is no better than a typical non-match (calibrated runs), or when
        the run is not calibrated for the dataset (its hits then carry no confidence)."""
        self.confidence_banner = QLabel()
        self.confidence_banner.setObjectName("confidence")
        self.confidence_banner.setWordWrap(True)
        self.confidence_banner.hide()
        return self.confidence_banner

    @property
    def not_confident(self) -> bool:
        """The grid shows a calibrated answer whose top hit is no better than a typical non-match."""
        return self.result is not None and self.result.not_confident

    @property
    def not_calibrated(self) -> bool:
        """The grid shows a text query's answer on a run not calibrated for the dataset (no confidence)."""
        return self.result is not None and self.result.dataset_not_calibrated

    def _show_confidence(self, result: SearchResult | None) -> None:
        if result is not None and result.not_confident:
            c = result.calibration or {}
            threshold = f"{c['threshold']:.3f}, " if c.get("threshold") is not None else ""
            self.confidence_banner.setStyleSheet(BANNER_STYLE.format(**NOT_CONFIDENT_COLOURS))
            self.confidence_banner.setText(
                f"<b>{html.escape(result.banner()[0].upper() + result.banner()[1:])}.</b> Even the best result scores "
                f"no higher than a typical non-match ({threshold}{html.escape(result.measured_line() or '')}): "
                "treat these as guesses.")
            self.confidence_banner.setToolTip("A run is calibrated when its index is built: the scores of captions "
                                              "(or, without enough of them, of category prompts; for a picture, of "
                                              "the items' own pictures by category) against their own items and "
                                              "against other items.")
            self.confidence_banner.show()
        elif result is not None and result.dataset_not_calibrated:
            kind = "" if result.query_kind == "text" else f", {result.query_kind} queries"
            fix = {"fused": "", "text": ": add caption files or sort the items into category folders to calibrate it"
                   }.get(result.query_kind, ": sort the items into category folders to calibrate it")
            self.confidence_banner.setStyleSheet(BANNER_STYLE.format(**NOT_CALIBRATED_COLOURS))
            self.confidence_banner.setText(
                f"<b>Not calibrated: {html.escape(result.not_calibrated or '')}</b> (run {html.escape(result.run)} on "
                f"dataset {html.escape(result.dataset)}{kind}). The results are ranked by raw score, with no "
                f"confidence{fix}.")
            self.confidence_banner.setToolTip("A confidence is measured from the dataset's captions or its categories' "
                                              "prompts (text queries), or from its items' own pictures by category "
                                              "(image, mesh and item queries), on enough pairs; a fused query has "
                                              "nothing of its kind to measure.")
            self.confidence_banner.show()
        else:
            self.confidence_banner.hide()

    # ---- public API ---------------------------------------------------------------------------
    @property
    def target(self) -> str:
        return str(self.target_combo.currentData())

    @property
    def run(self) -> str | None:
        data = self.run_combo.currentData()
        return str(data) if data else None

    @property
    def image(self) -> str | None:
        return self._image

    @property
    def mesh(self) -> str | None:
        return self._mesh

    @property
    def item_id(self) -> int | None:
        return self._item_id

    @property
    def comparing(self) -> bool:
        return self.ab_button.isChecked()

    @property
    def searching(self) -> bool:
        return self.service.busy(CHANNEL) or self._debounce.isActive()

    def set_target(self, target: str) -> None:
        i = self.target_combo.findData(target)
        if i < 0:
            raise ValueError(f"target must be one of {', '.join(TARGETS)}, not {target!r}")
        self.target_combo.setCurrentIndex(i)

    def select_run(self, name: str) -> bool:
        """Search with run ``name`` (as if the user picked it: it stays when the target changes)."""
        i = self.run_combo.findData(name)
        if i < 0:
            return False
        self.run_combo.setCurrentIndex(i)
        self._run_picked(i)
        return True

    def open_run(self, name: str, target: str) -> None:
        """Search ``target`` with run ``name`` once the runs are read again: a run made or reused elsewhere ("Open a
        folder…" on the Datasets page). A list read before the run existed is read once more."""
        self.set_target(target)
        tries = [2]

        def arrived(_count: int) -> None:
            if self.select_run(name) or tries[0] == 0:
                self.runs_loaded.disconnect(arrived)
                self.query_edit.setFocus()
                return
            tries[0] -= 1
            self.reload_runs()

        self.runs_loaded.connect(arrived)
        self.reload_runs()

    def set_text(self, text: str) -> None:
        self.query_edit.setText(text)

    def search_with_item(self, item_id: int, kind: str = "", dataset: str = "") -> None:
        """Search with a catalogue item (its views or image; fused with the text in the box, if any). ``kind``:
        its dataset's kind, when the caller knows it: a photo searches images, a shape shapes; ``dataset``: its
        dataset, whose best run answers unless the user picked a run that can."""
        target = target_of_kind(kind)
        if target is not None and target != self.target:
            self.target_combo.blockSignals(True)
            self.set_target(target)
            self.target_combo.blockSignals(False)
            self._target_changed(self.target_combo.currentIndex(), search=False)
        best = self.runs.best_on(dataset, self.target) if dataset else None
        user = self.runs.get(self._user_run or "")
        if best and not (user is not None and user.serves(self.target) and user.dataset in (dataset, "")):
            self._fill_runs(best)  # the best run on the item's dataset
            self._say_run_changed(user, f"searching {dataset} with its best run, {self.run}")
        self._image = self._mesh = None
        self._item_id = int(item_id)
        self._item = None
        self._show_subject()
        catalog = self.catalog
        self._work.run(lambda: item_detail(catalog(), int(item_id)), self._item_arrived)
        self.search_now()

    def set_image_query(self, path: str | Path) -> None:
        """Search with an image file (fused with the text in the box, if any)."""
        self._item_id, self._item, self._mesh = None, None, None
        self._image = str(path)
        self._show_subject()
        self.search_now()

    def set_mesh_query(self, path: str | Path) -> None:
        """Search with a mesh file (rendered and encoded on the search worker; fused with the text, if any)."""
        self._item_id, self._item, self._image = None, None, None
        self._mesh = str(path)
        self._show_subject()
        self.search_now()

    def set_query_file(self, path: str | Path) -> bool:
        """Search with a dropped or picked file: an image or a mesh, by its suffix; False for anything else."""
        suffix = Path(path).suffix.lower()
        if suffix in MESH_SUFFIXES:
            self.set_mesh_query(path)
        elif suffix in image_suffixes():
            self.set_image_query(path)
        else:
            return False
        return True

    def pick_image(self) -> None:
        patterns = " ".join(f"*{s}" for s in sorted(image_suffixes()))
        path, _ = QFileDialog.getOpenFileName(self, "Search with an image", "", f"Images ({patterns})")
        if path:
            self.set_image_query(path)

    def pick_mesh(self) -> None:
        patterns = " ".join(f"*{s}" for s in sorted(MESH_SUFFIXES))
        path, _ = QFileDialog.getOpenFileName(self, "Search with a 3D mesh", "", f"Meshes ({patterns})")
        if path:
            self.set_mesh_query(path)

    def clear_subject(self) -> None:
        self._image, self._mesh, self._item_id, self._item = None, None, None, None
        self._show_subject()
        self.search_now()

    def set_compare(self, on: bool) -> None:
        """Show the A/B comparison (run A: the selected run) or the single grid."""
        if self.ab_button.isChecked() != on:
            self.ab_button.setChecked(on)  # toggled calls back here
            return
        self.stack.setCurrentWidget(self.ab if on else self.grid)
        self.run_combo.setEnabled(not on)
        if on:
            self.service.cancel(CHANNEL)
            self.ab.set_runs(self.runs, self.target, a=self.run)
        else:
            self.ab.stop()
        self.search_now()

    def open_detail(self, item_id: int) -> None:
        """Show a result in full (every view and caption, its metadata) beside the grid."""
        if self.detail_panel.isHidden():
            self.detail_panel.show()
            total = max(self.splitter.width(), 600)
            self.splitter.setSizes([total - 380, 380])
        self.detail.show_item(item_id)

    def close_detail(self) -> None:
        self.detail_panel.hide()
        self.detail.clear()

    def reload_runs(self) -> None:
        """Read the finished runs (and which targets each can search) on a worker."""
        if self._runs_loading:
            self._runs_again = True  # the catalogue changed while it was read: read it once more
            return
        self._runs_loading = True
        catalog = self.catalog
        self._work.run(lambda: list_runs(catalog()), self._runs_arrived)

    def current_query(self) -> SearchQuery | None:
        run = self.run
        if run is None:
            return None
        return SearchQuery(run=run, target=self.target, text=self.query_edit.text(), image=self._image,
                           item_id=self._item_id, k=self.k_spin.value(), mesh=self._mesh,
                           up_axis=self.subject_mesh.up_axis() if self._mesh else None)

    # ---- searching ----------------------------------------------------------------------------
    def _text_changed(self, _text: str) -> None:
        self._debounce.start()  # restart: searches once typing pauses

    def search_now(self) -> None:
        """Run the query now (typing pauses call it; so do Enter and every change of the query's parts)."""
        self._debounce.stop()
        if self.comparing:
            q = self.current_query() or SearchQuery(run="", target=self.target, text=self.query_edit.text(),
                                                    image=self._image, item_id=self._item_id, k=self.k_spin.value(),
                                                    mesh=self._mesh,
                                                    up_axis=self.subject_mesh.up_axis() if self._mesh else None)
            self.ab.set_query(None if q.empty else q)
            self.status.setText("" if q.empty else f"Comparing two runs on {html.escape(self._describe(q))} "
                                f"({html.escape(TARGET_LABELS[q.target].lower())}): pick them above each side.")
            return
        q = self.current_query()
        if q is None:
            self.service.cancel(CHANNEL)
            if not self._runs_loading:
                self._show_empty("No finished run to search with yet: train one on the Training page "
                                 "(or run “trainer demo” in a terminal).")
            return
        if q.empty:
            self.service.cancel(CHANNEL)
            self.query = None
            self._show_empty(HINT)
            return
        if self.need is None or (self.need.run, self.need.target) != (q.run, q.target):
            self._hide_banner()
        self.query = q
        self._token = self.service.search(CHANNEL, q)
        loading = self.service.searcher(q.run) is None
        rendering = f"Rendering {html.escape(Path(q.mesh).name)} and searching" if q.mesh else "Searching"
        self.status.setText(f"Loading run <b>{html.escape(q.run)}</b> (its model and indexes)…" if loading
                            else f"{rendering} {html.escape(TARGET_LABELS[q.target].lower())} for "
                                 f"{html.escape(self._describe(q))}…")

    def _show_empty(self, message: str) -> None:
        """``message`` is plain text (the grid paints it as it is)."""
        self.result = None
        self.grid.clear(message)  # said once, in the middle of the grid
        self.status.setText("")
        self.status.setToolTip("")
        self._show_confidence(None)

    def _finished(self, token: int, channel: str, result: SearchResult) -> None:
        if channel != CHANNEL or token != self._token:
            return
        self.result = result
        self.grid.set_result(result)
        if self.building is None:
            self._hide_banner()
        self._show_confidence(result)
        t = result.timings_ms
        total = sum(t.values())
        parts = ", ".join(f"{k} {v:.0f} ms" for k, v in t.items())
        what = html.escape(self._describe(self.query)) if self.query else "the query"
        fused = " (fused)" if self.query and self.query.text.strip() and (
            self.query.image or self.query.mesh or self.query.item_id is not None) else ""
        self.status.setText(
            f"<b>{len(result.hits)}</b> {TARGET_LABELS[result.target].lower()} for {what}{fused} · run "
            f"<b>{html.escape(result.run)}</b> on {html.escape(result.dataset)} · {total:.0f} ms")
        self.status.setToolTip(f"Time taken: {parts}")
        self.results_shown.emit(len(result.hits))

    def _describe(self, q: SearchQuery) -> str:
        known = self._item is not None and self._item.id == q.item_id
        return q.describe(self._item.key if known and self._item else None)

    def _needs_index(self, token: int, channel: str, need: IndexNeeded) -> None:
        if channel != CHANNEL or token != self._token:
            return
        self.result = None
        self._show_confidence(None)
        verb, state = ("Rebuild", "out of date") if need.stale else ("Build", "missing")
        self.grid.clear(f"{verb} the index (above) to search this run." if need.dataset else need.message)
        self.status.setText(f"No results: the index is {state}." if need.dataset else "No results.")
        self._offer(need)
        self.index_needed.emit(need)

    def _failed(self, token: int, channel: str, message: str) -> None:
        if channel != CHANNEL or token != self._token:
            return
        first = message.splitlines()[0] if message else "the search failed"
        self.result = None
        self._show_confidence(None)
        self.grid.clear(first)
        self.status.setText(f"<span style='color:#c5221f'>Search failed:</span> {html.escape(first)}")
        self.search_failed.emit(message)

    def _busy_changed(self, channel: str, _busy: bool) -> None:
        self.busy_bar.setVisible(self.service.busy())

    # ---- index building ---------------------------------------------------------------------------
    def _offer(self, need: IndexNeeded) -> None:
        self.need = need
        if self.building is not None:
            return  # a build is running: its banner stays
        if need.dataset is None:
            self.index_message.setText(need.message)
            self.build_button.hide()
        else:
            verb = "Rebuild" if need.stale else "Build"
            self.index_message.setText(f"{html.escape(need.message)} {verb} it now? It encodes every caption and "
                                       f"picture of <b>{html.escape(need.dataset)}</b> with the run's best checkpoint.")
            self.build_button.setText(f"{verb} index")
            self.build_button.setEnabled(True)
            self.build_button.show()
        self.build_progress.hide()
        self.index_banner.show()

    def _hide_banner(self) -> None:
        if self.building is None:
            self.need = None
            self.index_banner.hide()

    def build_index(self, need: IndexNeeded | None = None) -> bool:
        """Build the offered index (``trainer index`` as a child process); False when there is none to build."""
        need = need if isinstance(need, IndexNeeded) else self.need
        if need is None or need.dataset is None or self.building is not None:
            return False
        self.building, self.need = need, need
        job = EngineJob(need.build_args(), self.workspace.root, title=f"index {need.run}", parent=self)
        connect_job(job, progress=self._build_progress, finished=lambda _report: self._build_ended(""),
                    failed=self._build_ended, cancelled=lambda: self._build_ended("cancelled"))
        self.build_job = job
        self.index_message.setText(f"Building the indexes of run <b>{html.escape(need.run)}</b> on "
                                   f"<b>{html.escape(need.dataset)}</b>…")
        self.build_button.setEnabled(False)
        self.build_button.setText("Building…")
        self.build_progress.setRange(0, 0)  # busy until the first progress event
        self.build_progress.setFormat("starting…")
        self.build_progress.show()
        self.index_banner.show()
        job.start()
        return True

    def _build_progress(self, done: int, total: int, stage: str) -> None:
        show_progress(self.build_progress, done, total, f"{stage or 'indexing'}: %v / %m")

    def _build_ended(self, error: str) -> None:
        """The index build ended: done when ``error`` is empty."""
        need, job = self.building, self.build_job
        self.building, self.build_job = None, None
        if job is not None:
            job.deleteLater()
        if need is None:
            return
        if not error:
            self.service.forget(need.run)
            self.build_progress.setRange(0, 1)
            self.build_progress.setValue(1)
            self.need = None
            self.index_banner.hide()
            self.index_built.emit(need.run)
            self.reload_runs()
            if self.comparing:
                self.ab.refresh()
            else:
                self.search_now()
            return
        self.build_progress.hide()
        self.index_message.setText(f"<span style='color:#c5221f'>Building the index failed:</span> "
                                   f"{html.escape(error)}")
        self.build_button.setText("Retry")
        self.build_button.setEnabled(True)
        self.build_button.show()
        self.index_banner.show()
        self.index_failed.emit(error)

    # ---- runs and targets -------------------------------------------------------------------------
    def _runs_arrived(self, answer: tuple[int, Any, str]) -> None:
        token, runs, error = answer
        self._work.done(token)
        self._runs_loading = False
        if self._runs_again:
            self._runs_again = False
            self.reload_runs()
        if error:
            self._show_empty(f"Could not read the runs: {error.splitlines()[0]}")
            return
        first = not self._runs_loaded_once
        self._runs_loaded_once = True
        previous = self.run
        self.runs = runs
        user = runs.get(self._user_run or "")
        keep = user.name if user is not None and user.serves(self.target) else (
            previous if (previous and self._run_pinned and runs.get(previous)) else None)
        self._fill_runs(keep or runs.default_for(self.target) or previous)
        if self.comparing:
            self.ab.set_runs(runs, self.target)
        self.runs_loaded.emit(len(runs.runs))
        self.service.warm(self.run, self.target)  # the model loaded and run once before the first query
        if first or self.run != previous or (self.query is None and self.result is None):
            self.search_now()

    def _fill_runs(self, select: str | None) -> None:
        combo = self.run_combo
        combo.blockSignals(True)
        combo.clear()
        for choice in self.runs.runs:
            combo.addItem(choice.label(self.target), choice.name)
            tip = choice.tooltip(self.target)
            if tip:
                combo.setItemData(combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        i = combo.findData(select) if select else -1
        combo.setCurrentIndex(i if i >= 0 else (0 if combo.count() else -1))
        combo.blockSignals(False)

    def _target_changed(self, _index: int, search: bool = True) -> None:
        """The run the user picked answers whenever it can search the target (the note says when it cannot); else
        the target's default run."""
        user = self.runs.get(self._user_run or "")
        want = user.name if user is not None and user.serves(self.target) else (
            self.runs.default_for(self.target) or self.run)
        self._fill_runs(want)
        label = TARGET_LABELS.get(self.target, self.target).lower()
        self._say_run_changed(user, f"it cannot search {label}: now searching with {self.run}")
        if self.comparing:
            self.ab.set_runs(self.runs, self.target)
        if search:
            self.search_now()

    def _say_run_changed(self, user: Any, why: str) -> None:
        """The note beside the status: the run the user picked is not the one answering, and why."""
        changed = user is not None and self.run != user.name
        self.run_note.setText(f"Run {user.name}: {why}." if changed else "")
        self.run_note.setVisible(changed)

    def _run_picked(self, _index: int) -> None:
        self._run_pinned = True
        self._user_run = self.run
        self.run_note.hide()
        self.service.warm(self.run, self.target)
        self.search_now()

    # ---- the query's image or item ----------------------------------------------------------------
    def _item_arrived(self, answer: tuple[int, Any, str]) -> None:
        token, detail, error = answer
        self._work.done(token)
        if error or detail is None or detail.id != self._item_id:
            return
        photo = bool(detail.images) and not (detail.views or detail.mesh_path)
        if self.target != "captions" and self.target != ("images" if photo else "shapes"):
            self.set_target("images" if photo else "shapes")  # a photo searches images, a shape shapes
        self._item = detail
        self._show_subject()

    def _combined(self, what: str) -> str:
        """What the query strip says of the text in the box: combined with the subject, or not there."""
        text = self.query_edit.text().strip()
        if text:
            return (f"<span style='color:#5f6368'> combined with the text “{html.escape(text)}”: results match both "
                    f"(clear the text to search by the {what} alone)</span>")
        return f"<span style='color:#5f6368'> — results like this {what}; type to combine it with text</span>"

    def _show_subject(self) -> None:
        path = None
        if self._image:
            path = self._image
            self.subject_label.setText(f"<b>Image</b> {html.escape(Path(self._image).name)}{self._combined('image')}")
        elif self._mesh:
            self.subject_label.setText(f"<b>Mesh</b> {html.escape(Path(self._mesh).name)}"
                                       f"<span style='color:#5f6368'> — rendered like the run's shapes</span>"
                                       f"{self._combined('mesh')}")
        elif self._item_id is not None:
            d = self._item
            name = f"{html.escape(d.key)} <span style='color:#5f6368'>({html.escape(d.dataset)})</span>" if d else \
                f"#{self._item_id}"
            self.subject_label.setText(f"<b>Item</b> {name}{self._combined('item')}")
            if d is not None:
                pictures = list(d.views) or list(d.images)
                path = pictures[0] if pictures else None
        else:
            self.subject.hide()
            return
        self._subject_path = path
        self._set_subject_picture()
        self._show_mesh_chip()
        self.subject.show()

    def _show_mesh_chip(self) -> None:
        """A mesh query's picture (rendered with its up axis) in place of the chip's thumbnail; the default axis is
        the run's dataset's, read on a worker."""
        self.subject_picture.setVisible(not self._mesh)
        self.subject_mesh.setVisible(bool(self._mesh))
        self.subject_mesh.set_mesh(self._mesh)
        choice = self.runs.get(self.run or "")
        dataset = choice.dataset if choice is not None else ""
        if self._mesh and dataset and dataset != self.subject_mesh.dataset:
            catalog = self.catalog
            self._work.run(lambda: (dataset, dataset_up_axis(catalog(), dataset)), self._dataset_axis_arrived)

    def _dataset_axis_arrived(self, answer: tuple[int, Any, str]) -> None:
        token, value, error = answer
        self._work.done(token)
        if not error:
            self.subject_mesh.set_dataset_axis(*value)

    def _set_subject_picture(self) -> None:
        path = getattr(self, "_subject_path", None)
        pm = self.thumbnails.get(path, CHIP_SIZE) if path else None
        self.subject_picture.setPixmap(pm if pm is not None else self.thumbnails.placeholder(CHIP_SIZE))

    def _thumbnail_ready(self, path: str, size: int) -> None:
        if size == CHIP_SIZE and path == getattr(self, "_subject_path", None):
            self._set_subject_picture()

    # ---- drag and drop ----------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if query_file_from(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if query_file_from(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        found = query_file_from(event.mimeData())
        if found:
            event.acceptProposedAction()
            self.set_query_file(found[1])
        else:
            event.ignore()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if watched is self.query_edit and event.type() in (QEvent.Type.DragEnter, QEvent.Type.DragMove,
                                                           QEvent.Type.Drop):
            found = query_file_from(event.mimeData())  # type: ignore[attr-defined]
            if found:
                event.acceptProposedAction()  # type: ignore[attr-defined]
                if event.type() == QEvent.Type.Drop:
                    self.set_query_file(found[1])
                return True
        return super().eventFilter(watched, event)

    # ---- lifecycle ----------------------------------------------------------------------------------
    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._runs_loaded_once:
            self.reload_runs()  # a run may have finished, or been indexed, since

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop answering (the page is going away); a running index build is cancelled."""
        self._debounce.stop()
        self.subject_mesh.shutdown()
        self.service.close()
        if self.build_job is not None and self.build_job.running:
            self.build_job.cancel()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(1100, 760)
