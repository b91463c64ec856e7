"""The "Open a folder…" dialog (issue 19, §3): a folder of images or meshes, its dataset's name, the meshes' up axis
and the weights to search it with; the Datasets page then runs :func:`app.open_folder.stage_args` as one job.

The dialog reads nothing on the GUI thread but one stat of the folder (and of a weights file): what the folder holds
is counted on a worker, over at most :data:`app.open_folder.SCAN_LIMIT` files (:func:`app.open_folder.scan_folder`),
and decides whether the up axis is asked. The name follows the folder until the user types one and is checked with
the engine's name rule; the weights are the shared :class:`~app.widgets.weights_picker.WeightsPicker`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.dialogs.pretrained_index import FIRST_MODEL
from app.open_folder import FolderContents, OpenFolderPlan, default_dataset_name, scan_folder
from app.tasks import Task, submit
from app.widgets.weights_picker import WeightsPicker
from engine.mesh_files import DEFAULT_UP_AXIS, UP_AXES, UP_AXIS_TABLE, suggested_up_axis
from engine.models.names import model_names
from engine.names import name_problem

SCAN_DEBOUNCE_MS = 300


def up_axis_label(axis: str) -> str:
    """``z — ModelNet10/40 (off), Thingi10K, most STL …``: the axis with the mesh sets of the README's table."""
    sets = [f"{name} ({formats})" for name, formats, up in UP_AXIS_TABLE if up == axis]
    default = " (default)" if axis == DEFAULT_UP_AXIS else ""
    return f"{axis}{default} — {'; '.join(sets)}" if sets else f"{axis} — an odd exporter's meshes"


class OpenFolderDialog(QDialog):
    """Emits ``requested(OpenFolderPlan)`` when Open is pressed on a form without problems; ``scanned(contents)``
    each time the folder's contents are known."""

    requested = Signal(object)
    scanned = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open a folder")
        self.contents: FolderContents | None = None  # of the folder in the field (None: not known yet)
        self._scanned_folder = ""
        self._scan_generation = 0
        self._name_edited = False
        self._up_picked = False
        self._tasks: list[Task] = []

        self._build_fields()
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c62828;")
        self.error.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.open_button = self.buttons.addButton("Open", QDialogButtonBox.ButtonRole.AcceptRole)
        self.open_button.setDefault(True)
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        intro = QLabel("Search a folder of photos or 3D meshes as it is: captions are not needed. It is imported, "
                       "its meshes rendered, and its pictures indexed with pretrained weights; then the Search page "
                       "opens on it. Opening the same folder again only follows what changed in it.")
        intro.setWordWrap(True)

        self.form = QFormLayout()
        self.form.addRow("Folder", self.folder_row)
        self.form.addRow("Holds", self.holds)
        self.form.addRow("Dataset name", self.name)
        self.form.addRow("Up axis", self.up_axis)
        self.form.addRow("Model", self.model)
        self.form.addRow("Weights", self.weights)
        self.form.setRowVisible(self.up_axis, False)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(self.form)
        layout.addWidget(self.error)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self.resize(620, 330)

        self._scan_timer = QTimer(self)
        self._scan_timer.setSingleShot(True)
        self._scan_timer.setInterval(SCAN_DEBOUNCE_MS)
        self._scan_timer.timeout.connect(self.scan)
        self.folder.textChanged.connect(self._folder_typed)
        self.name.textEdited.connect(self._name_typed)
        self.up_axis.activated.connect(self._up_typed)
        self.model.currentTextChanged.connect(self._model_changed)
        self.weights.changed.connect(self._clear_error)
        self._update_open()
        self._tasks.append(submit(model_names, self._models_loaded, owner=self))  # reads config folders: a worker's job

    def _build_fields(self) -> None:
        """The folder (with what it holds), the name, the up axis, the model and the weights."""
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("a folder of images (png, jpg, webp, bmp) or meshes (obj, off, ply, stl, glb)")
        self.browse = QPushButton("Browse…")
        self.browse.clicked.connect(self.pick_folder)
        self.folder_row = QWidget()
        row = QHBoxLayout(self.folder_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.folder, 1)
        row.addWidget(self.browse)
        self.holds = QLabel("–")
        self.holds.setStyleSheet("color: #5f6368;")
        self.name = QLineEdit()
        self.name.setToolTip("The dataset's name: letters, digits, '.', '_' and '-'")
        self.up_axis = QComboBox()
        for axis in UP_AXES:
            self.up_axis.addItem(up_axis_label(axis), axis)
        self.up_axis.setToolTip("The axis that points up in the mesh files (trainer import --up): meshes shown lying "
                                "on their side were imported with the wrong one")
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.model.addItem(FIRST_MODEL)
        self.model.setToolTip("The open_clip model (architecture) the weights are for")
        self.weights = WeightsPicker(allow_random=False)
        self.weights.set_model(FIRST_MODEL)

    # ---- the folder ------------------------------------------------------------------------------------------
    def pick_folder(self) -> None:
        start = self.folder.text().strip() or str(Path.home())
        path = QFileDialog.getExistingDirectory(self, "Folder to open", start)
        if path:
            self.folder.setText(path)
            self.scan()

    def folder_path(self) -> Path | None:
        """The folder named (absolute, ``~`` expanded; the disk is not touched), None when the field is empty."""
        text = self.folder.text().strip()
        return Path(text).expanduser().absolute() if text else None

    def _folder_typed(self, _text: str) -> None:
        self._clear_error()
        self.contents = None
        path = self.folder_path()
        if not self._name_edited:
            self.name.setText(default_dataset_name(path) if path is not None else "")
        self.holds.setText("looking at the folder…" if path is not None else "–")
        self._update_open()
        self._scan_timer.start()  # once typing pauses

    def scan(self) -> None:
        """Count what the folder holds, on a worker (the answer for an older text is dropped)."""
        self._scan_timer.stop()
        path = self.folder_path()
        self._scan_generation += 1
        generation = self._scan_generation
        if path is None:
            return
        self._tasks = [t for t in self._tasks if t.running]
        self._tasks.append(submit(lambda: scan_folder(path), lambda found: self._scanned(generation, path, found),
                                  lambda error: self._scan_failed(generation, error), owner=self))

    def _scanned(self, generation: int, path: Path, contents: FolderContents) -> None:
        if generation != self._scan_generation:
            return
        self.contents, self._scanned_folder = contents, str(path)
        self.holds.setText(contents.describe())
        self.form.setRowVisible(self.up_axis, contents.holds_meshes)
        if contents.holds_meshes and not self._up_picked:
            self.set_up_axis(suggested_up_axis(contents.first_mesh_suffix))
            self._up_picked = False  # a suggestion: the next folder's meshes may suggest another
        self._update_open()
        self.scanned.emit(contents)

    def _scan_failed(self, generation: int, error: str) -> None:
        if generation == self._scan_generation:
            self.contents = None
            self.holds.setText(f"cannot be read: {(error.splitlines() or [''])[0]}")
            self._update_open()

    # ---- the other fields ------------------------------------------------------------------------------------
    def _name_typed(self, _text: str) -> None:
        self._name_edited = bool(self.name.text().strip())  # cleared: follow the folder again
        self._clear_error()

    def _up_typed(self, _index: int) -> None:
        self._up_picked = True

    def set_up_axis(self, axis: str) -> None:
        i = self.up_axis.findData(axis)
        if i >= 0:
            self.up_axis.setCurrentIndex(i)
            self._up_picked = True

    def _models_loaded(self, names: list[str]) -> None:
        current = self.model.currentText()
        self.model.blockSignals(True)
        self.model.clear()
        self.model.addItems(names)
        self.model.setCurrentText(current)
        self.model.blockSignals(False)

    def _model_changed(self, model: str) -> None:
        self.weights.set_model(model)
        self._clear_error()

    def set_values(self, folder: str | Path, model: str, pretrained: str, name: str | None = None,
                   up_axis: str | None = None) -> None:
        """Fill the form (a test's way in); the folder is scanned at once."""
        self.folder.setText(str(folder))
        self.model.setCurrentText(model)
        self.weights.set_value(pretrained)
        if name is not None:
            self.name.setText(name)
            self._name_edited = bool(name)
        if up_axis is not None:
            self.set_up_axis(up_axis)
        self.scan()

    # ---- checks and the request ------------------------------------------------------------------------------
    def _update_open(self) -> None:
        """Open waits for the folder's contents (they decide the stages)."""
        self.open_button.setEnabled(self.contents is not None)

    def problems(self) -> list[str]:
        """What the form says is wrong (one stat each for the folder and a weights file)."""
        errors = []
        path = self.folder_path()
        if path is None:
            errors.append("Choose the folder to open.")
        elif not path.is_dir():
            errors.append(f"{path} does not exist: choose a folder." if not path.exists()
                          else f"{path} is a file: choose the folder that holds it.")
        elif self.contents is not None and self.contents.empty and self.contents.complete:
            errors.append(f"{path} holds no images or meshes.")
        problem = name_problem(self.name.text().strip())
        if problem:
            errors.append(f"The dataset name cannot be used: {problem}.")
        if not self.model.currentText().strip():
            errors.append("Choose the model the weights are for.")
        errors += self.weights.problems()
        return errors

    def plan(self) -> OpenFolderPlan:
        meshes = self.contents is not None and self.contents.holds_meshes
        path = self.folder_path()
        return OpenFolderPlan(folder=str(path) if path is not None else "", name=self.name.text().strip(),
                              meshes=meshes, model=self.model.currentText().strip(),
                              pretrained=self.weights.value() or "",
                              up_axis=str(self.up_axis.currentData()) if meshes else "")

    def submit(self) -> bool:
        """Check; emit ``requested`` and close when all is well, else say what is wrong (False)."""
        if self.contents is None or self._scanned_folder != str(self.folder_path()):
            return False  # the contents of the folder in the field are not known yet
        errors = self.problems()
        self.weights.mark(any("weights" in e.lower() or "tag" in e.lower() for e in errors))
        if errors:
            self.error.setText(" ".join(errors))
            self.error.show()
            return False
        self.requested.emit(self.plan())
        self.accept()
        return True

    def _clear_error(self) -> None:
        if self.error.isVisible():
            self.error.hide()
            self.weights.mark(False)

    def keyPressEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt override: Enter submits through the check
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.submit()
            return
        super().keyPressEvent(event)
