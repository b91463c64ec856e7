"""The resolved configuration of a training run: defaults < config file < command-line flags.

:class:`TrainConfig` is the one schema of a run's options. Each field carries its help text and CLI details in
its metadata (:func:`option`); the ``trainer train`` flags, the YAML keys of ``--config`` files and of the saved
``config.yaml``, and the flags the app builds all come from these fields (:mod:`engine.run.flags`).
Field names follow open_clip's flags (``batch_size``, ``lr``, ``wd``, ``warmup``, ``precision``, ``workers``,
``save_frequency``, ``val_frequency``, ``local_loss``, ``gather_with_grad``, ``accum_freq``,
``grad_checkpointing``, ``grad_clip_norm``, ``torchcompile``, ...).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.atomic import write_atomic
from engine.errors import CrossfoldError
from engine.losses.names import CLIP, LOSS_NAMES, SSPC
from engine.models.names import DEFAULT_MODEL, PRECISIONS
from engine.names import InvalidName, check_name

POOLING_NAMES = ("mean", "attention")
DEVICE_NAMES = ("auto", "cpu", "cuda")
STORE_CHOICES = ("auto", "packed", "files")  # engine.data.packed.STORE_CHOICES
REPORT_TO = ("none", "tensorboard", "all")  # open_clip's --report-to (W&B may come later)


class ConfigError(CrossfoldError):
    """A run's options that cannot work; ``field``: the :class:`TrainConfig` field at fault, when one is."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class _ExplicitNone:
    """A flag given as ``none`` (``--grad-clip-norm none``): unlike a flag not given, it sets the field to None."""

    def __repr__(self) -> str:
        return "EXPLICIT_NONE"


EXPLICIT_NONE: Any = _ExplicitNone()


@dataclass(frozen=True)
class Range:
    """The values a number may take: from ``lo`` to ``hi``, each end included unless ``*_open`` (NaN never)."""

    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False

    def problem(self, value: float) -> str | None:
        """What is wrong with ``value`` (``"must be at least 1, not 0"``), or None when it is in range."""
        shown, lo, hi = _shown(value), _shown(self.lo), _shown(self.hi)
        if isinstance(value, float) and not math.isfinite(value):
            return f"must be a finite number, not {shown}"
        if self.lo_open and value <= self.lo:
            return f"must be {'positive' if self.lo == 0 else f'greater than {lo}'}, not {shown}"
        if value < self.lo:
            return f"must be {'0 or more' if self.lo == 0 else f'at least {lo}'}, not {shown}"
        if self.hi_open and value >= self.hi:
            return f"must be below {hi}, not {shown}"
        if value > self.hi:
            return f"must be at most {hi}, not {shown}"
        return None


def _shown(value: float) -> str:
    """A bound or a value as a person writes it: whole numbers in full, others briefly."""
    if isinstance(value, int) or (math.isfinite(value) and value == int(value) and abs(value) < 2**63):
        return str(int(value))
    return f"{value:g}"


POSITIVE = Range(0, math.inf, lo_open=True, hi_open=True)
NON_NEGATIVE = Range(0, math.inf, hi_open=True)
STEPS = Range(1, 10**9)  # steps, and every "every N steps"
SEEDS = Range(0, 2**32 - 1)  # what every generator a run seeds (numpy, torch, random) takes
LAYERS = Range(0, 10_000)


def option(default: Any = None, help: str = "", *, choices: tuple[str, ...] | None = None,
           metavar: str | None = None, exclusive: str | None = None, factory: Any = None,
           bounds: Range | None = None) -> Any:
    """A :class:`TrainConfig` field with what the CLI needs to offer it as a flag.

    ``exclusive``: fields sharing this group name are mutually exclusive flags (``--epochs`` / ``--max-steps``).
    ``factory``: a default factory (for mutable defaults) instead of ``default``.
    ``bounds``: the range of a number (every number has one), checked by :meth:`TrainConfig.validate` and by the
    CLI as it parses the flag (:mod:`engine.run.flags`).
    """
    metadata = {"help": help, "choices": choices, "metavar": metavar, "exclusive": exclusive, "range": bounds}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class TrainConfig:
    dataset: str = option("", "dataset name in the catalogue")
    loss: str = option(CLIP, "training objective", choices=LOSS_NAMES)
    model: str = option(DEFAULT_MODEL, "open_clip model name or a shipped config (cf-rn-tiny-64, cf-vit-tiny-64, ...)")
    pretrained: str | None = option(None, "weights to start from: an open_clip tag of --model (laion2b_s34b_b79k, "
                                    "openai), hf-hub:org/repo, or a weights file", metavar="TAG|FILE")
    lock_image: bool = option(False, "lock the image tower (open_clip's --lock-image)")
    lock_image_unlocked_groups: int = option(0, "leave the last N layer groups of the locked image tower unlocked",
                                             bounds=LAYERS)
    lock_image_freeze_bn_stats: bool = option(False, "freeze BatchNorm running statistics of the locked image tower")
    lock_text: bool = option(False, "lock the text tower (open_clip's --lock-text)")
    lock_text_unlocked_layers: int = option(0, "leave the last N layers of the locked text tower unlocked",
                                            bounds=LAYERS)
    lock_text_freeze_layer_norm: bool = option(False, "freeze LayerNorm of the locked text tower's unlocked layers "
                                               "(HF text towers; open_clip's own text tower always locks them)")
    pooling: str = option("mean", "view pooling for shapes", choices=POOLING_NAMES)
    epochs: int | None = option(None, "passes over the train split", exclusive="length", bounds=Range(1, 1_000_000))
    max_steps: int | None = option(None, "optimizer steps", exclusive="length", bounds=STEPS)
    batch_size: int = option(32, "items per batch per process", bounds=Range(1, 1_000_000))
    views_per_item: int = option(2, "views (images) of an item in a batch", bounds=Range(1, 1000))
    captions_per_item: int = option(2, "captions of an item in a batch", bounds=Range(1, 1000))
    lr: float = option(5e-4, "peak learning rate", bounds=POSITIVE)
    wd: float = option(0.1, "weight decay", bounds=NON_NEGATIVE)
    beta1: float = option(0.9, "Adam beta1", bounds=Range(0, 1, hi_open=True))
    beta2: float = option(0.98, "Adam beta2", bounds=Range(0, 1, hi_open=True))
    eps: float = option(1e-6, "Adam epsilon", bounds=POSITIVE)
    warmup: int = option(20, "warmup steps", bounds=Range(0, 10**9))
    grad_clip_norm: float | None = option(1.0, "clip the gradient norm (0 or 'none': no clipping)",
                                           bounds=NON_NEGATIVE)
    precision: str = option("amp_bf16", "open_clip precision", choices=PRECISIONS)
    workers: int = option(2, "data loader processes decoding image files (at most: fewer when this job's share of "
                                 "the cores is smaller; the packed store needs none)", bounds=Range(0, 1024))
    seed: int = option(0, "random seed", bounds=SEEDS)
    deterministic: bool = option(False, "the same command gives the same bits: fixed threads for the whole run, "
                                        "torch's deterministic algorithms (README: Repeatable runs)")
    threads: int | None = option(None, "torch intra-op threads for the whole run (default: this job's share of the "
                                       "cores, which other jobs change; with --deterministic, every core)",
                                 bounds=Range(1, 4096))
    report_to: str = option("none", "also report scalars to TensorBoard (runs/NAME/tensorboard; open_clip's "
                                    "--report-to; 'all': every one Crossfold has)", choices=REPORT_TO)
    name: str | None = option(None, "run name (default: DATASET-LOSS-TIME)")
    resume: str | None = option(None, "continue a run from its latest checkpoint or a file", metavar="latest|PATH")
    save_frequency: int = option(100, "checkpoint every N steps", bounds=STEPS)
    val_frequency: int = option(100, "evaluate on the validation split every N steps", bounds=STEPS)
    local_loss: bool = option(False, "open_clip's local loss (not supported yet)")
    gather_with_grad: bool = option(False, "all-gather features with gradients (DDP)")
    accum_freq: int = option(1, "accumulate gradients over N micro-batches", bounds=Range(1, 10_000))
    grad_checkpointing: bool = option(False, "gradient checkpointing (less memory, more compute)")
    torchcompile: bool = option(False, "torch.compile the model")
    channels_last: bool = option(False, "channels-last memory layout for the model and images (convolutional "
                                        "towers on CUDA)")
    store: str = option("auto", "where pixels come from: the packed store of decoded views ('auto': when packed and "
                                "up to date; 'packed': pack first if needed) or the image files",
                        choices=STORE_CHOICES)
    device: str = option("auto", "auto | cpu | cuda | cuda:N")
    val_split: str = option("val", "split evaluated during training")
    loss_options: dict[str, Any] = option(help='loss options as JSON, e.g. \'{"soft_weight": 0.5}\'',
                                          metavar="JSON", factory=dict)

    def validate(self) -> TrainConfig:
        """``self`` when every option is valid; else :class:`ConfigError` for the first problem found, its
        ``field`` naming the option at fault."""
        self._check_choices()
        self._check_numbers()
        self._check_combinations()
        self._check_device_name_and_loss_options()
        return self

    def _check_choices(self) -> None:
        if not self.dataset:
            raise ConfigError("--dataset is required", field="dataset")
        if self.loss not in LOSS_NAMES:
            raise ConfigError(f"--loss must be one of {', '.join(LOSS_NAMES)}, not {self.loss!r}", field="loss")
        for name, choices in (("precision", PRECISIONS), ("pooling", POOLING_NAMES), ("store", STORE_CHOICES),
                              ("report_to", REPORT_TO)):
            if getattr(self, name) not in choices:
                raise ConfigError(f"--{name} must be one of {', '.join(choices)}, not {getattr(self, name)!r}",
                                  field=name)

    def _check_numbers(self) -> None:
        if self.epochs is None and self.max_steps is None:
            raise ConfigError("give --epochs or --max-steps", field="max_steps")
        for f in config_fields():
            value, bounds = getattr(self, f.name), f.metadata.get("range")
            problem = bounds.problem(value) if bounds is not None and value is not None else None
            if problem is not None:
                raise ConfigError(f"--{_flag(f.name)} {problem}", field=f.name)

    def _check_combinations(self) -> None:
        if self.accum_freq > 1 and self.loss == SSPC:
            raise ConfigError("--accum-freq > 1 does not work with --loss sspc (its feature queue would see each "
                              "micro-batch several times); raise --batch-size instead", field="accum_freq")
        for lock, sub in (("lock_image", "lock_image_unlocked_groups"), ("lock_image", "lock_image_freeze_bn_stats"),
                          ("lock_text", "lock_text_unlocked_layers"), ("lock_text", "lock_text_freeze_layer_norm")):
            if getattr(self, sub) and not getattr(self, lock):
                raise ConfigError(f"--{_flag(sub)} needs --{_flag(lock)}", field=sub)
        if self.local_loss:
            raise ConfigError("--local-loss is not supported yet: every process computes the loss of the whole "
                              "global batch, since an item's positives may sit on other processes", field="local_loss")

    def _check_device_name_and_loss_options(self) -> None:
        if self.device not in DEVICE_NAMES and not self.device.startswith("cuda:"):
            raise ConfigError(f"--device must be auto, cpu or cuda, not {self.device!r}", field="device")
        if self.name is not None:
            try:
                check_name("run", self.name)
            except InvalidName as exc:
                raise ConfigError(str(exc), field="name") from None
        if not isinstance(self.loss_options, dict):
            raise ConfigError("--loss-options must be a JSON object, e.g. '{\"soft_weight\": 0.5}'",
                              field="loss_options")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _flag(name: str) -> str:
    return name.replace("_", "-")


def config_fields() -> tuple[dataclasses.Field[Any], ...]:
    """The fields of :class:`TrainConfig`, in order: one per option, flag and YAML key."""
    return dataclasses.fields(TrainConfig)


def load_config_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a folder, not a config file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a YAML config file (not UTF-8 text)") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot be read ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError(f"{p}: not valid YAML{at}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping of option: value")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def resolve_config(file_values: dict[str, Any], flag_values: dict[str, Any], validate: bool = True) -> TrainConfig:
    """Defaults, then the file, then every flag the user actually gave (not None); checked unless ``validate`` is
    false."""
    known = {f.name for f in config_fields()}
    merged: dict[str, Any] = {}
    for source, values in (("config file", file_values), ("flags", flag_values)):
        for key, value in values.items():
            if key not in known:
                raise ConfigError(f"unknown option {key!r} in {source}")
            if value is EXPLICIT_NONE or (value is None and source == "config file"):
                merged[key] = None  # a file's `key: null` and a flag's `none` mean None; an absent flag, nothing
            elif value is not None:
                merged[key] = value
    if merged.get("loss_options", {}) is None:
        merged["loss_options"] = {}
    if "loss_options" in file_values and "loss_options" in flag_values:
        merged["loss_options"] = {**(file_values["loss_options"] or {}), **(flag_values["loss_options"] or {})}
    try:
        config = TrainConfig(**merged)
    except TypeError as exc:
        raise ConfigError(f"bad options: {exc}") from None
    _check_types(config)
    return config.validate() if validate else config


def _check_types(config: TrainConfig) -> None:
    """A config file's values have the fields' types (YAML may give a string where a number is meant)."""
    for f in config_fields():
        value = getattr(config, f.name)
        if value is None:
            continue
        want = str(f.type)
        if want.startswith("int") and (isinstance(value, bool) or not isinstance(value, int)):
            if isinstance(value, float) and value.is_integer():
                setattr(config, f.name, int(value))
                continue
            raise ConfigError(f"{f.name} must be a whole number, not {value!r}", field=f.name)
        if want.startswith("float"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                try:
                    setattr(config, f.name, float(value))
                except (TypeError, ValueError):
                    raise ConfigError(f"{f.name} must be a number, not {value!r}", field=f.name) from None
            else:
                setattr(config, f.name, float(value))
        if want == "bool" and not isinstance(value, bool):
            raise ConfigError(f"{f.name} must be true or false, not {value!r}", field=f.name)
        if want.startswith("str") and not isinstance(value, str):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                setattr(config, f.name, str(value))
            else:
                raise ConfigError(f"{f.name} must be text, not {value!r}", field=f.name)


def save_config(config: TrainConfig, path: Path) -> None:
    write_atomic(path, yaml.safe_dump(config.as_dict(), sort_keys=False))
