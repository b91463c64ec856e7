"""Which weights a model starts from: random initialisation, an open_clip pretrained tag, or a weights file.

:class:`WeightsPicker` is the field (the run form's "Start from", the pretrained-index dialog's "Weights"); its
``value()`` is what ``--pretrained`` takes (None: random initialisation). The tags of every model, and which are in
the local HuggingFace cache, come from :func:`engine.models.pretrained.list_models` (seconds: it imports open_clip
and looks up every tag's file), read once per app session on a worker by :func:`model_tags` and shared by every
picker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.tasks import Task, submit
from engine.models.names import looks_like_path

RANDOM, TAG, FILE = "random", "tag", "file"
CACHED = " (cached)"
WEIGHTS_FILTER = "Weights (*.pt *.pth *.bin *.ckpt *.safetensors);;All files (*)"
ERROR_STYLE = "border: 1px solid #c62828; border-radius: 3px;"


@dataclass(frozen=True)
class ModelTags:
    """Each model's open_clip pretrained tags, and those whose file is in the local HuggingFace cache."""

    tags: dict[str, tuple[str, ...]] = field(default_factory=dict)
    cached: dict[str, frozenset[str]] = field(default_factory=dict)
    cache_dir: str = ""

    def of(self, model: str) -> tuple[str, ...]:
        return self.tags.get(model, ())

    def is_cached(self, model: str, tag: str) -> bool:
        return tag in self.cached.get(model, frozenset())

    def knows(self, model: str) -> bool:
        return model in self.tags


def load_model_tags() -> ModelTags:
    """What ``trainer models --json`` lists, as :class:`ModelTags` (a worker's job: seconds)."""
    from engine.models.pretrained import hub_cache_dir, list_models

    rows = list_models()
    return ModelTags({r["name"]: tuple(r["pretrained"]) for r in rows},
                     {r["name"]: frozenset(r["cached"]) for r in rows}, hub_cache_dir())


class ModelTagsLoader(QObject):
    """Reads :class:`ModelTags` once (on a worker) for every picker; ``loaded(ModelTags)`` when it has them."""

    loaded = Signal(object)
    failed = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.value: ModelTags | None = None
        self.error = ""
        self._task: Task | None = None

    def request(self) -> None:
        """Start reading them, unless they are read or being read."""
        if self.value is not None or self._task is not None:
            return
        self._task = submit(load_model_tags, self._done, self._failed)

    def _done(self, tags: ModelTags) -> None:
        self.value = tags
        self.loaded.emit(tags)

    def _failed(self, message: str) -> None:
        self._task = None  # the next request tries again
        self.error = message.splitlines()[0] if message else "unknown error"
        self.failed.emit(self.error)


_loader: ModelTagsLoader | None = None


def model_tags() -> ModelTagsLoader:
    """The app's loader (created on first use, on the GUI thread)."""
    global _loader
    if _loader is None:
        _loader = ModelTagsLoader()
    return _loader


class WeightsPicker(QWidget):
    """A source (random initialisation when ``allow_random``, a pretrained tag, a file) and its value.

    ``changed()`` on every edit. The tag combo is editable: it lists the model's tags (cached ones marked
    "TAG (cached)") once they are loaded, and takes any text before."""

    changed = Signal()

    def __init__(self, allow_random: bool = True, parent: QWidget | None = None, stacked: bool = False) -> None:
        """``stacked``: the tag or file field under the source (a narrow column), not beside it."""
        super().__init__(parent)
        self.model = ""
        self.source = QComboBox()
        if allow_random:
            self.source.addItem("Random initialisation", RANDOM)
            self.source.setItemData(0, "Train every weight from scratch", Qt.ItemDataRole.ToolTipRole)
        self.source.addItem("Pretrained tag", TAG)
        self.source.setItemData(self.source.count() - 1, "open_clip's pretrained weights of the model, by tag "
                                "(`trainer models` lists them)", Qt.ItemDataRole.ToolTipRole)
        self.source.addItem("Weights file", FILE)
        self.source.setItemData(self.source.count() - 1, "A state_dict, an open_clip or Crossfold checkpoint, or a "
                                ".safetensors file", Qt.ItemDataRole.ToolTipRole)
        self.source.setToolTip("What the model's weights start from (--pretrained)")

        self.tag = QComboBox()
        self.tag.setEditable(True)
        self.tag.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.tag.setToolTip("An open_clip pretrained tag of the model (open_clip's --pretrained); “(cached)”: its "
                            "file is in the local HuggingFace cache (the app does not download)")
        self.tag.lineEdit().setPlaceholderText("a tag, e.g. laion2b_s34b_b79k")
        self.tag.setMinimumContentsLength(16)
        self.tag.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)

        self.file = QLineEdit()
        self.file.setPlaceholderText("a .pt / .safetensors weights file")
        self.file.setToolTip("A weights file: a state_dict, an open_clip or Crossfold checkpoint, or .safetensors")
        self.browse = QPushButton("Browse…")
        self.browse.clicked.connect(self.pick_file)
        file_row = QWidget()
        file_layout = QHBoxLayout(file_row)
        file_layout.setContentsMargins(0, 0, 0, 0)
        file_layout.addWidget(self.file, 1)
        file_layout.addWidget(self.browse)

        self.stack = QStackedWidget()
        self.stack.addWidget(QWidget())  # random: nothing to fill in
        self.stack.addWidget(self.tag)
        self.stack.addWidget(file_row)
        layout = QVBoxLayout(self) if stacked else QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.source)
        layout.addWidget(self.stack, 1)

        self.source.currentIndexChanged.connect(self._source_changed)
        self.tag.currentTextChanged.connect(lambda _t: self.changed.emit())
        self.file.textChanged.connect(lambda _t: self.changed.emit())
        loader = model_tags()
        loader.loaded.connect(self._tags_loaded)
        loader.failed.connect(self._tags_failed)
        self._source_changed()

    # ---- the source
    @property
    def mode(self) -> str:
        return str(self.source.currentData())

    def set_mode(self, mode: str) -> None:
        i = self.source.findData(mode)
        if i >= 0:
            self.source.setCurrentIndex(i)

    def _source_changed(self, *_: object) -> None:
        mode = self.mode
        self.stack.setCurrentIndex({RANDOM: 0, TAG: 1, FILE: 2}[mode])
        self.stack.setVisible(mode != RANDOM)
        if mode == TAG:
            model_tags().request()  # the first time a tag is wanted: read them (seconds, on a worker)
            self._fill_tags()
        self.changed.emit()

    # ---- tags
    @property
    def tags(self) -> ModelTags | None:
        return model_tags().value

    def set_model(self, model: str) -> None:
        """List ``model``'s tags (the tag typed stays)."""
        self.model = model.strip()
        self._fill_tags()

    def _tags_loaded(self, _tags: ModelTags) -> None:
        self._fill_tags()

    def _tags_failed(self, message: str) -> None:
        self.tag.lineEdit().setPlaceholderText("a tag (the list could not be read)")
        self.tag.setToolTip(f"The pretrained tags could not be listed: {message}")

    def _fill_tags(self) -> None:
        tags = self.tags
        typed = self.tag_text()
        self.tag.blockSignals(True)
        self.tag.clear()
        if tags is None:
            self.tag.lineEdit().setPlaceholderText("reading the pretrained tags…" if self.mode == TAG else "")
        else:
            names = tags.of(self.model)
            # cached first: those work offline
            for name in sorted(names, key=lambda t: not tags.is_cached(self.model, t)):
                self.tag.addItem(f"{name}{CACHED}" if tags.is_cached(self.model, name) else name, name)
            self.tag.lineEdit().setPlaceholderText(
                "choose a tag" if names else f"{self.model or 'this model'} has no pretrained tags")
        self.tag.setEditText(self._display(typed) if typed else "")
        if not typed and self.tag.count():
            self.tag.setCurrentIndex(0)
        self.tag.blockSignals(False)
        self.changed.emit()

    def _display(self, tag: str) -> str:
        tags = self.tags
        return f"{tag}{CACHED}" if tags is not None and tags.is_cached(self.model, tag) else tag

    def tag_text(self) -> str:
        """The tag chosen or typed, without the "(cached)" mark."""
        return self.tag.currentText().strip().removesuffix(CACHED.strip()).strip()

    # ---- the file
    def pick_file(self) -> None:
        start = str(Path(self.file.text()).expanduser().parent) if self.file.text().strip() else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Weights file", start, WEIGHTS_FILTER)
        if path:
            self.file.setText(path)

    def file_path(self) -> Path | None:
        """The file named (absolute, ``~`` expanded; the disk is not touched), None when the field is empty."""
        text = self.file.text().strip()
        return Path(text).expanduser().absolute() if text else None

    # ---- the value
    def value(self) -> str | None:
        """What ``--pretrained`` gets: None (random), the tag, or the file's absolute path ("" when not filled)."""
        if self.mode == TAG:
            return self.tag_text()
        if self.mode == FILE:
            path = self.file_path()
            return str(path) if path is not None else ""
        return None

    def set_value(self, value: str | None) -> None:
        """Show ``value`` (a config's ``pretrained``): None or "" is random initialisation (or a tag, when there is
        no random choice), a path a file, anything else a tag."""
        text = (value or "").strip()
        if not text and self.source.findData(RANDOM) >= 0:
            self.set_mode(RANDOM)
        elif text and looks_like_path(text) and not text.startswith("hf-hub:"):
            self.file.setText(text)
            self.set_mode(FILE)
        else:
            self.tag.setEditText(self._display(text))
            self.set_mode(TAG)

    def problems(self) -> list[str]:
        """What is wrong with the weights chosen, as the form alone can tell (one stat for a file)."""
        if self.mode == TAG and not self.tag_text():
            return ["Choose a pretrained tag of the model, or a weights file."]
        if self.mode != FILE:
            return []
        path = self.file_path()
        if path is None:
            return ["Choose the weights file."]
        if not path.is_file():
            return [f"Weights file {path} does not exist: choose an existing file." if not path.exists()
                    else f"{path} is a folder: choose the weights file itself."]
        return []

    def input_widget(self) -> QWidget:
        """The input the user fills in now (the one to mark when it is wrong)."""
        return {RANDOM: self.source, TAG: self.tag, FILE: self.file}[self.mode]

    def mark(self, on: bool) -> None:
        """Outline the current input in red (``on``), or no input."""
        for widget in (self.source, self.tag, self.file):
            marked = on and widget is self.input_widget()
            widget.setProperty("error", marked)
            widget.setStyleSheet(ERROR_STYLE if marked else "")
