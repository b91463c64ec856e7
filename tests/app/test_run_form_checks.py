"""The run form's checks without Qt (app/run_form_checks.py): each problem carries the field it is about,
the run-name rule is the engine's, and the form's values go through ``TrainConfig.validate``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from app.run_form_checks import (
    DatasetInfo,
    FormChoices,
    config_defaults,
    field_of,
    form_problems,
    launch_args,
    lr_text,
    schema_problems,
    weights_problems,
)
from engine.names import name_problem

CHOICES = FormChoices([DatasetInfo("toy", "shape-text", 20, {"train": 16, "val": 4}, 40, 0, 40)], ["m"], ["old"])


def values(**changes: object) -> dict:
    return {"dataset": "toy", "loss": "mxm", "model": "m", "pretrained": None, "max_steps": 10, "epochs": None,
            "batch_size": 4, "views_per_item": 2, "captions_per_item": 2, "lr": "5e-4", "device": "auto", "seed": 0,
            "name": "", "val_frequency": 100, "save_frequency": 100, "workers": 2, "warmup": 20,
            "lock_image": False, "lock_text": False, **changes}


def test_problems_carry_their_field() -> None:
    assert form_problems(values(), CHOICES) == [] and schema_problems(values()) == []
    found = form_problems(values(lr="fast", batch_size=100, name="old", model=""), CHOICES, taken_names=["x"])
    assert [field_of(p) for p in found] == ["model", "lr", "name", "batch"]
    assert field_of("a plain message") is None
    assert [field_of(p) for p in form_problems(values(), FormChoices())] == ["dataset"]
    locked = weights_problems(values(lock_text=True), from_file=False, file=None, from_tag=False, tags=None)
    assert len(locked) == 1 and "locked tower" in locked[0] and field_of(locked[0]) == "pretrained"


def test_the_run_name_rule_is_the_engines() -> None:
    for name in ("ok-name", "_x", "-x", "a..b", "x" * 101, ".hidden", "bad name/"):
        found = [p for p in form_problems(values(name=name), CHOICES) if field_of(p) == "name"]
        assert bool(found) == (name_problem(name) is not None), name
        assert all("letters, digits" in p for p in found)


def test_the_schema_check_reads_the_field_that_failed() -> None:
    found = schema_problems(values(batch_size=0))
    assert len(found) == 1 and "--batch-size must be at least 1" in found[0] and field_of(found[0]) == "batch"
    found = schema_problems(values(loss="sspc", accum_freq=2))  # a field the form does not show: the form as a whole
    assert len(found) == 1 and field_of(found[0]) is None


def test_defaults_and_the_command_line_come_from_the_schema() -> None:
    defaults = config_defaults()
    assert defaults["batch_size"] == 32 and defaults["lr"] == 5e-4 and lr_text(defaults["lr"]) == "5e-4"
    args = launch_args(values(name="r", lr="1e-3"))
    assert args[0] == "train" and args[-2:] == ["--name", "r"] and args[args.index("--lr") + 1] == "0.001"


def test_the_checks_import_no_qt() -> None:
    code = "import sys, app.run_form_checks; assert not any(m.startswith('PySide6') for m in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
