from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest
import yaml

from engine.models.names import DEFAULT_MODEL, PRECISIONS, TRAINING_CONFIGS_DIR
from engine.run.config import ConfigError, TrainConfig, config_fields, load_config_file, resolve_config, save_config
from engine.run.flags import add_config_arguments, config_to_flags, flag_values, resume_args
from engine.train.schedule import cosine_lr


def test_flags_override_file_override_defaults(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("dataset: shapes-demo\nloss: mxm\nbatch-size: 16\nlr: 0.001\nmax_steps: 10\n")
    config = resolve_config(load_config_file(f), {"lr": 0.002, "batch_size": None, "seed": 3})
    assert (config.dataset, config.loss, config.batch_size, config.lr, config.seed) == (
        "shapes-demo", "mxm", 16, 0.002, 3)
    save_config(config, tmp_path / "resolved.yaml")
    assert yaml.safe_load((tmp_path / "resolved.yaml").read_text())["lr"] == 0.002


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"loss": "mxm", "max_steps": 1}, "--dataset is required"),
        ({"dataset": "d", "loss": "nope", "max_steps": 1}, "--loss must be one of"),
        ({"dataset": "d"}, "give --epochs or --max-steps"),
        ({"dataset": "d", "max_steps": 1, "batch_size": 0}, "--batch-size must be at least 1"),
        ({"dataset": "d", "max_steps": 1, "bogus": 1}, "unknown option 'bogus'"),
    ],
)
def test_bad_configs_are_named(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_config({}, values)


def test_bad_yaml_names_file(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("a: [1,\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config_file(f)


def test_cosine_schedule_warms_up_then_decays() -> None:
    lrs = [cosine_lr(1.0, 4, 20, s) for s in range(20)]
    assert lrs[:4] == [0.25, 0.5, 0.75, 1.0]
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:], strict=False))
    assert lrs[-1] < 0.01


def _parse_train(argv: list[str], validate: bool = True) -> TrainConfig:
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    return resolve_config({}, flag_values(parser.parse_args(argv)), validate=validate)


def _changed_value(f: dataclasses.Field, default: object) -> object:
    """A valid value for field ``f`` other than its default."""
    special = {"dataset": "shapes-demo", "loss": "gcl", "model": "cf-vit-tiny-64", "pretrained": "/tmp/w.pt",
               "pooling": "attention", "precision": "fp32", "device": "cpu", "name": "my-run", "resume": "latest",
               "val_split": "test", "epochs": 3, "max_steps": 7, "grad_clip_norm": None, "beta1": 0.5,
               "beta2": 0.75, "eps": 1e-8, "lr": 0.00123, "wd": 0.0, "loss_options": {"soft_weight": 0.25},
               "store": "packed", "report_to": "tensorboard"}
    if f.name in special:
        return special[f.name]
    kind = str(f.type)
    if kind == "bool":
        return not default
    if kind.startswith("int"):
        return int(default or 0) + 3
    if kind.startswith("float"):
        return float(default or 0.0) * 0.5 + 0.125
    raise AssertionError(f"no test value for {f.name} ({kind}): add one")


@pytest.mark.parametrize("field_name", [f.name for f in config_fields()])
def test_every_field_round_trips_through_flags(field_name: str) -> None:
    """TrainConfig -> flags -> TrainConfig gives the same config, for each field set away from its default."""
    base = {"dataset": "d", "max_steps": 5}
    f = next(f for f in config_fields() if f.name == field_name)
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    value = _changed_value(f, default)
    assert value != default
    values = {**base, field_name: value}
    if field_name == "epochs":
        values["max_steps"] = None
    if field_name == "lr":
        values["lr"] = 0.1 + 0.2  # a float whose shortest repr has many digits
    config = TrainConfig(**values)  # not validated: a field may be valid only beside others (--local-loss)
    flags = config_to_flags(config, exclude=())
    assert _parse_train(flags, validate=False) == config


def test_a_full_config_round_trips_and_the_yaml_keys_are_the_fields(tmp_path: Path) -> None:
    config = resolve_config(load_config_file(_write(tmp_path / "c.yaml", "dataset: d\nloss: mxm\nepochs: 2\n"
                                                    "grad-clip-norm: null\ntorchcompile: true\nlr: 1e-3\n")), {})
    assert config.grad_clip_norm is None and config.torchcompile and config.lr == 1e-3
    assert _parse_train(config_to_flags(config, exclude=())) == config
    save_config(config, tmp_path / "saved.yaml")
    assert set(yaml.safe_load((tmp_path / "saved.yaml").read_text())) == {f.name for f in config_fields()}
    assert resolve_config(load_config_file(tmp_path / "saved.yaml"), {}) == config


def test_resume_args_name_the_run_and_keep_its_config() -> None:
    config = TrainConfig(dataset="d", loss="sspc", max_steps=9, name="old", resume=None).validate()
    args = resume_args("old", config)
    assert args[0] == "train" and args[-4:] == ["--name", "old", "--resume", "latest"]
    assert _parse_train(args[1:]) == TrainConfig(**{**config.as_dict(), "resume": "latest"})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--lr", "nan"], "--lr must be a finite number"),
        (["--max-steps", "-5"], "--max-steps must be at least 1"),
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--workers", "-1"], "--workers must be 0 or more"),
        (["--beta2", "1.5"], "--beta2 must be below 1"),
        (["--grad-clip-norm", "-1"], "--grad-clip-norm must be 0 or more"),
        (["--seed", "9" * 23], "--seed must be at most 4294967295"),
    ],
)
def test_bad_flag_values_are_refused_with_the_flag_named(argv: list[str], message: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """At parsing (argparse names the flag), and by the schema for the same value from a config file."""
    length = ["--max-steps", "3"] if "--max-steps" not in argv and "--epochs" not in argv else []
    with pytest.raises(SystemExit):
        _parse_train(["--dataset", "d", *length, *argv])
    flag, rest = message.split(" ", 1)
    assert f"argument {flag}: {rest}" in capsys.readouterr().err
    field, text = argv[0][2:].replace("-", "_"), argv[1]
    with pytest.raises(ConfigError, match=message):
        resolve_config({"dataset": "d", "max_steps": 3, field: float(text) if "." in text or text == "nan"
                        else int(text)}, {})


def test_config_files_that_are_not_yaml_text_are_named(tmp_path: Path) -> None:
    binary = tmp_path / "weights.yaml"
    binary.write_bytes(b"\x80\x81\xfe\xff" * 10)
    with pytest.raises(ConfigError, match="weights.yaml: not a YAML config file"):
        load_config_file(binary)
    with pytest.raises(ConfigError, match="is a folder"):
        load_config_file(tmp_path)
    with pytest.raises(ConfigError, match="batch_size must be a whole number"):
        resolve_config(load_config_file(_write(tmp_path / "t.yaml", "dataset: d\nmax_steps: 2\nbatch_size: many\n")),
                       {})


def test_one_definition_of_precisions() -> None:
    import engine.models.factory as factory

    assert factory.PRECISIONS is PRECISIONS
    assert TrainConfig().precision in PRECISIONS and TrainConfig().model == DEFAULT_MODEL


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("loss", ["clip", "mxm", "gcl", "sspc"])
def test_shipped_finetune_configs_resolve_with_a_dataset_and_weights(loss: str) -> None:
    path = TRAINING_CONFIGS_DIR / f"finetune-{loss}.yaml"
    values = load_config_file(path)
    assert values["pretrained"] is None  # the user names the weights
    config = resolve_config(values, {"dataset": "shapes-demo", "pretrained": "laion2b_s34b_b79k", "lock_text": True})
    assert (config.loss, config.lr, config.precision) == (loss, 1e-5, "amp_bf16")
    assert config.pretrained == "laion2b_s34b_b79k"
    assert config.wd in (0.1, 0.2) and config.warmup > 0 and config.lock_text


def test_lock_sub_flags_need_their_lock() -> None:
    with pytest.raises(ConfigError, match="--lock-text-unlocked-layers needs --lock-text"):
        resolve_config({}, {"dataset": "d", "max_steps": 1, "lock_text_unlocked_layers": 2})
    with pytest.raises(ConfigError, match="--lock-image-unlocked-groups must be 0 or more"):
        resolve_config({}, {"dataset": "d", "max_steps": 1, "lock_image": True, "lock_image_unlocked_groups": -1})
