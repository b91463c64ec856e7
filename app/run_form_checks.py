"""What the new-run form checks, without Qt: its choices, its defaults, its problems and the command line it
launches. :class:`app.widgets.run_form.RunForm` is the widget that shows them.

Checked before launch: first what the values alone can tell (:func:`form_problems`, :func:`weights_problems`:
a dataset chosen, a number where one is needed, a valid name, then ``TrainConfig.validate`` through
:func:`schema_problems`), then, in a worker, what needs the catalogue and the disk (:func:`check_launch`: the
batch fits in the dataset's captioned train items, the name is not taken nor held by a live run,
the weights file holds weights, CUDA is
there when asked for). Each problem is a :class:`Problem`: the message, and the form field it is about.

A dataset with items without captions (a folder imported as it is) is also checked as soon as it is chosen: a
worker counts its captioned train items (:func:`read_train_items`) and :func:`captions_problems` says, with the
engine's own rule and words (``engine.data.items.too_few_captioned``, the line ``trainer train`` refuses with),
when they are fewer than one batch.

It sits beside ``app/widgets`` rather than in it: importing that package loads Qt, this module does not.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from engine.data.items import no_items_message, split_items, too_few_captioned
from engine.losses.names import MXM
from engine.models.names import DEFAULT_MODEL, looks_like_path, model_names, shipped_model_names
from engine.names import default_run_name, name_problem
from engine.run.config import ConfigError, TrainConfig, config_fields
from engine.run.flags import config_to_flags

if TYPE_CHECKING:
    from engine.catalog import Catalog
    from engine.workspace import Workspace

#: The fields a problem can be about (each has a red line under it in the form).
FIELDS = ("dataset", "model", "pretrained", "batch", "lr", "name")
#: A ``TrainConfig`` field -> the form field showing it, where their names differ.
_FORM_FIELD = {"batch_size": "batch"}
#: The form's own first choices, where they differ from ``TrainConfig``'s defaults: the multifold loss, and a
#: length (the schema has none: ``trainer train`` needs --epochs or --max-steps).
FORM_LOSS = MXM
FORM_STEPS = 200
#: The models offered before the full list is read: ours, the default first.
DEFAULT_MODELS = tuple(sorted(shipped_model_names(), key=lambda n: (n != DEFAULT_MODEL, n)))


class Problem(str):
    """A message for the person filling the form, with the form field it is about (``None``: the form as a
    whole). It is the message itself (a ``str``), so lists of problems read as lists of messages."""

    field: str | None

    def __new__(cls, message: str, field: str | None = None) -> Problem:
        problem = super().__new__(cls, message)
        problem.field = field
        return problem


def field_of(message: str) -> str | None:
    """The form field a message is about: a :class:`Problem`'s field; None for any other message."""
    return getattr(message, "field", None)


def config_defaults() -> dict[str, Any]:
    """``TrainConfig``'s default for every field (the form starts from them)."""
    return {f.name: f.default for f in config_fields() if f.default is not dataclasses.MISSING}


def lr_text(value: float) -> str:
    """A learning rate as the form shows it at first: ``0.0005`` -> ``5e-4``."""
    mantissa, exponent = f"{value:e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


# ---- the choices ----------------------------------------------------------------------------------------------
@dataclass
class DatasetInfo:
    name: str
    kind: str
    items: int
    by_split: dict[str, int]
    views: int
    images: int
    captions: int
    captioned_items: int | None = None  # items with at least one caption (None: not known)

    @property
    def uncaptioned(self) -> bool:
        """Some of its items may have no caption (then the form counts its captioned train items)."""
        return self.captioned_items is None or self.captioned_items < self.items


@dataclass(frozen=True)
class TrainItems:
    """A dataset's train split as training sees it: items it can train on (a picture and a caption) and items
    without a caption."""

    dataset: str
    captioned: int
    uncaptioned: int


@dataclass
class FormChoices:
    datasets: list[DatasetInfo] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    last_dataset: str = ""  # the dataset of the latest run: the form's first choice

    def dataset(self, name: str) -> DatasetInfo | None:
        return next((d for d in self.datasets if d.name == name), None)


@dataclass
class LaunchRequest:
    name: str
    args: list[str]
    values: dict[str, Any]


def read_choices(catalog: Catalog) -> FormChoices:
    """Datasets with their counts and the run names in use (models come from :func:`load_models`)."""
    datasets = [
        DatasetInfo(s.name, s.kind, s.items, dict(s.by_split), s.by_modality.get("view", 0),
                    s.by_modality.get("image", 0), s.by_modality.get("text", 0), s.captioned_items)
        for s in catalog.summaries()
    ]
    rows = catalog.runs()
    names = {d.name for d in datasets}
    last = next((str((r.config or {}).get("dataset", "")) for r in reversed(rows)
                 if (r.config or {}).get("dataset") in names), "")
    return FormChoices(datasets, [], [r.name for r in rows], last)


def read_train_items(catalog: Catalog, dataset: str) -> TrainItems:
    """How many of ``dataset``'s train items training can use, and how many lack a caption (a worker's job)."""
    found = split_items(catalog, dataset, "train")
    return TrainItems(dataset, len(found.items), found.uncaptioned)


def captions_problems(values: dict[str, Any], train: TrainItems | None) -> list[Problem]:
    """The engine's refusal (:func:`engine.data.items.too_few_captioned`, the line ``trainer train`` gives) when
    the chosen dataset has fewer captioned train items than one batch, on the Dataset field; [] when it has
    enough, or when ``train`` (counted by a worker) is not the chosen dataset's."""
    if train is None or train.dataset != values["dataset"]:
        return []
    message = too_few_captioned(train.dataset, train.captioned, train.uncaptioned, _batch(values),
                                str(values["model"]), values.get("pretrained"))
    return [Problem(message, "dataset")] if message else []


def _batch(values: dict[str, Any]) -> int:
    """Items per optimiser step: the batch size times the micro-batches accumulated (one process: the app's runs)."""
    return int(values["batch_size"]) * int(values.get("accum_freq") or 1)


def load_models() -> list[str]:
    """Model names, ours first (:func:`engine.models.names.model_names`, read without importing open_clip)."""
    return model_names()


# ---- what the values alone tell -------------------------------------------------------------------------------
def form_problems(values: dict[str, Any], choices: FormChoices, taken_names: Iterable[str] = ()) -> list[Problem]:
    """What is wrong with the values on their own (no catalogue, no disk), but for the weights
    (:func:`weights_problems`) and the schema's checks (:func:`schema_problems`)."""
    problems = []
    if not choices.datasets:
        problems.append(Problem("There is no dataset in this workspace yet: import one on the Datasets page (or run "
                                "`trainer demo-data`), then come back.", "dataset"))
    elif not values["dataset"]:
        problems.append(Problem("Choose a dataset to train on.", "dataset"))
    if not values["model"]:
        problems.append(Problem(f"Choose a model (for a first try: {DEFAULT_MODEL}).", "model"))
    elif choices.models and values["model"] not in choices.models:
        problems.append(Problem(f"Model {values['model']!r} is unknown: pick one from the list "
                                f"(ours: {', '.join(DEFAULT_MODELS)}).", "model"))
    problems += _lr_problems(values["lr"])
    name = values["name"]
    problem = name_problem(name) if name else None
    if problem is not None:
        problems.append(Problem(f"Run name {name!r} is not allowed: {problem}. A run name names a folder: it may "
                                "only hold letters, digits, '.', '_' and '-'.", "name"))
    elif name and name in set(taken_names) | set(choices.runs):
        problems.append(Problem(f"A run named {name!r} already exists: choose another name (or select that run in "
                                "the table and resume it).", "name"))
    info = choices.dataset(values["dataset"])
    train = info.by_split.get("train", 0) if info is not None else 0
    if info is not None and train and values["batch_size"] > train:
        problems.append(Problem(f"Batch size {values['batch_size']} is larger than the {train} train items of "
                                f"{info.name}: use {train} or less.", "batch"))
    return problems


def _lr_problems(text: str) -> list[Problem]:
    try:
        lr = float(text)
    except ValueError:
        return [Problem(f"Learning rate {text!r} is not a number: write it like 5e-4 or 0.0005.", "lr")]
    if not lr > 0 or lr != lr:
        return [Problem("The learning rate must be a positive number, such as 5e-4.", "lr")]
    if lr >= 1:
        return [Problem(f"A learning rate of {lr:g} would make training diverge: use something like 5e-4.", "lr")]
    return []


class KnownTags(Protocol):
    """The pretrained tags known so far (``app.widgets.weights_picker.ModelTags``)."""

    def knows(self, model: str) -> bool: ...

    def of(self, model: str) -> tuple[str, ...]: ...


def weights_problems(values: dict[str, Any], *, from_file: bool, file: Path | None, from_tag: bool,
                     tags: KnownTags | None) -> list[Problem]:
    """What is wrong with "Start from" on its own: a file that is not there (one stat), a tag the model lacks
    (once the tags are read: ``tags``), a lock with nothing pretrained to keep."""
    problems = []
    pretrained, model = values.get("pretrained"), values["model"]
    if from_file:
        if file is None:
            problems.append(Problem("Choose the weights file to start from (or start from random initialisation).",
                                    "pretrained"))
        elif not file.exists():
            problems.append(Problem(f"Weights file {file} does not exist: choose an existing file.", "pretrained"))
        elif not file.is_file():
            problems.append(Problem(f"Weights file {file} is a folder: choose the file itself.", "pretrained"))
    elif from_tag:
        if not pretrained:
            problems.append(Problem("Choose a pretrained tag of the model (or start from random initialisation).",
                                    "pretrained"))
        elif tags is not None and tags.knows(model) and pretrained not in tags.of(model) \
                and not pretrained.startswith("hf-hub:"):
            known = tags.of(model)
            problems.append(Problem(f"Pretrained tag {pretrained!r} is not one of {model}'s (its tags: "
                                    f"{', '.join(known)})." if known else f"{model} has no pretrained tags: start "
                                    "from random initialisation or from a weights file.", "pretrained"))
    if not pretrained and (values.get("lock_image") or values.get("lock_text")):
        problems.append(Problem("A locked tower keeps the weights it starts from: choose pretrained weights under "
                                "Start from, or clear the lock.", "pretrained"))
    return problems


def run_config(values: dict[str, Any]) -> dict[str, Any]:
    """The ``TrainConfig`` fields among the form's values (the name left out), the learning rate a number."""
    known = {f.name for f in config_fields()}
    config = {k: v for k, v in values.items() if k in known and k != "name"}
    config["lr"] = float(config["lr"])
    return config


def schema_problems(values: dict[str, Any]) -> list[Problem]:
    """What ``TrainConfig.validate`` says against these values (the first problem it finds), on the form field
    of the option it names; [] when the schema accepts them."""
    try:
        TrainConfig(**run_config(values), name=values.get("name") or None).validate()
    except ConfigError as exc:
        where = _FORM_FIELD.get(exc.field or "", exc.field)
        return [Problem(str(exc), where if where in FIELDS else None)]
    return []


def default_name(dataset: str, loss: str) -> str:
    """The name of a run launched with the name left empty."""
    return default_run_name(dataset, loss)


def launch_args(values: dict[str, Any]) -> list[str]:
    """``trainer`` arguments for these values (``train ...``; the run's events go to its events.jsonl), built
    from the config schema like every other ``trainer train`` command line."""
    return ["train", *config_to_flags(run_config(values)), "--name", values["name"]]


# ---- what the catalogue and the disk tell (a worker's job) ----------------------------------------------------
def check_launch(catalog: Catalog, workspace: Workspace, values: dict[str, Any]) -> list[Problem]:
    """What the catalogue, the weights on disk and the machine say against these values: [] when the run can
    start."""
    from engine.locks import holder, in_use
    from engine.run.folder import RunFolder

    problems: list[Problem] = []
    dataset = values["dataset"]
    if catalog.dataset(dataset) is None:
        problems.append(Problem(f"Dataset {dataset!r} is not in the catalogue any more: pick another one.",
                                "dataset"))
    else:
        found = split_items(catalog, dataset, "train")
        refused = captions_problems(values, TrainItems(dataset, len(found.items), found.uncaptioned))
        if refused:
            problems += refused
        elif not found.items:
            problems.append(Problem(f"{dataset} cannot be trained on: {no_items_message(dataset, 'train', found)}.",
                                    "dataset"))
        elif (batch := int(values["batch_size"])) > len(found.items):
            problems.append(Problem(f"Batch size {batch} is larger than the {len(found.items)} train items of "
                                    f"{dataset}: use {len(found.items)} or less.", "batch"))
    name = values.get("name") or ""
    if name and (found := holder(RunFolder.of(workspace, name).lock)) is not None:  # a live run writes it
        problems.append(Problem(f"{in_use(f'run {name!r}', found)}.", "name"))
    elif name and catalog.run(name) is not None:
        problems.append(Problem(f"A run named {name!r} already exists: choose another name (or select that run in "
                                "the table and resume it).", "name"))
    elif name and (folder := RunFolder.of(workspace, name)).checkpoints.exists():
        problems.append(Problem(f"The folder {folder.path} already holds checkpoints: choose another name.", "name"))
    problems += check_pretrained(values)
    if values.get("device") == "cuda":
        from engine.run.device import cuda_available

        if not cuda_available():
            problems.append(Problem("CUDA is not available on this machine: choose device auto or cpu."))
    return problems


def check_pretrained(values: dict[str, Any]) -> list[Problem]:
    """What is wrong with the weights a run starts from, looking at the disk: a tag must be in the local
    HuggingFace cache (runs the app starts are offline); a file must hold a state dict."""
    pretrained, model = values.get("pretrained"), str(values.get("model") or "")
    if not pretrained or pretrained.startswith("hf-hub:"):
        return []
    from engine.models.pretrained import PretrainedError, hub_cache_dir, read_weights, state_dict_of, tag_cached

    if not looks_like_path(pretrained):
        if tag_cached(model, pretrained):
            return []
        return [Problem(f"Pretrained tag {pretrained!r} of {model} is not in the local HuggingFace cache "
                        f"({hub_cache_dir()}) and runs started here do not download: fetch it there first (any "
                        "open_clip download does), or choose a weights file.", "pretrained")]
    try:
        state_dict_of(read_weights(pretrained), pretrained)
    except PretrainedError as exc:
        return [Problem(f"Weights file {exc}", "pretrained")]
    return []
