"""Import a dataset in a real format: ``trainer import FORMAT PATH --name N ... --events -``.

The import runs as a child process (:class:`EngineJob`, a :class:`~app.job_interface.Job`): the dialog shows its
progress, can cancel it, and at the end shows the report: counts, and every skipped record (file, where, why)
in a table.
Signals: ``imported(dict report)`` when it succeeded, ``failed(str)`` when it did not.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.dialogs.render_dialog import RenderFields
from app.engine_job import EngineJob
from app.job_interface import connect_job, show_progress
from app.mesh_source import MeshSource, mesh_source
from app.widgets.axis_preview import AxisPreview
from app.widgets.item_grid import Background
from engine.data.import_formats import CSV, FORMAT_BY_NAME, IMAGES, IMPORT_FORMATS, MESHES, OBJAVERSE, ImportFormat
from engine.mesh_files import suggested_up_axis
from engine.workspace import Workspace


def file_filter(info: ImportFormat) -> str:
    """The file dialog's filter for a format's source files: ``JSON (*.json);;All files (*)``."""
    patterns = " ".join(f"*{suffix}" for suffix in info.suffixes)
    return f"{info.file_types} ({patterns});;All files (*)" if info.suffixes else "All files (*)"


REPORT_COLUMNS = ("File", "Where", "Reason")
MIN_WIDTH = 720  # px: the dialog opens this wide at least (paths and the format's hint on few lines)


def import_args(
    fmt: str,
    path: str,
    name: str,
    images_root: str = "",
    meshes_root: str = "",
    img_key: str = "",
    caption_key: str = "",
    separator: str = "",
    captions: str = "",
    lvis: str = "",
    up: str = "",
) -> list[str]:
    """The ``trainer`` arguments of an import (without ``--workspace``)."""
    args = ["import", fmt, path, "--name", name]
    info = FORMAT_BY_NAME[fmt]
    if info.root == IMAGES and images_root:
        args += ["--images-root", images_root]
    if info.root == MESHES and meshes_root and not info.folder:
        args += ["--meshes-root", meshes_root]
    if fmt == CSV:
        if img_key:
            args += ["--img-key", img_key]
        if caption_key:
            args += ["--caption-key", caption_key]
        if separator:
            args += ["--separator", separator]
    if fmt == OBJAVERSE:
        if captions:
            args += ["--captions", captions]
        if lvis:
            args += ["--lvis", lvis]
    if up:
        args += ["--up", up]
    return [*args, "--events", "-"]


class _PathField(QWidget):
    """A line edit with a Browse… button (a file or a folder)."""

    def __init__(self, placeholder: str, folder: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folder = folder
        self.file_filter = "All files (*)"
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        self.edit.setClearButtonEnabled(True)
        self.button = QPushButton("Browse…")
        self.button.clicked.connect(self._browse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.button)

    def text(self) -> str:
        return self.edit.text().strip()

    def setText(self, text: str) -> None:  # noqa: N802 - Qt naming
        self.edit.setText(text)

    def _browse(self) -> None:
        start = self.text() or str(Path.home())
        if self.folder:
            chosen = QFileDialog.getExistingDirectory(self, "Choose a folder", start)
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, "Choose a file", start, self.file_filter)
        if chosen:
            self.edit.setText(chosen)


CANCELLED = "Import cancelled; what was already added stays in the catalogue."


class ImportDialog(QDialog):
    imported = Signal(dict)  # the import report (the engine's ``done`` event)
    failed = Signal(str)
    render_requested = Signal(object)  # a RenderRequest: "Render right after the import" was ticked

    def __init__(self, workspace: Workspace, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.job: EngineJob | None = None
        self.report: dict[str, Any] | None = None
        self._cancelled = False
        self._form_problem = False  # the state line shows a problem of the form (cleared by an edit)
        self.setWindowTitle("Import a dataset")
        self.resize(760, 560)

        self._build_fields()
        self._build_form()
        self._build_progress()
        self._build_report()
        self._build_buttons()
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(self.csv_box)
        layout.addWidget(self.progress)
        layout.addWidget(self.state)
        layout.addWidget(self.report_box, 1)
        layout.addWidget(self.log)
        layout.addWidget(self.buttons)
        self.summary.setText("Records the import skips will be listed here, with where and why.")

        self.format.currentIndexChanged.connect(self._format_changed)
        self.source.edit.textChanged.connect(self._source_changed)
        for signal in (self.source.edit.textChanged, self.name.textChanged, self.format.currentIndexChanged):
            signal.connect(self._clear_form_problem)
        self._connect_mesh_scan()
        self._name_edited = False
        self.name.textEdited.connect(self._mark_name_edited)
        self._format_changed()
        self._show_import_parts(False)

    def _show_import_parts(self, shown: bool) -> None:
        """The progress bar, the skipped records and the engine output: shown once an import has started."""
        for w in (self.progress, self.report_box, self.log):
            w.setVisible(shown)
        width = max(self.width(), MIN_WIDTH)  # adjustSize alone would shrink it to its narrowest (~390 px)
        self.adjustSize()
        self.resize(width, self.height())

    # ---- building the widgets (called once, by __init__) ---------------------------------------
    def _build_fields(self) -> None:
        """The form's fields: format (and its hint), source, roots, name, CSV columns."""
        self.format = QComboBox()
        for info in IMPORT_FORMATS:
            self.format.addItem(info.title, info.name)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #5f6368;")
        self.source = _PathField("captions file", folder=False)
        self.images_root = _PathField("default: the source's folder", folder=True)
        self.meshes_root = _PathField("default: the source's folder", folder=True)
        self.captions = _PathField("optional: Cap3D_automated_Objaverse.csv", folder=False)
        self.captions.file_filter = "CSV (*.csv);;All files (*)"
        self.lvis = _PathField("optional: lvis-annotations.json", folder=False)
        self.lvis.file_filter = "JSON (*.json *.json.gz);;All files (*)"
        self.name = QLineEdit()
        self.name.setPlaceholderText("name in the catalogue")
        self.img_key = QLineEdit("filepath")
        self.caption_key = QLineEdit("title")
        self.separator = QLineEdit()
        self.separator.setPlaceholderText(r"default: tab for .tsv, else ,  (\t for a tab)")
        self._build_mesh_fields()

    def _build_form(self) -> None:
        """The fields, labelled: ``self.form``, and ``self.csv_box`` for the CSV columns."""
        form = QFormLayout()
        form.addRow("Format", self.format)
        form.addRow("", self.hint)
        form.addRow("Source", self.source)
        form.addRow("Images folder", self.images_root)
        form.addRow("Meshes folder", self.meshes_root)
        form.addRow("Captions (Cap3D)", self.captions)
        form.addRow("LVIS categories", self.lvis)
        form.addRow("Dataset name", self.name)
        form.addRow("Up axis", self.axis)
        form.addRow("After import", self.render_row)
        self.form = form
        self.csv_box = QGroupBox("CSV columns")
        csv_form = QFormLayout(self.csv_box)
        csv_form.addRow("Image column", self.img_key)
        csv_form.addRow("Caption column", self.caption_key)
        csv_form.addRow("Separator", self.separator)

    def _build_progress(self) -> None:
        """The import's progress bar and state line."""
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.state = QLabel("Choose a source and a name, then Import.")
        self.state.setWordWrap(True)
        self.state.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

    def _build_report(self) -> None:
        """The report: summary and skipped records; the engine's output under it."""
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problems = QTableWidget(0, len(REPORT_COLUMNS))
        self.problems.setHorizontalHeaderLabels(REPORT_COLUMNS)
        self.problems.verticalHeader().setVisible(False)
        self.problems.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.problems.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.problems.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.problems.setWordWrap(True)
        self.report_box = QGroupBox("Skipped records")
        report_layout = QVBoxLayout(self.report_box)
        report_layout.addWidget(self.summary)
        report_layout.addWidget(self.problems)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(500)
        self.log.setPlaceholderText("engine output")
        self.log.setMaximumHeight(70)

    def _build_buttons(self) -> None:
        """Import, Cancel import and Close."""
        self.import_button = QPushButton("Import")
        self.import_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel import")
        self.cancel_button.setEnabled(False)
        self.buttons = QDialogButtonBox()
        self.buttons.addButton(self.import_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.import_button.clicked.connect(self.start_import)
        self.cancel_button.clicked.connect(self.cancel_import)
        self.close_button.clicked.connect(self.reject)

    # ---- form ---------------------------------------------------------------------------------
    def set_format(self, fmt: str) -> None:
        self.format.setCurrentIndex(self.format.findData(fmt))

    def current_format(self) -> ImportFormat:
        return FORMAT_BY_NAME[self.format.currentData()]

    def _format_changed(self) -> None:
        info = self.current_format()
        self.hint.setText(info.description)
        self.source.folder = info.folder
        self.source.file_filter = file_filter(info)
        self.source.edit.setPlaceholderText("folder" if info.folder else "captions file")
        self.form.setRowVisible(self.images_root, info.root == IMAGES and not info.folder)
        self.form.setRowVisible(self.meshes_root, info.root == MESHES and not info.folder)
        self.form.setRowVisible(self.captions, info.name == OBJAVERSE)
        self.form.setRowVisible(self.lvis, info.name == OBJAVERSE)
        self.csv_box.setVisible(info.name == CSV)
        self._show_mesh_rows()
        self._fit_height()

    def _fit_height(self) -> None:
        """Grow (never shrink) the dialog to the height its rows and wrapped hint now need."""
        layout = self.layout()
        if layout is None:  # while __init__ builds it
            return
        layout.activate()
        needed = layout.totalHeightForWidth(self.width())
        if needed > self.height():
            self.resize(self.width(), needed)

    def _mark_name_edited(self) -> None:
        self._name_edited = bool(self.name.text())

    def _clear_form_problem(self, *_: object) -> None:
        """A form problem said by the last Import click goes once the form is edited (it may be fixed)."""
        if self._form_problem:
            self._form_problem = False
            self.state.setText("")

    def _source_changed(self, text: str) -> None:
        if not self._name_edited and text.strip():
            self.name.setText(Path(text.strip()).stem.replace(" ", "-"))

    def args(self) -> list[str]:
        return import_args(
            self.current_format().name, self.source.text(), self.name.text().strip(),
            images_root=self.images_root.text(), meshes_root=self.meshes_root.text(),
            img_key=self.img_key.text().strip(), caption_key=self.caption_key.text().strip(),
            separator=self.separator.text(), captions=self.captions.text(), lvis=self.lvis.text(),
            up=self.axis.axis() if self.mesh.meshes else "",
        )

    def _problem_with_form(self) -> str:
        info = self.current_format()
        source = self.source.text()
        if not source:
            return "Choose the source " + ("folder." if info.folder else "file.")
        path = Path(source).expanduser()
        if info.folder and not path.is_dir():
            return f"{source} is not a folder."
        if not info.folder and not path.is_file():
            return f"{source} is not a file."
        if not self.name.text().strip():
            return "Give the dataset a name."
        for field, label in ((self.images_root, "images"), (self.meshes_root, "meshes")):
            if field.isVisibleTo(self) and field.text() and not Path(field.text()).expanduser().is_dir():
                return f"The {label} folder {field.text()} does not exist."
        for field, label in ((self.captions, "captions"), (self.lvis, "LVIS")):
            if field.isVisibleTo(self) and field.text() and not Path(field.text()).expanduser().is_file():
                return f"The {label} file {field.text()} is not a file."
        return ""

    # ---- meshes: the up axis, its preview, a render after the import ----------------------------------
    def _build_mesh_fields(self) -> None:
        """The up axis with its preview, and "render right after the import" with views and size (shown when the
        source holds meshes: :mod:`app.mesh_source`, a bounded scan on a worker)."""
        self.mesh = MeshSource()
        self._scans = Background()
        self._scan_generation = 0
        self._scan_timer = QTimer(self)
        self._scan_timer.setSingleShot(True)
        self._scan_timer.setInterval(250)
        self._scan_timer.timeout.connect(self._scan_source)
        self.axis = AxisPreview()
        self.render_after = QCheckBox("Render the views right after the import")
        self.render_after.setChecked(True)
        self.render_after.setToolTip("Runs `trainer render` on the new dataset: its shapes need views to be "
                                     "trained on, searched and browsed")
        self.render_fields = RenderFields()
        self.render_after.toggled.connect(self.render_fields.setEnabled)
        self.render_row = QWidget()
        row = QHBoxLayout(self.render_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.render_after)
        row.addSpacing(12)
        row.addWidget(self.render_fields, 1)

    def _connect_mesh_scan(self) -> None:
        for edit in (self.source.edit, self.meshes_root.edit):
            edit.textChanged.connect(lambda _text: self._scan_timer.start())
        self.format.currentIndexChanged.connect(lambda _index: self._scan_timer.start())

    @property
    def scanning(self) -> bool:
        """A look for meshes in the source is waiting or under way."""
        return self._scan_timer.isActive() or self._scans.busy > 0

    def _scan_source(self) -> None:
        self._scan_generation += 1
        generation, info = self._scan_generation, self.current_format()
        source, meshes_root = self.source.text(), self.meshes_root.text()
        self._scans.run(lambda: (generation, mesh_source(info, source, meshes_root)), self._scanned)

    def _scanned(self, answer: tuple[int, object, str]) -> None:
        token, value, error = answer
        self._scans.done(token)
        if error or not isinstance(value, tuple):
            return
        generation, found = value
        if generation != self._scan_generation:
            return  # the source changed since
        self.mesh = found
        if found.preview and not self.axis.chosen:
            self.axis.set_axis(suggested_up_axis(Path(found.preview).suffix))
        if found.preview != self.axis.path:
            self.axis.set_mesh(found.preview)
        self._show_mesh_rows()
        self._fit_height()

    def _show_mesh_rows(self) -> None:
        for row in (self.axis, self.render_row):
            self.form.setRowVisible(row, self.mesh.meshes)

    def _request_render(self, report: dict[str, Any]) -> None:
        dataset = str(report.get("dataset") or "")
        if dataset and self.mesh.meshes and self.render_after.isChecked():
            request = self.render_fields.request(dataset)
            self.state.setText(self.state.text() + f" Rendering its views ({request.views} × {request.size} px): "
                               "the Datasets page shows the progress.")
            self.render_requested.emit(request)

    # ---- the job ------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.job is not None and self.job.running

    def start_import(self) -> bool:
        """Start the import; False (and the reason shown) when the form is not complete."""
        if self.running:
            return False
        problem = self._problem_with_form()
        if problem:
            self.state.setText(f"<span style='color:#b03a2e'>{problem}</span>")
            self._form_problem = True
            return False
        self.report = None
        self._cancelled = False
        self.problems.setRowCount(0)
        self.summary.setText("")
        self.log.clear()
        self.progress.setRange(0, 0)  # busy until the first progress event gives a total
        self.state.setText(f"Importing {self.source.text()} as {self.name.text().strip()!r}…")
        self._set_running(True)
        self.job = EngineJob(self.args(), self.workspace.root, title="import", parent=self)
        self.job.log.connect(self.log.appendPlainText)
        connect_job(self.job, progress=self._progress, finished=self._finished, failed=self._failed,
                    cancelled=self._job_cancelled)
        self.job.start()
        return True

    def cancel_import(self) -> None:
        if self.running and self.job is not None:
            self._cancelled = True
            self.state.setText("Cancelling…")
            self.job.cancel()

    def _set_running(self, running: bool) -> None:
        if running:
            self._show_import_parts(True)
        self.import_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        for w in (self.format, self.source, self.images_root, self.meshes_root, self.captions, self.lvis, self.name,
                  self.csv_box, self.axis, self.render_row):
            w.setEnabled(not running)

    def _progress(self, done: int, total: int, _stage: str) -> None:
        show_progress(self.progress, done, total, "%v / %m records" if total > 0 else None)

    def _finished(self, report: object) -> None:
        if not isinstance(report, dict):  # exited 0 without a report
            self._failed("the engine printed no report")
            return
        self._set_running(False)
        self.report = report
        total = max(self.progress.maximum(), 1)
        self.progress.setRange(0, total)
        self.progress.setValue(total)
        self._show_report(report)
        self.imported.emit(report)
        self._request_render(report)

    def _failed(self, error: str) -> None:
        self._ended(CANCELLED if self._cancelled else f"Import failed: {error}")

    def _job_cancelled(self) -> None:
        self._ended(CANCELLED)

    def _ended(self, message: str) -> None:
        self._set_running(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.state.setText(f"<span style='color:#b03a2e'>{html.escape(message)}</span>")
        self.failed.emit(message)

    def _show_report(self, report: dict[str, Any]) -> None:
        skipped = int(report.get("skipped", len(report.get("problems", []))))
        self.state.setText(
            f"Imported <b>{html.escape(str(report.get('dataset', '')))}</b>: {report.get('items_added', 0)} new items "
            f"({report.get('captioned_items_added', 0)} with captions), "
            f"{report.get('observations_added', 0)} new observations, {skipped} skipped."
        )
        problems = report.get("problems") or []
        self.problems.setRowCount(len(problems))
        for row, p in enumerate(problems):
            for col, key in enumerate(("file", "where", "reason")):
                value = str(p.get(key, ""))
                cell = QTableWidgetItem(Path(value).name if key == "file" else value)
                cell.setToolTip(value)
                self.problems.setItem(row, col, cell)
        self.problems.resizeRowsToContents()
        log_path = report.get("log_path") or ""
        self.summary.setText(
            (f"{skipped} record{'s' if skipped != 1 else ''} skipped." if skipped else "No record was skipped.")
            + (f" Full report: {log_path}" if log_path else "")
        )

    def reject(self) -> None:
        if self.running:
            self.cancel_import()
            return
        super().reject()

    def hideEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        self.axis.shutdown()  # the preview's render thread (a later preview starts another)
        super().hideEvent(event)
