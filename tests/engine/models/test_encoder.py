"""CrossfoldEncoder: shapes, normalisation, item ids, raw (pre-projection) features, pooling, backward."""

from __future__ import annotations

import socket

import pytest
import torch
import torch.nn.functional as F

from engine.losses.base import Embeddings
from engine.models import build_encoder
from engine.models.encoder import MAX_LOGIT_SCALE, CrossfoldEncoder

SMALL = ["cf-vit-tiny-64", "cf-rn-tiny-64", "cf-vit-small-96"]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """HF offline, and any socket connection is a test failure."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def _no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", _no_network)


def _build(name: str, **kw) -> tuple[CrossfoldEncoder, object]:
    torch.manual_seed(0)
    enc, _, _, tok = build_encoder(name, **kw)
    return enc, tok


def _batch(enc: CrossfoldEncoder, tok, b: int = 3, v: int = 2, c: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    h, w = enc.image_size
    images = torch.randn(b, v, 3, h, w, generator=g)
    words = ["red", "blue", "tall", "round", "chair", "table", "lamp", "with", "four", "legs"]
    texts = [" ".join(words[(i * 3 + j) % 10] for j in range(2 + i % 5)) for i in range(b * c)]
    tokens = tok(texts).view(b, c, -1)
    return images, tokens


def _assert_unit(x: torch.Tensor) -> None:
    torch.testing.assert_close(x.norm(dim=-1), torch.ones(x.shape[0]), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", SMALL)
def test_small_configs_forward_and_backward(name: str) -> None:
    enc, tok = _build(name, pooling="attention")
    images, tokens = _batch(enc, tok, b=4, v=2, c=3)
    out = enc(images, tokens, torch.arange(4), shape=True)
    assert isinstance(out, Embeddings)
    assert out.modalities() == ["image", "text", "shape"]
    d, raw = enc.embed_dim, enc.raw_dims
    assert out.emb["image"].shape == (8, d) and out.raw["image"].shape == (8, raw["image"])
    assert out.emb["text"].shape == (12, d) and out.raw["text"].shape == (12, raw["text"])
    assert out.emb["shape"].shape == (4, d) and out.raw["shape"].shape == (4, raw["shape"])
    for m in out.emb:
        _assert_unit(out.emb[m])
        assert torch.isfinite(out.raw[m]).all()
    # a contrastive-ish loss over every modality reaches every parameter
    scale = enc.logit_scale
    loss = (
        sum(
            F.cross_entropy(scale * out.emb[m] @ out.emb["text"].T, torch.arange(out.emb[m].shape[0]) % 12)
            for m in ("image", "shape")
        )
        + out.raw["image"].pow(2).mean()
        + out.raw["text"].pow(2).mean()
    )
    loss.backward()
    missing = [n for n, p in enc.named_parameters() if p.requires_grad and p.grad is None]
    assert missing == []
    assert enc.pool.query.grad.abs().sum() > 0


def test_item_ids_line_up_with_observations() -> None:
    enc, tok = _build("cf-vit-tiny-64")
    images, tokens = _batch(enc, tok, b=3, v=2, c=2)
    items = torch.tensor([10, 4, 7])
    out = enc(images, tokens, items, shape=True)
    assert out.items["image"].tolist() == [10, 10, 4, 4, 7, 7]
    assert out.items["text"].tolist() == [10, 10, 4, 4, 7, 7]
    assert out.items["shape"].tolist() == [10, 4, 7]
    # and the rows really are those observations: image row 3 = item 1's view 1, text row 4 = item 2's caption 0
    enc.eval()
    with torch.no_grad():
        out = enc(images, tokens, items, shape=True)
        torch.testing.assert_close(out.emb["image"][3], enc.encode_images(images[1, 1:2])[1][0], atol=1e-5, rtol=0)
        torch.testing.assert_close(out.emb["text"][4], enc.encode_texts(tokens[2, 0:1])[1][0], atol=1e-5, rtol=0)
        torch.testing.assert_close(out.emb["shape"], enc.pool_views(out.emb["image"].view(3, 2, -1)))


def test_shape_modality_only_when_asked_and_other_combinations() -> None:
    enc, tok = _build("cf-vit-tiny-64")
    images, tokens = _batch(enc, tok, b=3, v=2, c=2)
    items = torch.arange(3)
    assert enc(images, tokens, items).modalities() == ["image", "text"]  # V > 1 but not a shape dataset
    one_view = enc(images[:, :1], None, items, shape=True)
    assert one_view.modalities() == ["image", "shape"] and one_view.visual() == "shape"
    assert enc(None, tokens, [0, 1, 2]).modalities() == ["text"]
    with pytest.raises(ValueError):
        enc(None, tokens, items, shape=True)
    with pytest.raises(ValueError):
        enc(images, tokens, torch.arange(4))  # B mismatch
    with pytest.raises(ValueError):
        enc(None, None, items)


def test_mean_pooled_shape_is_normalised_mean_of_view_embeddings() -> None:
    enc, tok = _build("cf-vit-tiny-64", pooling="mean")
    images, tokens = _batch(enc, tok, b=3, v=3)
    enc.eval()
    with torch.no_grad():
        out = enc(images, tokens, torch.arange(3), shape=True)
        views = out.emb["image"].view(3, 3, -1)
        torch.testing.assert_close(out.emb["shape"], F.normalize(views.mean(dim=1), dim=-1))
        torch.testing.assert_close(out.raw["shape"], out.raw["image"].view(3, 3, -1).mean(dim=1))
        raw, emb = enc.encode_shapes(images)
        torch.testing.assert_close(emb, out.emb["shape"], atol=1e-5, rtol=0)
        torch.testing.assert_close(raw, out.raw["shape"], atol=1e-5, rtol=0)


def _manual_projection(enc: CrossfoldEncoder, raw_img: torch.Tensor, raw_txt: torch.Tensor):
    clip, visual = enc.clip, enc.clip.visual
    if hasattr(visual, "attnpool"):  # ModifiedResNet: the projection is the attention pool's c_proj
        img = visual.attnpool.c_proj(raw_img)
    elif hasattr(visual, "head"):  # TimmModel
        img = visual.head(raw_img)
    else:
        img = raw_img @ visual.proj
    text_proj = clip.text_projection if hasattr(clip, "text_projection") else clip.text.text_projection
    txt = text_proj(raw_txt) if isinstance(text_proj, torch.nn.Module) else raw_txt @ text_proj
    return F.normalize(img, dim=-1), F.normalize(txt, dim=-1)


CASES = [
    ("cf-vit-tiny-64", {}),
    ("cf-rn-tiny-64", {}),
    ("cf-vit-small-96", {}),
    ("cf-vit-tiny-64", {"force_custom_text": True}),  # CustomTextCLIP with open_clip's TextTransformer
    (
        "cf-vit-tiny-64",
        {
            "vision_cfg": {
                "image_size": 64,
                "layers": 2,
                "width": 64,
                "head_width": 32,
                "patch_size": 16,
                "pool_type": "avg",
                "final_ln_after_pool": True,
            }
        },
    ),
    (
        "cf-vit-tiny-64",
        {"vision_cfg": {"timm_model_name": "resnet18", "image_size": 64, "timm_pool": "avg", "timm_proj": "linear"}},
    ),
    ("ViT-B-32", {}),
]


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_raw_features_are_the_inputs_of_the_final_projection(name: str, kwargs: dict) -> None:
    enc, tok = _build(name, **kwargs)
    enc.eval()
    images, tokens = _batch(enc, tok, b=2, v=1, c=1)
    images, tokens = images[:, 0], tokens[:, 0]
    with torch.no_grad():
        raw_img, emb_img = enc.encode_images(images)
        raw_txt, emb_txt = enc.encode_texts(tokens)
        # emb == normalize(projection(raw)), the projection applied by hand
        man_img, man_txt = _manual_projection(enc, raw_img, raw_txt)
        torch.testing.assert_close(emb_img, man_img, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(emb_txt, man_txt, atol=1e-5, rtol=1e-5)
        # and emb is what open_clip itself computes
        torch.testing.assert_close(emb_img, enc.clip.encode_image(images, normalize=True), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(emb_txt, enc.clip.encode_text(tokens, normalize=True), atol=1e-5, rtol=1e-5)
    assert raw_img.shape == (2, enc.raw_dims["image"]) and raw_txt.shape == (2, enc.raw_dims["text"])
    assert emb_img.shape == emb_txt.shape == (2, enc.embed_dim)
    _assert_unit(emb_img)
    _assert_unit(emb_txt)
    # raw is not already the normalised joint embedding
    assert not torch.allclose(raw_img.norm(dim=-1), torch.ones(2), atol=1e-3)


def test_vit_raw_is_the_pooled_class_token_after_ln_post() -> None:
    enc, tok = _build("cf-vit-tiny-64")
    enc.eval()
    visual = enc.clip.visual
    captured = {}
    handle = visual.ln_post.register_forward_hook(lambda m, i, o: captured.update(out=o))
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        raw, _ = enc.encode_images(images)
    handle.remove()
    torch.testing.assert_close(raw, captured["out"][:, 0])


def test_resnet_raw_is_the_attention_pool_before_c_proj() -> None:
    enc, _ = _build("cf-rn-tiny-64")
    enc.eval()
    pool = enc.clip.visual.attnpool
    assert enc.raw_dims["image"] == pool.c_proj.in_features == 16 * 32
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        raw, emb = enc.encode_images(images)
        torch.testing.assert_close(pool.c_proj(raw), enc.clip.visual(images), atol=1e-5, rtol=1e-5)


def test_logit_scale_is_exp_clamped_at_100() -> None:
    enc, _ = _build("cf-vit-tiny-64")
    torch.testing.assert_close(enc.logit_scale, torch.tensor(1 / 0.07))
    with torch.no_grad():
        enc.clip.logit_scale.fill_(10.0)
    assert float(enc.logit_scale.detach()) == MAX_LOGIT_SCALE
    enc.clamp_logit_scale_()
    torch.testing.assert_close(enc.clip.logit_scale.detach(), torch.tensor(torch.log(torch.tensor(100.0)).item()))


def test_grad_checkpointing_passes_through_and_gives_the_same_gradients() -> None:
    plain, tok = _build("cf-vit-tiny-64")
    ckpt, _ = _build("cf-vit-tiny-64", grad_checkpointing=True)
    ckpt.load_state_dict(plain.state_dict())
    assert ckpt.clip.visual.transformer.grad_checkpointing and ckpt.clip.transformer.grad_checkpointing
    assert not plain.clip.visual.transformer.grad_checkpointing
    images, tokens = _batch(plain, tok)
    grads = []
    for enc in (plain, ckpt):
        out = enc(images, tokens, torch.arange(3), shape=True)
        (out.emb["shape"] @ out.emb["text"].T).logsumexp(dim=1).sum().backward()
        grads.append(enc.clip.visual.conv1.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1])


def test_describe() -> None:
    enc, _ = _build("cf-vit-tiny-64", pooling="gated")
    d = enc.describe()
    assert d["model_name"] == "cf-vit-tiny-64" and d["pooling"] == "gated" and d["embed_dim"] == 128
    assert d["context_length"] == 32 and d["image_size"] == [64, 64]
    assert d["parameters"] == sum(p.numel() for p in enc.parameters())


TEXT_TOWERS = [
    ("clip", {}),  # open_clip's CLIP: causal, argmax pooling
    ("custom-text", {"force_custom_text": True}),  # CustomTextCLIP's TextTransformer: causal, argmax pooling
    ("eos", {"force_custom_text": True,
             "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2,
                          "pool_type": "eos", "eos_id": 49407}}),
    ("not-causal", {"force_custom_text": True,
                    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2,
                                 "no_causal_mask": True, "pool_type": "last"}}),
]


@pytest.mark.parametrize(("kind", "kwargs"), TEXT_TOWERS, ids=[k for k, _ in TEXT_TOWERS])
def test_text_towers_run_only_the_positions_they_pool(kind: str, kwargs: dict) -> None:
    """A causal tower is cut after the batch's furthest end of text; its features stay open_clip's own."""
    from engine.models.encoder import pooled_length

    enc, tok = _build("cf-vit-tiny-64", **kwargs)
    enc.eval()
    tokens = tok(["a chair", "a tall round table with four legs and a red lamp on it", "lamp"])
    context = tokens.shape[1]
    text = getattr(enc.clip, "text", enc.clip)
    causal = getattr(text, "attn_mask", None) is not None
    pool = getattr(text, "pool_type", None) or enc.clip.text_pool_type
    eos = getattr(text, "eos_id", None) or getattr(enc.clip, "text_eos_id", None)
    n = pooled_length(tokens, pool, eos, causal)
    if kind == "not-causal":
        assert n == context
    else:  # the longest caption: start, 13 words, end of text
        assert n == int((tokens != 0).sum(dim=-1).max()) < context
    with torch.no_grad():
        _, emb = enc.encode_texts(tokens)
        torch.testing.assert_close(emb, enc.clip.encode_text(tokens, normalize=True), atol=1e-5, rtol=1e-5)
    # and the same gradients reach the weights as through open_clip's full-length forward
    enc.zero_grad()
    enc.encode_texts(tokens)[1].sum().backward()
    ours = {k: p.grad.clone() for k, p in enc.clip.named_parameters() if p.grad is not None}
    enc.zero_grad()
    enc.clip.encode_text(tokens, normalize=True).sum().backward()
    theirs = {k: p.grad.clone() for k, p in enc.clip.named_parameters() if p.grad is not None}
    assert ours.keys() == theirs.keys()
    for k in ours:
        torch.testing.assert_close(ours[k], theirs[k], atol=1e-5, rtol=1e-4, msg=k)
