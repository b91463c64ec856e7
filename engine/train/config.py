"""The resolved configuration of a training run: defaults < config file < command-line flags.

Field names follow open_clip's flags (``batch_size``, ``lr``, ``wd``, ``warmup``, ``precision``,
``workers``, ``save_frequency``, ``val_frequency``, ``local_loss``, ``gather_with_grad``,
``accum_freq``, ``grad_checkpointing``, ``grad_clip_norm``, ``torchcompile``, ...).
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.errors import CrossfoldError

LOSS_NAMES = ("clip", "mxm", "gcl", "sspc")
PRECISIONS = ("amp", "amp_bf16", "amp_bfloat16", "bf16", "fp16", "fp32", "pure_bf16", "pure_fp16")


class ConfigError(CrossfoldError):
    pass


@dataclass
class TrainConfig:
    dataset: str = ""
    loss: str = "clip"
    model: str = "cf-vit-tiny-64"
    pretrained: str | None = None
    pooling: str = "mean"
    epochs: int | None = None
    max_steps: int | None = None
    batch_size: int = 32
    views_per_item: int = 2
    captions_per_item: int = 2
    lr: float = 5e-4
    wd: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.98
    eps: float = 1e-6
    warmup: int = 20
    grad_clip_norm: float | None = 1.0
    precision: str = "amp_bf16"
    workers: int = 2
    seed: int = 0
    name: str | None = None
    resume: str | None = None
    save_frequency: int = 100
    val_frequency: int = 100
    local_loss: bool = False
    gather_with_grad: bool = False
    accum_freq: int = 1
    grad_checkpointing: bool = False
    torchcompile: bool = False
    device: str = "auto"
    val_split: str = "val"
    loss_options: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> TrainConfig:
        if not self.dataset:
            raise ConfigError("--dataset is required")
        if self.loss not in LOSS_NAMES:
            raise ConfigError(f"--loss must be one of {', '.join(LOSS_NAMES)}, not {self.loss!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"--precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.epochs is None and self.max_steps is None:
            raise ConfigError("give --epochs or --max-steps")
        for name in ("batch_size", "views_per_item", "captions_per_item", "accum_freq", "save_frequency",
                     "val_frequency"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
        if self.accum_freq > 1 and self.loss == "sspc":
            raise ConfigError("--accum-freq > 1 does not work with --loss sspc (its feature queue would see each "
                              "micro-batch several times); raise --batch-size instead")
        if self.local_loss:
            raise ConfigError("--local-loss is not supported yet: every process computes the loss of the whole "
                              "global batch, since an item's positives may sit on other processes")
        if self.lr <= 0:
            raise ConfigError("--lr must be positive")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError(f"--device must be auto, cpu or cuda, not {self.device!r}")
        return self

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_config_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping of option: value")
    return {k.replace("-", "_"): v for k, v in data.items()}


def resolve_config(file_values: dict[str, Any], flag_values: dict[str, Any]) -> TrainConfig:
    """Defaults, then the file, then every flag the user actually gave (not None)."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    merged: dict[str, Any] = {}
    for source, values in (("config file", file_values), ("flags", flag_values)):
        for key, value in values.items():
            if key not in known:
                raise ConfigError(f"unknown option {key!r} in {source}")
            if value is not None:
                merged[key] = value
    if "loss_options" in file_values and "loss_options" in flag_values:
        merged["loss_options"] = {**file_values["loss_options"], **(flag_values["loss_options"] or {})}
    return TrainConfig(**merged).validate()


def save_config(config: TrainConfig, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(config.as_dict(), sort_keys=False), encoding="utf-8")
    tmp.replace(path)
