"""Shipped model configs: registered with open_clip by name, tokenizers honour their context length."""

from __future__ import annotations

import json
import socket

import open_clip
import pytest
import torch

from engine.errors import CrossfoldError
from engine.models import configs
from engine.models.configs import config_summary, get_model_config, list_model_names, register_model_configs
from engine.models.names import CONFIG_DIR, CONFIG_PATH_ENV, shipped_model_names

SHIPPED = ["cf-rn-tiny-64", "cf-vit-small-96", "cf-vit-tiny-64"]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """HF offline, and any socket connection is a test failure."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def _no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", _no_network)


def test_shipped_configs_are_open_clip_model_configs() -> None:
    assert shipped_model_names() == SHIPPED
    for name in SHIPPED:
        cfg = json.loads((CONFIG_DIR / f"{name}.json").read_text())
        assert {"embed_dim", "vision_cfg", "text_cfg"} <= set(cfg)
        assert cfg["text_cfg"]["context_length"] == 32
        assert cfg["text_cfg"]["vocab_size"] == 49408
        assert "hf_tokenizer_name" not in cfg["text_cfg"]
        assert "siglip" not in name  # open_clip would pick its SigLIP tokenizer by name


def test_registration_makes_names_known_to_open_clip_and_is_idempotent() -> None:
    names = register_model_configs()
    for name in SHIPPED:
        assert name in names
        assert name in open_clip.list_models()
    assert "ViT-B-32" in names and "RN50" in names
    before = len(configs._registered)
    register_model_configs()
    register_model_configs()
    assert len(configs._registered) == before
    assert list_model_names() == open_clip.list_models()


def test_extra_config_folder_from_environment(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = get_model_config("cf-vit-tiny-64")
    cfg["text_cfg"]["context_length"] = 16
    (tmp_path / "cf-test-extra-16.json").write_text(json.dumps(cfg))
    monkeypatch.setenv(CONFIG_PATH_ENV, str(tmp_path))
    assert "cf-test-extra-16" in register_model_configs()
    assert open_clip.get_tokenizer("cf-test-extra-16").context_length == 16


@pytest.mark.parametrize("name", SHIPPED)
def test_open_clip_creates_shipped_models_by_name(name: str) -> None:
    register_model_configs()
    model = open_clip.create_model(name)
    size = get_model_config(name)["vision_cfg"]["image_size"]
    tokenizer = open_clip.get_tokenizer(name)
    with torch.no_grad():
        img = model.encode_image(torch.randn(2, 3, size, size))
        txt = model.encode_text(tokenizer(["a red chair", "a round table"]))
    assert img.shape == txt.shape == (2, get_model_config(name)["embed_dim"])


@pytest.mark.parametrize("name", SHIPPED)
def test_tokenizer_is_simple_bpe_and_pads_or_truncates_to_context_length(name: str) -> None:
    register_model_configs()
    tokenizer = open_clip.get_tokenizer(name)
    assert isinstance(tokenizer, open_clip.SimpleTokenizer)
    long_text = " ".join(["chair"] * 100)
    tokens = tokenizer(["a chair", long_text])
    assert tokens.shape == (2, 32) and tokens.dtype == torch.long
    sot, eot = tokenizer.sot_token_id, tokenizer.eot_token_id
    # short caption: <sot> a chair <eot> then zero padding
    assert tokens[0, 0] == sot and tokens[0, 3] == eot and bool((tokens[0, 4:] == 0).all())
    # long caption: truncated, the last position holds <eot>, no padding
    assert tokens[1, 0] == sot and tokens[1, -1] == eot and bool((tokens[1] != 0).all())
    # argmax pooling in the text tower finds the <eot> (the highest id) in both
    assert tokens.argmax(dim=-1).tolist() == [3, 31]


def test_unknown_name_is_a_crossfold_error_with_suggestions() -> None:
    with pytest.raises(CrossfoldError, match="cf-vit-tiny-64"):
        get_model_config("cf-vit-tiny-46")


def test_config_summary() -> None:
    s = config_summary("cf-rn-tiny-64")
    assert s["vision"] == "resnet" and s["image_size"] == 64 and s["context_length"] == 32 and s["shipped"]
    s = config_summary("ViT-B-32")
    assert s["vision"] == "vit" and s["image_size"] == 224 and s["context_length"] == 77 and not s["shipped"]
