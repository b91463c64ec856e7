"""engine.models.pretrained and the lock flags: HF-cache lookups (no network), refused pickles, locked towers."""

from __future__ import annotations

import json
from pathlib import Path

import open_clip
import pytest
import torch
from safetensors.torch import save_file

import engine.models  # noqa: F401 - registers our configs with open_clip
from engine.catalog import Catalog
from engine.errors import CrossfoldError
from engine.models import build_encoder
from engine.models.checkpoint_io import clip_state_dict
from engine.models.configs import get_model_config
from engine.models.lock import lock_towers
from engine.models.pretrained import list_models, read_weights, resolve
from engine.names import check_name
from engine.run.config import ConfigError
from engine.train.objective import param_groups
from engine.train.zero_shot import create_pretrained_run


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _hf_cache(cache: Path, repo: str, files: dict[str, bytes]) -> Path:
    """A HuggingFace cache entry laid out as huggingface_hub writes it (refs/main -> snapshots/<commit>/)."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    folder = cache / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    snapshot = folder / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name, data in files.items():
        (snapshot / name).write_bytes(data)
    return snapshot


def test_hf_hub_model_loads_from_the_cache_with_its_preprocessing(tmp_path: Path) -> None:
    torch.manual_seed(3)
    model = open_clip.create_model("cf-rn-tiny-64")
    weights = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    config = {"model_cfg": get_model_config("cf-rn-tiny-64"),
              "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}}
    cache = tmp_path / "hub"
    _hf_cache(cache, "someone/tiny-rn", {"open_clip_config.json": json.dumps(config).encode(),
                                         "open_clip_model.safetensors": weights.read_bytes()})
    for model_name, pretrained in (("hf-hub:someone/tiny-rn", None), ("cf-rn-tiny-64", "hf-hub:someone/tiny-rn")):
        enc, _, preprocess, _ = build_encoder(model_name, pretrained, cache_dir=str(cache))
        assert enc.model_name == "hf-hub:someone/tiny-rn"
        torch.testing.assert_close(enc.clip.state_dict()["visual.attnpool.c_proj.weight"],
                                   model.state_dict()["visual.attnpool.c_proj.weight"])
        normalize = preprocess.transforms[-1]
        assert tuple(normalize.mean) == (0.5, 0.5, 0.5) and tuple(normalize.std) == (0.25, 0.25, 0.25)
    with pytest.raises(CrossfoldError, match=r"hf-hub:someone/other is not in the HuggingFace cache"):
        build_encoder("hf-hub:someone/other", cache_dir=str(cache))


def test_trainer_models_marks_tags_in_the_cache(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    _hf_cache(cache, "laion/CLIP-ViT-B-32-laion2B-s34B-b79K", {"open_clip_model.safetensors": b"x"})
    by_name = {m["name"]: m for m in list_models(str(cache))}
    assert by_name["cf-rn-tiny-64"]["shipped"] and by_name["cf-rn-tiny-64"]["pretrained"] == []
    assert "laion2b_s34b_b79k" in by_name["ViT-B-32"]["pretrained"]
    assert by_name["ViT-B-32"]["cached"] == ["laion2b_s34b_b79k"]
    assert resolve("ViT-B-32", "laion2b_s34b_b79k", cache_dir=str(cache)).path.endswith("open_clip_model.safetensors")


class _NotATensor:
    pass


def test_a_pickle_with_objects_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "pickled.pt"
    torch.save({"state_dict": {}, "thing": _NotATensor()}, path)
    with pytest.raises(CrossfoldError) as caught:
        read_weights(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: refused") and "\n" not in message
    assert "weights_only" not in message
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CrossfoldError, match="junk.pt: not a PyTorch weights file"):
        resolve("cf-rn-tiny-64", str(tmp_path / "junk.pt"))


def test_locked_towers_get_no_gradient_and_no_place_in_the_optimizer() -> None:
    torch.manual_seed(0)
    enc, _, _, tok = build_encoder("cf-vit-tiny-64")
    lock_towers(enc.clip, lock_text=True, lock_image=True, lock_image_unlocked_groups=1)
    frozen = {n for n, p in enc.clip.named_parameters() if not p.requires_grad}
    assert "token_embedding.weight" in frozen and "visual.conv1.weight" in frozen
    assert "visual.proj" not in frozen  # the last group stays unlocked
    groups = param_groups(enc.clip, 0.1)
    held = {id(p) for g in groups for p in g["params"]}
    assert all(id(p) not in held for n, p in enc.clip.named_parameters() if n in frozen)
    image, text, scale = enc.clip(torch.randn(2, 3, 64, 64), tok(["a red chair", "a lamp"]))[:3]
    (scale * image @ text.T).sum().backward()
    for name, p in enc.clip.named_parameters():
        assert (p.grad is None) == (name in frozen), name


def test_frozen_batch_norm_checkpoint_still_opens_in_open_clip(tmp_path: Path) -> None:
    enc, _, _, _ = build_encoder("cf-rn-tiny-64")
    lock_towers(enc.clip, lock_image=True, lock_image_freeze_bn_stats=True)
    path = tmp_path / "frozen.pt"
    torch.save({"state_dict": clip_state_dict(enc.clip)}, path)
    open_clip.create_model("cf-rn-tiny-64", pretrained=str(path))  # strict load
    with pytest.raises(CrossfoldError, match="unlocked-groups 1"):
        lock_towers(enc.clip, lock_image=True, lock_image_unlocked_groups=1)


def test_run_names_name_folders(tmp_path: Path) -> None:
    assert check_name("run", "zs-ViT-B-32.laion") == "zs-ViT-B-32.laion"
    for bad in ("../escape", "", "a b", "a/b"):
        with pytest.raises(CrossfoldError, match="run name"):
            check_name("run", bad)
    catalog = Catalog(tmp_path / "c.sqlite")
    catalog.create_dataset("d", "image-text", "test")
    catalog.upsert_run("taken", loss="clip")
    with pytest.raises(ConfigError, match="already exists"):
        from engine.workspace import Workspace

        create_pretrained_run(Workspace.open(tmp_path / "ws"), catalog, "cf-rn-tiny-64", "x.pt", "d", name="taken")


def test_weights_files_that_cannot_be_the_models_are_one_line_each(tmp_path: Path) -> None:
    """An empty file, a symlink to a text file, a text positional embedding of another width (open_clip would
    assert), NaN weights: each refused naming the file and the problem, before any model is built."""
    state = open_clip.create_model("cf-vit-tiny-64", pretrained=None).state_dict()
    pos = state["positional_embedding"]
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "passwd.pt").symlink_to("/etc/passwd")
    torch.save({"state_dict": {**state, "positional_embedding": torch.zeros(pos.shape[0], pos.shape[1] + 8)}},
               tmp_path / "wide.pt")
    torch.save({"state_dict": {k: v * float("nan") if v.is_floating_point() else v for k, v in state.items()}},
               tmp_path / "nan.pt")
    for name, problem in (("empty.pt", "an empty file"), ("passwd.pt", "not a PyTorch weights file"),
                          ("wide.pt", "do not fit model cf-vit-tiny-64 (1 of another shape, e.g. positional_embedding"),
                          ("nan.pt", "holds NaN or infinite weights")):
        with pytest.raises(CrossfoldError) as caught:
            resolve("cf-vit-tiny-64", str(tmp_path / name))
        message = str(caught.value)
        assert message.startswith(f"{tmp_path / name}: ") and problem in message and "\n" not in message, message
