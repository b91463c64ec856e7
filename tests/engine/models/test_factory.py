"""build_encoder: pretrained tags / local files, open_clip checkpoint compatibility, precision, offline."""

from __future__ import annotations

import socket
from pathlib import Path

import open_clip
import pytest
import torch

from engine.errors import CrossfoldError
from engine.models import build_encoder, load_encoder, resolve_pretrained, save_weights, tokenize_multifold
from engine.models.checkpoint_io import VIEW_POOL_KEY


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """HF offline, and any socket connection or open_clip download is a test failure."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def _no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", _no_network)
    monkeypatch.setattr(open_clip.factory, "download_pretrained", _no_network)
    monkeypatch.setattr(open_clip.factory, "download_pretrained_from_hf", _no_network)


def _inputs(size: int = 64, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    tok = open_clip.get_tokenizer("cf-vit-tiny-64")
    return torch.randn(3, 3, size, size, generator=g), tok(["a red chair", "a round table", "a tall lamp"])


def _outputs(model: torch.nn.Module, images: torch.Tensor, tokens: torch.Tensor):
    model.eval()
    with torch.no_grad():
        return model.encode_image(images, normalize=True), model.encode_text(tokens, normalize=True)


def _trained_encoder(name: str = "cf-vit-tiny-64", pooling: str = "mean"):
    """An encoder whose weights differ from any fresh init (so a load that silently fails is caught)."""
    torch.manual_seed(123)
    enc, _, _, tok = build_encoder(name, pooling=pooling)
    with torch.no_grad():
        for p in enc.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return enc, tok


@pytest.mark.parametrize("wrapped", [True, False], ids=["state_dict-key", "bare"])
@pytest.mark.parametrize("name", ["cf-vit-tiny-64", "cf-rn-tiny-64"])
def test_saved_clip_state_dict_loads_in_open_clip_and_in_build_encoder(tmp_path: Path, name: str, wrapped: bool):
    enc, _ = _trained_encoder(name)
    state = enc.clip.state_dict()
    path = tmp_path / "weights.pt"
    torch.save({"state_dict": state} if wrapped else state, path)
    images, tokens = _inputs()
    expected = _outputs(enc.clip, images, tokens)

    torch.manual_seed(999)  # a different random init, overwritten by the file
    theirs = open_clip.create_model(name, pretrained=str(path))
    for a, b in zip(_outputs(theirs, images, tokens), expected, strict=True):
        torch.testing.assert_close(a, b)

    torch.manual_seed(999)
    ours, _, _, _ = build_encoder(name, pretrained=str(path))
    for a, b in zip(_outputs(ours.clip, images, tokens), expected, strict=True):
        torch.testing.assert_close(a, b)
    fresh, _, _, _ = build_encoder(name)
    assert not torch.allclose(_outputs(fresh.clip, images, tokens)[0], expected[0])


def test_module_prefixed_state_dict_from_ddp_loads(tmp_path: Path) -> None:
    enc, _ = _trained_encoder()
    path = tmp_path / "ddp.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in enc.clip.state_dict().items()}}, path)
    ours, _, _, _ = build_encoder("cf-vit-tiny-64", pretrained=path)
    images, tokens = _inputs()
    for a, b in zip(_outputs(ours.clip, images, tokens), _outputs(enc.clip, images, tokens), strict=True):
        torch.testing.assert_close(a, b)


def test_save_weights_keeps_view_pool_and_open_clip_still_reads_it(tmp_path: Path) -> None:
    enc, _ = _trained_encoder(pooling="attention")
    path = save_weights(enc, tmp_path / "sub" / "encoder.pt")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    assert VIEW_POOL_KEY in saved and saved["model_name"] == "cf-vit-tiny-64" and saved["pooling"] == "attention"
    images, tokens = _inputs()
    open_clip.create_model("cf-vit-tiny-64", pretrained=str(path))  # extra keys do not bother open_clip

    loaded, _, _, _ = load_encoder(path)
    assert loaded.pooling == "attention"
    torch.testing.assert_close(loaded.pool.query, enc.pool.query)
    views = torch.randn(2, 4, 128)
    torch.testing.assert_close(loaded.pool_views(views), enc.pool_views(views))
    for a, b in zip(_outputs(loaded.clip, images, tokens), _outputs(enc.clip, images, tokens), strict=True):
        torch.testing.assert_close(a, b)


def test_weights_of_another_model_are_a_crossfold_error(tmp_path: Path) -> None:
    enc, _ = _trained_encoder("cf-vit-tiny-64")
    path = tmp_path / "tiny.pt"
    torch.save({"state_dict": enc.clip.state_dict()}, path)
    with pytest.raises(CrossfoldError, match="its weights do not fit model cf-rn-tiny-64 .*missing keys, e.g."):
        build_encoder("cf-rn-tiny-64", pretrained=str(path))


def test_resolve_pretrained(tmp_path: Path) -> None:
    assert resolve_pretrained("ViT-B-32", None) == ("none", None)
    assert resolve_pretrained("ViT-B-32", "") == ("none", None)
    assert resolve_pretrained("ViT-B-32", "openai") == ("tag", "openai")
    assert resolve_pretrained("ViT-B-32", "laion2b_s34b_b79k") == ("tag", "laion2b_s34b_b79k")
    f = tmp_path / "w.pt"
    f.write_bytes(b"")
    assert resolve_pretrained("ViT-B-32", str(f)) == ("file", str(f))
    with pytest.raises(CrossfoldError, match="not found"):
        resolve_pretrained("ViT-B-32", str(tmp_path / "missing.pt"))
    with pytest.raises(CrossfoldError, match="known tags: .*openai"):
        resolve_pretrained("ViT-B-32", "no-such-tag")
    with pytest.raises(CrossfoldError, match="no pretrained tags"):
        resolve_pretrained("cf-vit-tiny-64", "openai")


def test_a_pretrained_tag_not_cached_fails_cleanly_offline(tmp_path: Path) -> None:
    # HF_HUB_OFFLINE and an empty cache: one line naming the tag, the cache folder and the way out
    with pytest.raises(CrossfoldError, match=r"tag 'openai' of RN50 .* not in the HuggingFace cache \(.*hub\) and "
                                             r"HF_HUB_OFFLINE is set.*--pretrained PATH"):
        build_encoder("RN50", pretrained="openai", cache_dir=str(tmp_path / "hub"))


def test_nothing_is_fetched_without_pretrained() -> None:
    # the autouse fixture turns any download or socket connection into a failure
    enc, preprocess_train, preprocess_val, tokenizer = build_encoder("cf-vit-tiny-64")
    assert tokenizer.context_length == 32
    from PIL import Image

    img = Image.new("RGB", (100, 80), (200, 10, 10))
    assert preprocess_val(img).shape == (3, 64, 64)
    assert preprocess_train(img).shape == (3, 64, 64)


def test_bad_arguments_are_crossfold_errors() -> None:
    with pytest.raises(CrossfoldError, match="unknown model"):
        build_encoder("cf-vit-huge-999")
    with pytest.raises(CrossfoldError, match="precision"):
        build_encoder("cf-vit-tiny-64", precision="fp8")
    with pytest.raises(CrossfoldError, match="pooling"):
        build_encoder("cf-vit-tiny-64", pooling="max")


@pytest.mark.parametrize("precision", ["bf16", "pure_bf16", "amp_bf16"])
def test_precision_names_follow_open_clip(precision: str) -> None:
    enc, _, _, tok = build_encoder("cf-vit-tiny-64", precision=precision)
    weight_dtype = enc.clip.visual.conv1.weight.dtype
    assert weight_dtype == (torch.float32 if precision.startswith("amp") else torch.bfloat16)
    images = torch.randn(1, 2, 3, 64, 64)  # fp32 images are cast to the model's input dtype
    out = enc(images, tok(["a", "b"]).view(1, 2, -1), [0], shape=True)
    assert out.emb["shape"].shape == (1, 128)


def test_tokenize_multifold() -> None:
    tok = open_clip.get_tokenizer("cf-vit-tiny-64")
    captions = [["a red chair", "red chair"], ["a table", "round table"], ["lamp", "a tall lamp"]]
    tokens = tokenize_multifold(tok, captions)
    assert tokens.shape == (3, 2, 32)
    torch.testing.assert_close(tokens[2, 1], tok(["a tall lamp"])[0])
    with pytest.raises(ValueError):
        tokenize_multifold(tok, [["a"], ["b", "c"]])
