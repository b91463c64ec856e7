"""The new-run form: dataset, loss, model, the weights it starts from, length, batch, views, captions, learning rate,
device, seed, name; under Advanced, validation and checkpoint frequency, loader workers, warmup, and open_clip's
tower locks.

Checked before launch: first what the form alone can tell (a dataset chosen, a number where one is
needed, a valid name), then, in a worker, what needs the catalogue (the batch fits in the dataset's train
items, the name is not taken, CUDA is there when asked for). Every problem is listed in plain words
under the Launch button; only a clean form emits ``launchRequested``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.runs import open_catalog
from app.tasks import submit
from app.widgets.weights_picker import FILE, TAG, WeightsPicker
from engine.models.names import DEFAULT_MODEL, looks_like_path, model_names, shipped_model_names
from engine.run.config import config_fields
from engine.run.flags import config_to_flags
from engine.workspace import Workspace

LOSSES = (
    ("clip", "CLIP: one view and one caption per item (InfoNCE)"),
    ("mxm", "MXM-CLR: every view against every caption of a batch (multifold)"),
    ("gcl", "GCL: adds fused view+caption embeddings as keys"),
    ("sspc", "SSPC: semi-supervised prototypes with the Multi-SK solver"),
)
DEVICES = ("auto", "cpu", "cuda")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
#: The tower-lock fields (``TrainConfig``'s, open_clip's flags), each with its default.
LOCK_FIELDS = {"lock_image": False, "lock_image_unlocked_groups": 0, "lock_image_freeze_bn_stats": False,
               "lock_text": False, "lock_text_unlocked_layers": 0, "lock_text_freeze_layer_norm": False}
#: The models offered before the full list is read: ours, the default first.
DEFAULT_MODELS = tuple(sorted(shipped_model_names(), key=lambda n: (n != DEFAULT_MODEL, n)))


@dataclass
class DatasetInfo:
    name: str
    kind: str
    items: int
    by_split: dict[str, int]
    views: int
    images: int
    captions: int


@dataclass
class FormChoices:
    datasets: list[DatasetInfo] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    last_dataset: str = ""  # the dataset of the latest run: the form's first choice


@dataclass
class LaunchRequest:
    name: str
    args: list[str]
    values: dict[str, Any]


def load_choices(workspace: Workspace) -> FormChoices:
    """Datasets with their counts and the run names in use (a worker's job; models come from load_models)."""
    catalog = open_catalog(workspace)
    try:
        datasets = [
            DatasetInfo(s.name, s.kind, s.items, dict(s.by_split), s.by_modality.get("view", 0),
                        s.by_modality.get("image", 0), s.by_modality.get("text", 0))
            for s in catalog.summaries()
        ]
        rows = catalog.runs()
        names = {d.name for d in datasets}
        last = next((str((r.config or {}).get("dataset", "")) for r in reversed(rows)
                     if (r.config or {}).get("dataset") in names), "")
    finally:
        catalog.close()
    return FormChoices(datasets, [], [r.name for r in rows], last)


def load_models() -> list[str]:
    """Model names, ours first (:func:`engine.models.names.model_names`, read without importing open_clip)."""
    return model_names()


def check_launch(workspace: Workspace, values: dict[str, Any]) -> list[str]:
    """What the catalogue says against these values: messages, [] when the run can start (a worker's job)."""
    from engine.data.multifold import EmptySplitError, load_items

    errors: list[str] = []
    catalog = open_catalog(workspace)
    try:
        dataset = values["dataset"]
        if catalog.dataset(dataset) is None:
            errors.append(f"Dataset {dataset!r} is not in the catalogue any more: pick another one.")
        else:
            try:
                _, items = load_items(catalog, dataset, "train")
            except EmptySplitError as exc:
                errors.append(f"{dataset} cannot be trained on: {exc}.")
            else:
                batch = int(values["batch_size"])
                if batch > len(items):
                    errors.append(f"Batch size {batch} is larger than the {len(items)} train items of {dataset}: "
                                  f"use {len(items)} or less.")
        name = values.get("name") or ""
        if name and catalog.run(name) is not None:
            errors.append(f"A run named {name!r} already exists: choose another name (or select that run in "
                          "the table and resume it).")
        elif name and (workspace.runs / name / "checkpoints").exists():
            errors.append(f"The folder {workspace.runs / name} already holds checkpoints: choose another name.")
    finally:
        catalog.close()
    errors += check_pretrained(values)
    if values.get("device") == "cuda":
        from engine.run.device import cuda_available

        if not cuda_available():
            errors.append("CUDA is not available on this machine: choose device auto or cpu.")
    return errors


def check_pretrained(values: dict[str, Any]) -> list[str]:
    """What is wrong with the weights a run starts from, looking at the disk (a worker's job): a tag must be in the
    local HuggingFace cache (runs the app starts are offline); a file must hold a state dict."""
    pretrained, model = values.get("pretrained"), str(values.get("model") or "")
    if not pretrained or pretrained.startswith("hf-hub:"):
        return []
    from engine.models.pretrained import PretrainedError, hub_cache_dir, read_weights, state_dict_of, tag_cached

    if not looks_like_path(pretrained):
        if tag_cached(model, pretrained):
            return []
        return [f"Pretrained tag {pretrained!r} of {model} is not in the local HuggingFace cache ({hub_cache_dir()}) "
                "and runs started here do not download: fetch it there first (any open_clip download does), or "
                "choose a weights file."]
    try:
        state_dict_of(read_weights(pretrained), pretrained)
    except PretrainedError as exc:
        return [f"Weights file {exc}"]
    return []


def default_name(dataset: str, loss: str) -> str:
    return f"{dataset or 'run'}-{loss}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"


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
    empty when the launch went ahead), ``loaded(int)`` (datasets listed)."""

    launchRequested = Signal(object)
    validated = Signal(list)
    loaded = Signal(int)

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
        """The form's fields, each with its default and tooltip."""
        self.dataset = QComboBox()
        self.dataset.setToolTip("The catalogue dataset to train on (its train split; val for checkpoints)")
        self.dataset.currentIndexChanged.connect(self._dataset_changed)
        self.dataset_info = QLabel("")
        self.dataset_info.setWordWrap(True)
        self.dataset_info.setStyleSheet("color: palette(mid);")
        self.loss = QComboBox()
        for name, tip in LOSSES:
            self.loss.addItem(name)
            self.loss.setItemData(self.loss.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.loss.setCurrentText("mxm")
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.addItems(DEFAULT_MODELS)
        self.model.setToolTip("An open_clip model name or one of our small configs (cf-…)")
        self.start_from = WeightsPicker(allow_random=True)
        self.start_from.setToolTip("The weights training starts from: random, an open_clip pretrained tag of the "
                                   "model, or a weights file (--pretrained)")
        self.start_from.set_model(self.model.currentText())
        self.model.currentTextChanged.connect(self.start_from.set_model)
        self.length = _spin(1, 10_000_000, 200, "How long to train")
        self.length_unit = QComboBox()
        self.length_unit.addItems(["steps", "epochs"])
        self.batch = _spin(1, 1_000_000, 32, "Items per batch (per process)")
        self.views = _spin(1, 256, 2, "Views (or images) sampled per item in a batch")
        self.captions = _spin(1, 256, 2, "Captions sampled per item in a batch")
        self.lr = QLineEdit("5e-4")
        self.lr.setToolTip("Peak learning rate (AdamW, warmup then cosine)")
        self.device = QComboBox()
        self.device.addItems(DEVICES)
        self.seed = _spin(0, 2**31 - 1, 0, "Random seed (batches, views and captions, initialisation)")
        self.name = QLineEdit()
        self.name.setPlaceholderText("automatic: dataset-loss-time")
        self.name.setToolTip("Run name: letters, digits, '.', '_' and '-'")
        self.val_every = _spin(1, 10_000_000, 100, "Evaluate on the val split every N steps (and at the end)")
        self.save_every = _spin(1, 10_000_000, 100, "Write a checkpoint every N steps (and at the end)")
        self.workers = _spin(0, 64, 2, "Data loader processes (0: load in the training process)")
        self.warmup = _spin(0, 10_000_000, 20, "Learning-rate warmup steps")
        self._build_lock_fields()

    def _build_lock_fields(self) -> None:
        """open_clip's tower locks (its flag names in the tooltips); a lock's options only when it is on."""
        self.lock_image = QCheckBox("Lock")
        self.lock_image.setToolTip("--lock-image: the image tower is not trained (keeps the weights it starts from)")
        self.lock_image_groups = _spin(0, 1000, 0, "--lock-image-unlocked-groups: leave the last N layer groups of "
                                       "the locked image tower trainable")
        self.lock_image_groups.setPrefix("unlocked groups: ")
        self.lock_image_bn = QCheckBox("freeze BatchNorm stats")
        self.lock_image_bn.setToolTip("--lock-image-freeze-bn-stats: freeze the BatchNorm running statistics of "
                                      "the locked image tower")
        self.lock_text = QCheckBox("Lock")
        self.lock_text.setToolTip("--lock-text: the text tower is not trained (keeps the weights it starts from)")
        self.lock_text_layers = _spin(0, 1000, 0, "--lock-text-unlocked-layers: leave the last N layers of the "
                                      "locked text tower trainable")
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
            row = QHBoxLayout()
            row.setContentsMargins(0, 0, 0, 0)
            row.addWidget(lock)
            row.addWidget(sub)
            row.addWidget(check)
            row.addStretch(1)
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

    #: which field a message is about (the first pattern found in it, lower case)
    FIELD_WORDS = (("weights", "pretrained"), ("pretrained tag", "pretrained"), ("learning rate", "lr"),
                   ("batch size", "batch"), ("run name", "name"), ("run named", "name"),
                   ("model", "model"), ("dataset", "dataset"))

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

    def field_of(self, message: str) -> str | None:
        low = message.lower()
        return next((key for word, key in self.FIELD_WORDS if word in low), None)

    def _mark_fields(self, errors: list[str]) -> None:
        """Each message beside its field, the field outlined in red; a field without a message unmarked."""
        by_field: dict[str, list[str]] = {}
        for e in errors:
            key = self.field_of(e)
            if key is not None:
                by_field.setdefault(key, []).append(e)
        for key, label in self.field_errors.items():
            messages = by_field.get(key, [])
            label.setText(" ".join(messages))
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
        self._tasks.append(submit(lambda: load_choices(ws), self._loaded, self._load_failed))
        if not self._models:
            self._tasks.append(submit(load_models, self._models_loaded))

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
        name = self.dataset.currentText()
        return next((d for d in self.choices.datasets if d.name == name), None)

    def _dataset_changed(self) -> None:
        info = self._dataset_info()
        if info is None:
            self.dataset_info.setText("No datasets yet: import one on the Datasets page or run "
                                      "<code>trainer demo-data</code>." if not self.choices.datasets else "")
        else:
            splits = " / ".join(f"{info.by_split.get(s, 0)} {s}" for s in ("train", "val", "test"))
            visual = f"{info.views} views" if info.kind == "shape-text" else f"{info.images} images"
            self.dataset_info.setText(f"{info.kind}: {splits} items, {visual}, {info.captions} captions")
        has_data = bool(self.choices.datasets)
        self.launch_button.setEnabled(has_data and not self._checking)
        self.launch_button.setToolTip("" if has_data else "Import a dataset (or create the demo datasets) first")
        self._update_placeholder()
        self._clear_message()

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
        return {"lock_image": image, "lock_image_unlocked_groups": self.lock_image_groups.value() if image else 0,
                "lock_image_freeze_bn_stats": image and self.lock_image_bn.isChecked(),
                "lock_text": text, "lock_text_unlocked_layers": self.lock_text_layers.value() if text else 0,
                "lock_text_freeze_layer_norm": text and self.lock_text_ln.isChecked()}

    def set_values(self, config: dict[str, Any]) -> None:
        """Fill the form from a run config (``TrainConfig`` field names); unknown keys are ignored."""
        if config.get("dataset") and self.dataset.findText(str(config["dataset"])) >= 0:
            self.dataset.setCurrentText(str(config["dataset"]))
        if config.get("loss"):
            self.loss.setCurrentText(str(config["loss"]))
        if config.get("model"):
            self.model.setCurrentText(str(config["model"]))
        if "pretrained" in config:
            self.start_from.set_value(config.get("pretrained"))
        for key, box in (("lock_image", self.lock_image), ("lock_image_freeze_bn_stats", self.lock_image_bn),
                         ("lock_text", self.lock_text), ("lock_text_freeze_layer_norm", self.lock_text_ln)):
            if key in config:
                box.setChecked(bool(config[key]))
        for key, spin in (("lock_image_unlocked_groups", self.lock_image_groups),
                          ("lock_text_unlocked_layers", self.lock_text_layers)):
            if key in config:
                spin.setValue(int(config[key] or 0))
        if config.get("max_steps"):
            self.length_unit.setCurrentText("steps")
            self.length.setValue(int(config["max_steps"]))
        elif config.get("epochs"):
            self.length_unit.setCurrentText("epochs")
            self.length.setValue(int(config["epochs"]))
        for key, box in (("batch_size", self.batch), ("views_per_item", self.views),
                         ("captions_per_item", self.captions), ("seed", self.seed), ("val_frequency", self.val_every),
                         ("save_frequency", self.save_every), ("workers", self.workers), ("warmup", self.warmup)):
            if config.get(key) is not None:
                box.setValue(int(config[key]))
        if config.get("lr") is not None:
            self.lr.setText(f"{float(config['lr']):g}")
        if config.get("device") in DEVICES:
            self.device.setCurrentText(str(config["device"]))
        if "name" in config:
            self.name.setText(str(config.get("name") or ""))

    def local_errors(self, values: dict[str, Any]) -> list[str]:
        """What is wrong with the values on their own (no catalogue needed)."""
        errors = []
        if not self.choices.datasets:
            errors.append("There is no dataset in this workspace yet: import one on the Datasets page (or run "
                          "`trainer demo-data`), then come back.")
        elif not values["dataset"]:
            errors.append("Choose a dataset to train on.")
        if not values["model"]:
            errors.append(f"Choose a model (for a first try: {DEFAULT_MODEL}).")
        elif self.choices.models and values["model"] not in self.choices.models:
            errors.append(f"Model {values['model']!r} is unknown: pick one from the list "
                          f"(ours: {', '.join(DEFAULT_MODELS)}).")
        errors += self.weights_errors(values)
        try:
            lr = float(values["lr"])
        except ValueError:
            errors.append(f"Learning rate {values['lr']!r} is not a number: write it like 5e-4 or 0.0005.")
        else:
            if not lr > 0 or lr != lr:
                errors.append("The learning rate must be a positive number, such as 5e-4.")
            elif lr >= 1:
                errors.append(f"A learning rate of {lr:g} would make training diverge: use something like 5e-4.")
        name = values["name"]
        if name and not NAME_RE.match(name):
            errors.append("A run name may only hold letters, digits, '.', '_' and '-' (it names a folder), "
                          "and starts with a letter or digit.")
        elif name and name in set(self.taken_names()) | set(self.choices.runs):
            errors.append(f"A run named {name!r} already exists: choose another name (or select that run in the "
                          "table and resume it).")
        info = self._dataset_info()
        if info is not None and info.by_split.get("train", 0) and values["batch_size"] > info.by_split["train"]:
            errors.append(f"Batch size {values['batch_size']} is larger than the {info.by_split['train']} train "
                          f"items of {info.name}: use {info.by_split['train']} or less.")
        return errors

    def weights_errors(self, values: dict[str, Any]) -> list[str]:
        """What is wrong with "Start from" on its own: a file that is not there (one stat), a tag the model lacks
        (once the tags are read), a lock with nothing pretrained to keep."""
        errors = []
        pretrained, mode, model = values.get("pretrained"), self.start_from.mode, values["model"]
        if mode == FILE:
            path = self.start_from.file_path()
            if path is None:
                errors.append("Choose the weights file to start from (or start from random initialisation).")
            elif not path.exists():
                errors.append(f"Weights file {path} does not exist: choose an existing file.")
            elif not path.is_file():
                errors.append(f"Weights file {path} is a folder: choose the file itself.")
        elif mode == TAG:
            tags = self.start_from.tags
            if not pretrained:
                errors.append("Choose a pretrained tag of the model (or start from random initialisation).")
            elif tags is not None and tags.knows(model) and pretrained not in tags.of(model) \
                    and not pretrained.startswith("hf-hub:"):
                known = tags.of(model)
                errors.append(f"Pretrained tag {pretrained!r} is not one of {model}'s (its tags: {', '.join(known)})."
                              if known else f"{model} has no pretrained tags: start from random initialisation or "
                              "from a weights file.")
        if not pretrained and (values.get("lock_image") or values.get("lock_text")):
            errors.append("A locked tower keeps the weights it starts from: choose pretrained weights under Start "
                          "from, or clear the lock.")
        return errors

    @staticmethod
    def build_args(values: dict[str, Any]) -> list[str]:
        """``trainer`` arguments for these values (``train ...``; the run's events go to its events.jsonl), built
        from the config schema like every other ``trainer train`` command line."""
        known = {f.name for f in config_fields()}
        config = {k: v for k, v in values.items() if k in known and k != "name"}
        config["lr"] = float(config["lr"])
        return ["train", *config_to_flags(config), "--name", values["name"]]

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
        self._tasks.append(submit(lambda: check_launch(ws, values), lambda errs: self._checked(values, errs),
                                  lambda msg: self._checked(values, [f"Could not check the run: "
                                                                     f"{msg.splitlines()[0]}"])))

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
        items = "".join(f"<li>{_escape(e)}</li>" for e in errors)
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


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
