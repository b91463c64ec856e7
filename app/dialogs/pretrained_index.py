"""The "Index with a pretrained model…" dialog of the Datasets page: a model, its weights (an open_clip tag or a
file) and the zero-shot run's name, for ``trainer index --model M --pretrained P --dataset D --name N``.

Before it starts anything the dialog checks what it can: a name that is a valid run name; a tag that is in the local
Hugging Face cache (the engine processes the app starts are offline, ``HF_HUB_OFFLINE``: an uncached tag could only
fail); a weights file that exists and fits the model (:func:`engine.models.weights_check.weights_file_problem`, on a
worker: key names and shapes, one line, never open_clip's assertion). Its default tag is a cached one; when the model
has none cached, it says so and offers the models that have one or a weights file. The page runs the command as an
:class:`~app.engine_job.EngineJob`, whose one-line error says what else the engine found wrong.
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

from app.engine_job import engine_environment
from app.tasks import submit
from app.widgets.weights_picker import FILE, TAG, ModelTags, WeightsPicker, model_tags
from engine.models.names import model_names
from engine.models.weights_check import weights_file_problem
from engine.names import default_pretrained_run_name, name_problem

#: A model with open_clip pretrained tags, offered first when nothing else is known (open_clip's default).
FIRST_MODEL = "ViT-B-32"


def offline() -> bool:
    """The engine processes the app starts cannot download (:func:`app.engine_job.engine_environment`)."""
    return engine_environment({}).get("HF_HUB_OFFLINE", "") == "1"


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
        self._model_chosen = False  # the user picked the model: a cached tag of another never replaces it
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
        self.cache_note = QLabel()  # which tags can be used offline, when the model's default one cannot
        self.cache_note.setWordWrap(True)
        self.cache_note.setStyleSheet("color: #7a5400;")
        self.cache_note.hide()
        self._checking = False  # a weights file is being checked on a worker
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.index_button = self.buttons.addButton("Index", QDialogButtonBox.ButtonRole.AcceptRole)
        self.index_button.setDefault(True)
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)

        form = QFormLayout()
        form.addRow("Dataset", QLabel(f"<b>{dataset}</b>"))
        form.addRow("Model", self.model)
        form.addRow("Weights", self.weights)
        form.addRow("", self.cache_note)
        form.addRow("Run name", self.name)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self.resize(600, 280)

        self.model.currentTextChanged.connect(self._model_changed)
        self.weights.changed.connect(self._update_name)
        self.weights.source.currentIndexChanged.connect(lambda _i: self._update_cache_note())
        self.name.textEdited.connect(self._name_typed)
        self._update_name()
        self._tasks.append(submit(model_names, self._models_loaded, owner=self))  # reads config folders: a worker's job
        tags = model_tags()
        tags.loaded.connect(self._tags_loaded)
        tags.request()  # which tags are cached (seconds, on a worker; once per app session)
        if tags.value is not None:
            self._tags_loaded(tags.value)

    def _tags_loaded(self, tags: ModelTags) -> None:
        """Default to a cached tag: the model's (the picker lists those first), else the first model that has one
        (unless the user chose the model); none anywhere: say so and offer a weights file."""
        model = self.model.currentText().strip()
        if self.weights.mode == TAG and not tags.cached.get(model) and not self._model_chosen:
            other = next((m for m in sorted(tags.cached) if tags.cached[m]), None)
            if other is not None:
                self.model.setCurrentText(other)  # the picker then lists its tags, cached first
                self._model_chosen = False
        self._update_cache_note()

    def _update_cache_note(self) -> None:
        tags = model_tags().value
        model = self.model.currentText().strip()
        if tags is None or self.weights.mode != TAG or tags.cached.get(model) or not offline():
            self.cache_note.hide()
            return
        others = sorted(m for m in tags.cached if tags.cached[m])
        where = (f"models with a cached tag: {', '.join(others[:4])}{', …' if len(others) > 4 else ''}; or choose "
                 "“Weights file”") if others else "choose “Weights file” and a file of the model's weights"
        self.cache_note.setText(f"No pretrained tag of {model or 'this model'} is in the local Hugging Face cache, "
                                f"and the app does not download: {where}.")
        self.cache_note.show()

    def _models_loaded(self, names: list[str]) -> None:
        current = self.model.currentText()
        self.model.blockSignals(True)
        self.model.clear()
        self.model.addItems(names)
        self.model.setCurrentText(current)
        self.model.blockSignals(False)

    def _model_changed(self, model: str) -> None:
        self._model_chosen = True
        self.weights.set_model(model)
        self._update_name()
        self._update_cache_note()

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
        if not self.model.currentText().strip():
            errors.append("Choose the model the weights are for.")
        errors += self.weights.problems()
        tag_line = self.tag_problem()
        if tag_line:
            errors.append(tag_line)
        problem = name_problem(self.name.text().strip())
        if problem:
            errors.append(f"The run name cannot be used: {problem}.")
        return errors

    def request(self) -> PretrainedIndexRequest:
        return PretrainedIndexRequest(self.dataset, self.model.currentText().strip(), self.weights.value() or "",
                                      self.name.text().strip())

    def tag_problem(self) -> str:
        """An uncached tag while the engine is offline (always, for the jobs the app starts): it could only fail."""
        tags, model, tag = model_tags().value, self.model.currentText().strip(), self.weights.tag_text()
        if self.weights.mode != TAG or not tag or tags is None or not tags.knows(model) or not offline():
            return ""
        if tags.is_cached(model, tag):
            return ""
        return (f"Tag {tag} of {model} is not in the local Hugging Face cache and the app does not download "
                "(HF_HUB_OFFLINE): choose a tag marked “(cached)”, or a weights file.")

    def submit(self) -> bool:
        """Check; a weights file is then checked against the model on a worker, and ``requested`` emitted (the
        dialog closed) when it fits; else say what is wrong (False)."""
        if self._checking:
            return False
        errors = self.problems()
        self.weights.mark(any("weights" in e.lower() or "tag" in e.lower() for e in errors))
        if errors:
            self._show_error(" ".join(errors))
            return False
        if self.weights.mode == FILE:
            model, path = self.model.currentText().strip(), self.weights.value() or ""
            self._set_checking(True)
            self._tasks.append(submit(lambda: weights_file_problem(model, path), self._file_checked,
                                      lambda message: self._file_checked(message.splitlines()[0]), owner=self))
            return False
        self.requested.emit(self.request())
        self.accept()
        return True

    @property
    def checking(self) -> bool:
        return self._checking

    def _set_checking(self, on: bool) -> None:
        self._checking = on
        self.index_button.setEnabled(not on)
        self.index_button.setText("Checking…" if on else "Index")

    def _file_checked(self, problem: str | None) -> None:
        self._set_checking(False)
        if problem:
            self.weights.mark(True)
            self._show_error(problem)
            return
        self.requested.emit(self.request())
        self.accept()

    def _show_error(self, text: str) -> None:
        self.error.setText(text.replace("/", "/\u200b"))  # a long path wraps inside the dialog
        self.error.show()

    def _clear_error(self) -> None:
        if self.error.isVisible():
            self.error.hide()
            self.weights.mark(False)

    def keyPressEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt override: Enter submits through the check
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.submit()
            return
        super().keyPressEvent(event)
