from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from engine.train.config import ConfigError, load_config_file, resolve_config, save_config
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
