"""The new-run form: dataset, loss, model, the weights it starts from, length, batch, views, captions, learning rate,
device, seed, name; under Advanced, validation and checkpoint frequency, loader workers, warmup, and open_clip's
tower locks.

The fields start at ``TrainConfig``'s defaults (but for the loss and the length: :data:`FORM_LOSS`,
:data:`FORM_STEPS`). What is checked before launch, and the command line launched, is Qt-free and lives in
:mod:`app.run_form_checks`: first what the values alone tell (then ``TrainConfig.validate``), then, in a
worker, what needs the catalogue. Every problem is listed in plain words under the Launch button and beside the
field it is about; only a clean form emits ``launchRequested``.

A dataset some of whose items have no caption (a folder imported as it is) is counted by a worker as soon as it is
chosen: with fewer captioned train items than one batch, the Dataset field says so at once, in the words
``trainer train`` refuses with, and stays marked until the dataset or the batch changes.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.catalog_changes import catalog_changes
from app.run_form_checks import (
    DEFAULT_MODELS,
    FORM_LOSS,
    FORM_STEPS,
    DatasetInfo,
    FormChoices,
    LaunchRequest,
    Problem,
    TrainItems,
    captions_problems,
    check_launch,
    config_defaults,
    default_name,
    field_of,
    form_problems,
    launch_args,
    load_models,
    lr_text,
    read_choices,
    read_train_items,
    schema_problems,
    weights_problems,
)
from app.runs import open_catalog
from app.tasks import submit
from app.widgets.weights_picker import FILE, TAG, WeightsPicker
from engine.losses.names import LOSS_NAMES, LOSS_SUMMARIES
from engine.run.config import DEVICE_NAMES
from engine.workspace import Workspace

LONGEST_WORD = 20  # characters: a longer word of a message gets break opportunities

__all__ = ["DatasetInfo", "FormChoices", "LaunchRequest", "RunForm", "load_choices"]


def load_choices(workspace: Workspace) -> FormChoices:
    """Datasets with their counts and the run names in use (a worker's job; models come from load_models)."""
    catalog = open_catalog(workspace)
    try:
        return read_choices(catalog)
    finally:
        catalog.close()


def _check_launch(workspace: Workspace, values: dict[str, Any]) -> list[Problem]:
    """:func:`~app.run_form_checks.check_launch` on the workspace's catalogue (a worker's job)."""
    catalog = open_catalog(workspace)
    try:
        return check_launch(catalog, workspace, values)
    finally:
        catalog.close()


def _read_train_items(workspace: Workspace, dataset: str) -> TrainItems:
    """:func:`~app.run_form_checks.read_train_items` on the workspace's catalogue (a worker's job)."""
    catalog = open_catalog(workspace)
    try:
        return read_train_items(catalog, dataset)
    finally:
        catalog.close()


def breakable(text: str) -> str:
    """``text`` with line-break opportunities (zero-width spaces) after each path separator and inside any word of
    more than :data:`LONGEST_WORD` characters: a long path or file name in a message wraps inside the form's column
    instead of widening it."""
    return re.sub(rf"(\S{{{LONGEST_WORD}}})(?=\S)", "\\1\u200b", text.replace("/", "/\u200b"))


def _spin(lo: int, hi: int, value: int, tip: str = "", suffix: str = "") -> QSpinBox:
    box = QSpinBox()
    box.setRange(lo, hi)
    box.setValue(value)
    box.setToolTip(tip)
    if suffix:
        box.setSuffix(suffix)
    box.setAccelerated(True)
    return box


class RunForm(QWidget):
    """Signals: ``launchRequested(LaunchRequest)``, ``validated(list[str])`` (the messages of the last check;
    empty when the launch went ahead), ``loaded(int)`` (datasets listed), ``dataset_checked(str)`` (a dataset's
    captioned train items counted, and the Dataset field marked or not)."""

    launchRequested = Signal(object)
    validated = Signal(list)
    loaded = Signal(int)
    dataset_checked = Signal(str)

    def __init__(self, workspace: Workspace, parent: QWidget | None = None,
                 taken_names: Callable[[], Iterable[str]] | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.taken_names = taken_names or (lambda: ())
        self.choices = FormChoices()
        self.errors: list[str] = []
        self._tasks: list[object] = []
        self._checking = False
        self._models: list[str] = []
        self._train_items: TrainItems | None = None  # the chosen dataset's train items, counted by a worker
        self.dataset_notes: list[Problem] = []  # what the Dataset field says before any launch

        self._build_fields()
        form = self._build_form()
        self._build_advanced()
        self._build_launch()
        self._build_field_errors(form, self._advanced_form)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.advanced_toggle)
        layout.addWidget(self.advanced)
        layout.addWidget(self.launch_button)
        layout.addWidget(self.message)
        layout.addStretch(1)
        self._wire()
        self.reload()

    # ---- building the widgets (called once, by __init__) ---------------------------------------
    def _build_fields(self) -> None:
        """The form's fields, each with its default (``TrainConfig``'s) and tooltip."""
        default = config_defaults()
        self.dataset = QComboBox()
        self.dataset.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.dataset.setMinimumContentsLength(12)  # a long dataset name is elided, never widens the column
        self.dataset.setToolTip("The catalogue dataset to train on (its train split; val for checkpoints)")
        self.dataset.currentIndexChanged.connect(self._dataset_changed)
        self.dataset_info = QLabel("")
        self.dataset_info.setWordWrap(True)
        self.dataset_info.setStyleSheet("color: palette(mid);")
        self.loss = QComboBox()
        for name in LOSS_NAMES:
            self.loss.addItem(name)
            self.loss.setItemData(self.loss.count() - 1, LOSS_SUMMARIES[name], Qt.ItemDataRole.ToolTipRole)
        self.loss.setCurrentText(FORM_LOSS)
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.addItems(DEFAULT_MODELS)
        self.model.setCurrentText(default["model"])
        self.model.setToolTip("An open_clip model name or one of our small configs (cf-…)")
        self.start_from = WeightsPicker(allow_random=True, stacked=True)  # a file path and Browse… need the width
        self.start_from.setToolTip("The weights training starts from: random, an open_clip pretrained tag of the "
                                   "model, or a weights file (--pretrained)")
        self.start_from.set_model(self.model.currentText())
        self.model.currentTextChanged.connect(self.start_from.set_model)
        self.length = _spin(1, 10_000_000, FORM_STEPS, "How long to train")
        self.length_unit = QComboBox()
        self.length_unit.addItems(["steps", "epochs"])
        self.batch = _spin(1, 1_000_000, default["batch_size"], "Items per batch (per process)")
        self.views = _spin(1, 256, default["views_per_item"], "Views (or images) sampled per item in a batch")
        self.captions = _spin(1, 256, default["captions_per_item"], "Captions sampled per item in a batch")
        self.lr = QLineEdit(lr_text(default["lr"]))
        self.lr.setToolTip("Peak learning rate (AdamW, warmup then cosine)")
        self.device = QComboBox()
        self.device.addItems(DEVICE_NAMES)
        self.device.setCurrentText(default["device"])
        self.seed = _spin(0, 2**31 - 1, default["seed"], "Random seed (batches, views and captions, initialisation)")
        self.name = QLineEdit()
        self.name.setPlaceholderText("automatic: dataset-loss-time")
        self.name.setToolTip("Run name: letters, digits, '.', '_' and '-'")
        self.val_every = _spin(1, 10_000_000, default["val_frequency"],
                               "Evaluate on the val split every N steps (and at the end)")
        self.save_every = _spin(1, 10_000_000, default["save_frequency"],
                                "Write a checkpoint every N steps (and at the end)")
        self.workers = _spin(0, 64, default["workers"], "Data loader processes (0: load in the training process)")
        self.warmup = _spin(0, 10_000_000, default["warmup"], "Learning-rate warmup steps")
        self._build_lock_fields()

    def _build_lock_fields(self) -> None:
        """open_clip's tower locks (its flag names in the tooltips); a lock's options only when it is on."""
        default = config_defaults()
        self.lock_image = QCheckBox("Lock")
        self.lock_image.setToolTip("--lock-image: the image tower is not trained (keeps the weights it starts from)")
        self.lock_image_groups = _spin(0, 1000, default["lock_image_unlocked_groups"], "--lock-image-unlocked-groups: "
                                       "leave the last N layer groups of the locked image tower trainable")
        self.lock_image_groups.setPrefix("unlocked groups: ")
        self.lock_image_bn = QCheckBox("freeze BatchNorm stats")
        self.lock_image_bn.setToolTip("--lock-image-freeze-bn-stats: freeze the BatchNorm running statistics of "
                                      "the locked image tower")
        self.lock_text = QCheckBox("Lock")
        self.lock_text.setToolTip("--lock-text: the text tower is not trained (keeps the weights it starts from)")
        self.lock_text_layers = _spin(0, 1000, default["lock_text_unlocked_layers"], "--lock-text-unlocked-layers: "
                                      "leave the last N layers of the locked text tower trainable")
        self.lock_text_layers.setPrefix("unlocked layers: ")
        self.lock_text_ln = QCheckBox("freeze LayerNorm")
        self.lock_text_ln.setToolTip("--lock-text-freeze-layer-norm: freeze LayerNorm of the locked text tower's "
                                     "unlocked layers (HF text towers; open_clip's own always locks them)")
        for lock, options in ((self.lock_image, (self.lock_image_groups, self.lock_image_bn)),
                              (self.lock_text, (self.lock_text_layers, self.lock_text_ln))):
            for option in options:
                option.setEnabled(False)
                lock.toggled.connect(option.setEnabled)

    def _build_form(self) -> QFormLayout:
        """The main fields, labelled."""
        length_row = QHBoxLayout()
        length_row.setContentsMargins(0, 0, 0, 0)
        length_row.addWidget(self.length, 1)
        length_row.addWidget(self.length_unit)
        length = QWidget()
        length.setLayout(length_row)
        sampling_row = QHBoxLayout()
        sampling_row.setContentsMargins(0, 0, 0, 0)
        for label, box in (("views", self.views), ("captions", self.captions)):
            sampling_row.addWidget(box, 1)
            sampling_row.addWidget(QLabel(label))
        sampling = QWidget()
        sampling.setLayout(sampling_row)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Dataset", self.dataset)
        form.addRow("", self.dataset_info)
        form.addRow("Loss", self.loss)
        form.addRow("Model", self.model)
        form.addRow("Start from", self.start_from)
        form.addRow("Length", length)
        form.addRow("Batch size", self.batch)
        form.addRow("Per item", sampling)
        form.addRow("Learning rate", self.lr)
        form.addRow("Device", self.device)
        form.addRow("Seed", self.seed)
        form.addRow("Name", self.name)
        return form

    def _build_advanced(self) -> None:
        """The advanced fields, behind their toggle (hidden at first)."""
        self.advanced_toggle = QToolButton()
        self.advanced_toggle.setText("Advanced")
        self.advanced_toggle.setCheckable(True)
        self.advanced_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_toggle.setAutoRaise(True)
        self.advanced = QWidget()
        adv = self._advanced_form = QFormLayout(self.advanced)
        adv.setContentsMargins(0, 0, 0, 0)
        adv.addRow("Validate every", self.val_every)
        adv.addRow("Checkpoint every", self.save_every)
        adv.addRow("Loader workers", self.workers)
        adv.addRow("Warmup steps", self.warmup)
        for label, lock, sub, check in (("Image tower", self.lock_image, self.lock_image_groups, self.lock_image_bn),
                                        ("Text tower", self.lock_text, self.lock_text_layers, self.lock_text_ln)):
            row = QGridLayout()  # two lines: the lock and its count, then its freeze option (a narrow column)
            row.setContentsMargins(0, 0, 0, 0)
            row.setVerticalSpacing(2)
            row.addWidget(lock, 0, 0)
            row.addWidget(sub, 0, 1)
            row.addWidget(check, 1, 0, 1, 2)
            row.setColumnStretch(1, 1)
            box = QWidget()
            box.setLayout(row)
            adv.addRow(label, box)
        self.advanced.setVisible(False)
        self.advanced_toggle.toggled.connect(self._toggle_advanced)

    def _build_launch(self) -> None:
        """The launch button and the message line under it."""
        self.launch_button = QPushButton("Launch training")
        self.launch_button.setDefault(True)
        self.launch_button.clicked.connect(self.launch)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.RichText)
        self.message.setVisible(False)

    def _wire(self) -> None:
        """Any edit clears the last message; the loss sets the name's placeholder."""
        for w in (self.length, self.batch, self.views, self.captions, self.seed, self.val_every, self.save_every,
                  self.workers, self.warmup):
            w.valueChanged.connect(self._clear_message)
        for w in (self.lr, self.name):
            w.textChanged.connect(self._clear_message)
        for w in (self.lock_image, self.lock_image_bn, self.lock_text, self.lock_text_ln):
            w.toggled.connect(self._clear_message)
        for w in (self.lock_image_groups, self.lock_text_layers):
            w.valueChanged.connect(self._clear_message)
        self.start_from.changed.connect(self._clear_message)
        self.loss.currentIndexChanged.connect(self._update_placeholder)
        self.batch.valueChanged.connect(self._update_dataset_notes)
        self.model.currentTextChanged.connect(self._update_dataset_notes)
        self.start_from.changed.connect(self._update_dataset_notes)
        catalog_changes().changed.connect(self.reload)  # an import, the demo datasets, a rescan: list them

    def _build_field_errors(self, form: QFormLayout, advanced: QFormLayout) -> None:
        """A hidden red line under each field a message can be about; the Advanced rows' labels get the main
        form's label width so both columns line up."""
        self.field_errors: dict[str, QLabel] = {}
        fields: dict[str, QWidget] = {"dataset": self.dataset, "model": self.model, "pretrained": self.start_from,
                                      "batch": self.batch, "lr": self.lr, "name": self.name}
        positions = sorted(((form.getWidgetPosition(w)[0], key) for key, w in fields.items()
                            if form.getWidgetPosition(w)[0] >= 0), reverse=True)
        for row, key in positions:  # bottom up: inserting a row keeps the rows above where they are
            label = QLabel()
            label.setWordWrap(True)
            label.setStyleSheet("color: #c62828;")
            label.setVisible(False)
            form.insertRow(row + 1, "", label)
            self.field_errors[key] = label
        self._fields = fields
        width = max((form.itemAt(r, QFormLayout.ItemRole.LabelRole).widget().sizeHint().width()
                     for r in range(form.rowCount())
                     if form.itemAt(r, QFormLayout.ItemRole.LabelRole) is not None
                     and form.itemAt(r, QFormLayout.ItemRole.LabelRole).widget() is not None), default=0)
        for r in range(advanced.rowCount()):
            item = advanced.itemAt(r, QFormLayout.ItemRole.LabelRole)
            if item is not None and item.widget() is not None:
                item.widget().setMinimumWidth(width)

    @staticmethod
    def field_of(message: str) -> str | None:
        """The field a message is about (a :class:`~app.run_form_checks.Problem`'s), None for the form."""
        return field_of(message)

    def _mark_fields(self, errors: list[str]) -> None:
        """Each message beside its field, the field outlined in red; a field without a message unmarked. The
        Dataset field's notes (:attr:`dataset_notes`) stay until the dataset or the batch changes."""
        by_field: dict[str, list[str]] = {}
        for e in [*errors, *(n for n in self.dataset_notes if n not in errors)]:
            key = self.field_of(e)
            if key is not None:
                by_field.setdefault(key, []).append(e)
        for key, label in self.field_errors.items():
            messages = by_field.get(key, [])
            label.setText(breakable(" ".join(messages)))
            label.setVisible(bool(messages))
            widget = self._fields[key]
            if isinstance(widget, WeightsPicker):
                widget.mark(bool(messages))  # its current input, not every child
                continue
            widget.setProperty("error", bool(messages))
            widget.setStyleSheet("border: 1px solid #c62828; border-radius: 3px;" if messages else "")

    # ---- choices
    def reload(self) -> None:
        """List the datasets and models again (in a worker)."""
        ws = self.workspace
        self.dataset_info.setText("Reading the catalogue…")
        self._tasks.append(submit(lambda: load_choices(ws), self._loaded, self._load_failed, owner=self))
        if not self._models:
            self._tasks.append(submit(load_models, self._models_loaded, owner=self))

    def _models_loaded(self, models: list[str]) -> None:
        self._models = models
        self.choices.models = models
        model = self.model.currentText()
        self.model.clear()
        self.model.addItems(models or list(DEFAULT_MODELS))
        self.model.setCurrentText(model or DEFAULT_MODELS[0])

    def _loaded(self, choices: FormChoices) -> None:
        choices.models = self._models
        self.choices = choices
        current = self.dataset.currentText()
        self.dataset.blockSignals(True)
        self.dataset.clear()
        for info in choices.datasets:
            self.dataset.addItem(info.name)
        if current and self.dataset.findText(current) >= 0:
            self.dataset.setCurrentText(current)
        elif choices.last_dataset:
            self.dataset.setCurrentText(choices.last_dataset)
        self.dataset.blockSignals(False)
        self._dataset_changed()
        self.loaded.emit(len(choices.datasets))

    def _load_failed(self, message: str) -> None:
        self.dataset_info.setText(f"Could not read the catalogue: {message.splitlines()[0]}")
        self.loaded.emit(0)

    def _dataset_info(self) -> DatasetInfo | None:
        return self.choices.dataset(self.dataset.currentText())

    def _dataset_changed(self) -> None:
        info = self._dataset_info()
        if info is None:
            self.dataset_info.setText("No datasets yet: import one on the Datasets page or run "
                                      "<code>trainer demo-data</code>." if not self.choices.datasets else "")
        else:
            splits = " / ".join(f"{info.by_split.get(s, 0)} {s}" for s in ("train", "val", "test"))
            visual = f"{info.views} views" if info.kind == "shape-text" else f"{info.images} images"
            captioned = (f" ({info.captioned_items} of {info.items} items have captions)"
                         if info.captioned_items is not None and info.captioned_items < info.items else "")
            self.dataset_info.setText(f"{info.kind}: {splits} items, {visual}, {info.captions} captions{captioned}")
        has_data = bool(self.choices.datasets)
        self.launch_button.setEnabled(has_data and not self._checking)
        self.launch_button.setToolTip("" if has_data else "Import a dataset (or create the demo datasets) first")
        self._update_placeholder()
        self._clear_message()
        self._count_train_items(info)

    def _count_train_items(self, info: DatasetInfo | None) -> None:
        """Count the chosen dataset's captioned train items on a worker, when some of its items may lack a caption
        (every item captioned: nothing to count, nothing to say)."""
        self._train_items = None
        self._update_dataset_notes()
        if info is None:
            return
        if not info.uncaptioned:
            self.dataset_checked.emit(info.name)
            return
        ws, name = self.workspace, info.name
        self._tasks.append(submit(lambda: _read_train_items(ws, name), self._train_items_counted,  # on failure:
                                  lambda _message: self.dataset_checked.emit(name), owner=self))  # launch checks

    def _train_items_counted(self, train: TrainItems) -> None:
        if train.dataset != self.dataset.currentText():
            return  # an answer for a dataset no longer chosen
        self._train_items = train
        self._update_dataset_notes()
        self.dataset_checked.emit(train.dataset)

    def _update_dataset_notes(self, *_: Any) -> None:
        """What the Dataset field says for the values now (the engine's rule on the counted train items)."""
        notes = captions_problems(self.values(), self._train_items)
        if notes != self.dataset_notes:
            self.dataset_notes = notes
            self._mark_fields(self.errors)

    def _update_placeholder(self) -> None:
        self.name.setPlaceholderText(f"automatic: {self.dataset.currentText() or 'dataset'}-"
                                     f"{self.loss.currentText()}-<time>")

    def _toggle_advanced(self, on: bool) -> None:
        self.advanced.setVisible(on)
        self.advanced_toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)

    # ---- values
    def values(self) -> dict[str, Any]:
        steps = self.length_unit.currentText() == "steps"
        return {
            "dataset": self.dataset.currentText().strip(),
            "loss": self.loss.currentText(),
            "model": self.model.currentText().strip(),
            "pretrained": self.start_from.value(),
            **self.lock_values(),
            "max_steps": self.length.value() if steps else None,
            "epochs": None if steps else self.length.value(),
            "batch_size": self.batch.value(),
            "views_per_item": self.views.value(),
            "captions_per_item": self.captions.value(),
            "lr": self.lr.text().strip(),
            "device": self.device.currentText(),
            "seed": self.seed.value(),
            "name": self.name.text().strip(),
            "val_frequency": self.val_every.value(),
            "save_frequency": self.save_every.value(),
            "workers": self.workers.value(),
            "warmup": self.warmup.value(),
        }

    def lock_values(self) -> dict[str, Any]:
        """The tower locks; a lock's options only while it is on (else their defaults)."""
        image, text = self.lock_image.isChecked(), self.lock_text.isChecked()
        chosen = {"lock_image": (True, image),
                  "lock_image_unlocked_groups": (image, self.lock_image_groups.value()),
                  "lock_image_freeze_bn_stats": (image, self.lock_image_bn.isChecked()),
                  "lock_text": (True, text),
                  "lock_text_unlocked_layers": (text, self.lock_text_layers.value()),
                  "lock_text_freeze_layer_norm": (text, self.lock_text_ln.isChecked())}
        default = config_defaults()
        return {key: value if on else default[key] for key, (on, value) in chosen.items()}

    def set_values(self, config: dict[str, Any]) -> None:
        """Fill the form from a run config (``TrainConfig`` field names); unknown keys are ignored."""
        self._set_what(config)
        self._set_locks(config)
        self._set_length(config)
        self._set_numbers(config)
        if config.get("device") in DEVICE_NAMES:
            self.device.setCurrentText(str(config["device"]))
        if "name" in config:
            self.name.setText(str(config.get("name") or ""))

    def _set_what(self, config: dict[str, Any]) -> None:
        """Dataset, loss, model and the weights to start from."""
        if config.get("dataset") and self.dataset.findText(str(config["dataset"])) >= 0:
            self.dataset.setCurrentText(str(config["dataset"]))
        if config.get("loss"):
            self.loss.setCurrentText(str(config["loss"]))
        if config.get("model"):
            self.model.setCurrentText(str(config["model"]))
        if "pretrained" in config:
            self.start_from.set_value(config.get("pretrained"))

    def _set_locks(self, config: dict[str, Any]) -> None:
        for key, box in (("lock_image", self.lock_image), ("lock_image_freeze_bn_stats", self.lock_image_bn),
                         ("lock_text", self.lock_text), ("lock_text_freeze_layer_norm", self.lock_text_ln)):
            if key in config:
                box.setChecked(bool(config[key]))
        for key, spin in (("lock_image_unlocked_groups", self.lock_image_groups),
                          ("lock_text_unlocked_layers", self.lock_text_layers)):
            if key in config:
                spin.setValue(int(config[key] or 0))

    def _set_length(self, config: dict[str, Any]) -> None:
        if config.get("max_steps"):
            self.length_unit.setCurrentText("steps")
            self.length.setValue(int(config["max_steps"]))
        elif config.get("epochs"):
            self.length_unit.setCurrentText("epochs")
            self.length.setValue(int(config["epochs"]))

    def _set_numbers(self, config: dict[str, Any]) -> None:
        for key, box in (("batch_size", self.batch), ("views_per_item", self.views),
                         ("captions_per_item", self.captions), ("seed", self.seed), ("val_frequency", self.val_every),
                         ("save_frequency", self.save_every), ("workers", self.workers), ("warmup", self.warmup)):
            if config.get(key) is not None:
                box.setValue(int(config[key]))
        if config.get("lr") is not None:
            self.lr.setText(f"{float(config['lr']):g}")

    def local_errors(self, values: dict[str, Any]) -> list[Problem]:
        """What is wrong with the values on their own (no catalogue needed); when nothing the form checks is, what
        ``TrainConfig.validate`` says."""
        problems = (form_problems(values, self.choices, self.taken_names()) + self.weights_errors(values)
                    + captions_problems(values, self._train_items))
        return problems or schema_problems(values)

    def weights_errors(self, values: dict[str, Any]) -> list[Problem]:
        """What is wrong with "Start from" on its own (:func:`~app.run_form_checks.weights_problems`)."""
        mode = self.start_from.mode
        return weights_problems(values, from_file=mode == FILE, file=self.start_from.file_path() if mode == FILE
                                else None, from_tag=mode == TAG, tags=self.start_from.tags if mode == TAG else None)

    @staticmethod
    def build_args(values: dict[str, Any]) -> list[str]:
        """``trainer`` arguments for these values (:func:`~app.run_form_checks.launch_args`)."""
        return launch_args(values)

    # ---- launching
    def launch(self) -> None:
        """Check the form (locally, then in a worker); emit ``launchRequested`` when all is well."""
        if self._checking:
            return
        values = self.values()
        errors = self.local_errors(values)
        if errors:
            self._show_errors(errors)
            return
        if not values["name"]:
            values["name"] = default_name(values["dataset"], values["loss"])
        self._checking = True
        self.launch_button.setEnabled(False)
        self.launch_button.setText("Checking…")
        ws = self.workspace
        self._tasks.append(submit(lambda: _check_launch(ws, values), lambda errs: self._checked(values, errs),
                                  lambda msg: self._checked(values, [f"Could not check the run: "
                                                                     f"{msg.splitlines()[0]}"]), owner=self))

    def _checked(self, values: dict[str, Any], errors: list[str]) -> None:
        self._checking = False
        self.launch_button.setEnabled(bool(self.choices.datasets))
        self.launch_button.setText("Launch training")
        if errors:
            self._show_errors(errors)
            return
        self.errors = []
        self.message.setVisible(False)
        self.name.clear()
        self.choices.runs.append(values["name"])
        self.validated.emit([])
        self.launchRequested.emit(LaunchRequest(values["name"], self.build_args(values), values))

    def _show_errors(self, errors: list[str]) -> None:
        self.errors = list(errors)
        items = "".join(f"<li>{html.escape(breakable(e), quote=False)}</li>" for e in errors)
        self.message.setText(f"<b style='color:#c62828'>Not launched:</b>"
                             f"<ul style='margin-left:-20px; color:#c62828'>{items}</ul>")
        self.message.setVisible(True)
        self._mark_fields(self.errors)
        self.validated.emit(list(errors))

    def _clear_message(self, *_: Any) -> None:
        if self.errors and not self._checking:
            self.errors = []
            self.message.setVisible(False)
            self._mark_fields([])

