"""``TrainConfig.validate`` names the option at fault (``ConfigError.field``): the app's form marks that field
instead of guessing it from the message's words."""

from __future__ import annotations

import pytest

from engine.losses.names import LOSS_NAMES
from engine.run.config import ConfigError, TrainConfig, config_fields

GOOD = {"dataset": "d", "max_steps": 4}


@pytest.mark.parametrize(("changes", "field"), [
    ({"dataset": ""}, "dataset"),
    ({"loss": "triplet"}, "loss"),
    ({"precision": "fp8"}, "precision"),
    ({"store": "somewhere"}, "store"),
    ({"max_steps": None}, "max_steps"),
    ({"batch_size": 0}, "batch_size"),
    ({"workers": -1}, "workers"),
    ({"lr": float("nan")}, "lr"),
    ({"lr": -1.0}, "lr"),
    ({"beta2": 1.0}, "beta2"),
    ({"loss": "sspc", "accum_freq": 2}, "accum_freq"),
    ({"lock_text_unlocked_layers": 2}, "lock_text_unlocked_layers"),
    ({"device": "tpu"}, "device"),
    ({"name": "a/b"}, "name"),
])
def test_each_problem_names_its_field(changes: dict, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        TrainConfig(**{**GOOD, **changes}).validate()
    assert caught.value.field == field
    assert field in {f.name for f in config_fields()}


def test_the_loss_choices_are_the_losses_names() -> None:
    loss = next(f for f in config_fields() if f.name == "loss")
    assert loss.metadata["choices"] == LOSS_NAMES
    assert TrainConfig(**GOOD).validate().loss in LOSS_NAMES
