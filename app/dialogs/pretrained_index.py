"""The "Index with a pretrained model…" dialog of the Datasets page: a model, its weights (an open_clip tag or a
file) and the zero-shot run's name, for ``trainer index --model M --pretrained P --dataset D --name N``.

The dialog only asks and checks what it can without reading files (a name that is a valid run name, a file that
exists: one stat); the page runs the command as an :class:`~app.engine_job.EngineJob`, whose one-line error says what
the engine found wrong (a tag not in the cache, a file that holds no weights, a name already taken).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from app.tasks import submit
from app.widgets.weights_picker import FILE, TAG, WeightsPicker
from engine.models.names import model_names
from engine.names import default_pretrained_run_name, name_problem

#: A model with open_clip pretrained tags, offered first when nothing else is known (open_clip's default).
FIRST_MODEL = "ViT-B-32"


@dataclass(frozen=True)
class PretrainedIndexRequest:
    dataset: str
    model: str
    pretrained: str
    name: str

    def args(self) -> list[str]:
        """``trainer`` arguments (``EngineJob`` adds ``--workspace``)."""
        return ["index", "--model", self.model, "--pretrained", self.pretrained, "--dataset", self.dataset,
                "--name", self.name, "--events", "-"]


class PretrainedIndexDialog(QDialog):
    """Emits ``requested(PretrainedIndexRequest)`` when Index is pressed on a form without problems."""

    requested = Signal(object)

    def __init__(self, dataset: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.dataset = dataset
        self.setWindowTitle("Index with a pretrained model")
        self._name_edited = False
        self._tasks: list[object] = []

        intro = QLabel(f"Encode every caption and picture of <b>{dataset}</b> with pretrained weights as they are "
                       "(no training), and index them: the result is a zero-shot run, searchable and comparable "
                       "with trained runs.")
        intro.setWordWrap(True)
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.model.addItem(FIRST_MODEL)
        self.model.setToolTip("The open_clip model (architecture) the weights are for")
        self.weights = WeightsPicker(allow_random=False)
        self.weights.set_model(FIRST_MODEL)
        self.name = QLineEdit()
        self.name.setToolTip("The zero-shot run's name: letters, digits, '.', '_' and '-'")
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c62828;")
        self.error.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.index_button = self.buttons.addButton("Index", QDialogButtonBox.ButtonRole.AcceptRole)
        self.index_button.setDefault(True)
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)

        form = QFormLayout()
        form.addRow("Dataset", QLabel(f"<b>{dataset}</b>"))
        form.addRow("Model", self.model)
        form.addRow("Weights", self.weights)
        form.addRow("Run name", self.name)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self.resize(560, 260)

        self.model.currentTextChanged.connect(self._model_changed)
        self.weights.changed.connect(self._update_name)
        self.name.textEdited.connect(self._name_typed)
        self._update_name()
        self._tasks.append(submit(model_names, self._models_loaded))  # reads config folders: a worker's job

    def _models_loaded(self, names: list[str]) -> None:
        current = self.model.currentText()
        self.model.blockSignals(True)
        self.model.clear()
        self.model.addItems(names)
        self.model.setCurrentText(current)
        self.model.blockSignals(False)

    def _model_changed(self, model: str) -> None:
        self.weights.set_model(model)
        self._update_name()

    def _name_typed(self, _text: str) -> None:
        self._name_edited = bool(self.name.text().strip())  # cleared: follow the model and weights again
        self._clear_error()

    def _update_name(self) -> None:
        """The default name follows the model and weights until the user types one."""
        self._clear_error()
        if self._name_edited:
            return
        pretrained = self.weights.value() or ""
        self.name.setText(default_pretrained_run_name(self.dataset, self.model.currentText().strip(), pretrained)
                          if pretrained else "")

    def set_values(self, model: str, pretrained: str, name: str | None = None) -> None:
        """Fill the form (a test's, or a later "index again" action's way in)."""
        self.model.setCurrentText(model)
        self.weights.set_value(pretrained)
        if name is not None:
            self.name.setText(name)
            self._name_edited = bool(name)
        self._update_name()

    def problems(self) -> list[str]:
        """What the form alone says is wrong (one stat for a file)."""
        errors = []
        model, pretrained = self.model.currentText().strip(), self.weights.value() or ""
        if not model:
            errors.append("Choose the model the weights are for.")
        if self.weights.mode == TAG and not pretrained:
            errors.append("Choose a pretrained tag of the model, or a weights file.")
        elif self.weights.mode == FILE:
            path = self.weights.file_path()
            if path is None:
                errors.append("Choose the weights file.")
            elif not path.is_file():
                errors.append(f"Weights file {path} does not exist: choose an existing file." if not path.exists()
                              else f"{path} is a folder: choose the weights file itself.")
        problem = name_problem(self.name.text().strip())
        if problem:
            errors.append(f"The run name cannot be used: {problem}.")
        return errors

    def request(self) -> PretrainedIndexRequest:
        return PretrainedIndexRequest(self.dataset, self.model.currentText().strip(), self.weights.value() or "",
                                      self.name.text().strip())

    def submit(self) -> bool:
        """Check; emit ``requested`` and close when all is well, else say what is wrong (False)."""
        errors = self.problems()
        self.weights.mark(any("weights" in e.lower() or "tag" in e.lower() for e in errors))
        if errors:
            self.error.setText(" ".join(errors))
            self.error.show()
            return False
        self.requested.emit(self.request())
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
