"""The encoder the trainer uses: an open_clip model plus view pooling, producing ``Embeddings``.

``CrossfoldEncoder.clip`` is the unchanged open_clip ``CLIP`` / ``CustomTextCLIP`` model, so
``torch.save({"state_dict": encoder.clip.state_dict()}, path)`` is an ordinary open_clip checkpoint
(``open_clip.create_model(name, pretrained=path)`` loads it). ``CrossfoldEncoder.pool`` pools the views
of a shape (see :mod:`engine.models.pooling`); its parameters, if any, are kept apart from the CLIP
state (see :mod:`engine.models.checkpoint_io`).

Raw (pre-projection) features
-----------------------------
SSPC needs every tower's output *before* the final projection into the joint space. open_clip has no
public call for that, so each tower type open_clip 3.3.0 builds is run here from its own submodules,
stopping before the projection, and the projection is then applied to give the usual output
(the tests check ``emb`` against ``clip.encode_image`` / ``clip.encode_text`` and ``raw`` against the
projection applied by hand):

* ``VisionTransformer`` (``ViT-*``, ``cf-vit-*``): ``raw`` = the pooled token after ``ln_post``
  (class token, or the average / attentional pool the config asks for), ``emb = raw @ visual.proj``.
* ``ModifiedResNet`` (``RN50``, ``cf-rn-*``): the attention pool ends with its output projection
  ``attnpool.c_proj``; ``raw`` = the attention-pooled feature *before* ``c_proj`` (``width * 32``
  channels), ``emb = c_proj(raw)``. (The attention pool's output itself is the joint-space feature and
  would give SSPC no separate input space.)
* ``TimmModel``: ``raw`` = the timm trunk's pooled features, ``emb = visual.head(raw)``; when the trunk
  keeps a spatial map (``abs_attn`` / ``rot_attn`` pooling in the head), ``raw`` is the head output.
* text ``Transformer`` of ``CLIP`` and ``TextTransformer`` of ``CustomTextCLIP``: ``raw`` = the pooled
  token after ``ln_final`` (EOT / argmax, eos, first, last, or CoCa's class token),
  ``emb = raw @ text_projection`` (or the ``nn.Linear``; identity when the config has no projection).
* ``HFTextEncoder``: ``raw`` = the pooler output, ``emb = text.proj(raw)``.
* anything else: ``raw`` = the unnormalised tower output (a warning says so once).

``raw`` is never normalised; ``emb`` always is.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from open_clip.hf_model import HFTextEncoder
from open_clip.model import CLIP, get_input_dtype
from open_clip.modified_resnet import ModifiedResNet
from open_clip.timm_model import TimmModel
from open_clip.transformer import TextTransformer, VisionTransformer, text_global_pool
from torch import Tensor, nn

from engine.losses.base import Embeddings
from engine.models import configs as _configs  # noqa: F401 - registers our configs with open_clip
from engine.models.pooling import ViewPool, build_pool

log = logging.getLogger(__name__)

#: open_clip's training loop clamps ``logit_scale`` to ``[0, log(100)]`` after each step.
MAX_LOGIT_SCALE = 100.0

_warned: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(message)


def _project(x: Tensor, projection: nn.Module | Tensor | None) -> Tensor:
    if projection is None:
        return x
    if isinstance(projection, nn.Module):
        return projection(x)
    return x @ projection


# ---------------------------------------------------------------------------------------------
# image towers


def _vit_features(visual: VisionTransformer, images: Tensor) -> tuple[Tensor, Tensor]:
    x = visual._embeds(images)
    x = visual.transformer(x)
    pooled, _ = visual._pool(x)
    return pooled, _project(pooled, visual.proj)


def _resnet_features(visual: ModifiedResNet, images: Tensor) -> tuple[Tensor, Tensor]:
    x = visual.stem(images)
    x = visual.layer4(visual.layer3(visual.layer2(visual.layer1(x))))
    pool = visual.attnpool
    # AttentionPool2d.forward with an identity output projection: the attention output before c_proj.
    x = x.reshape(x.shape[0], x.shape[1], x.shape[2] * x.shape[3]).permute(2, 0, 1)  # NCHW -> (HW)NC
    x = torch.cat([x.mean(dim=0, keepdim=True), x], dim=0)
    x = x + pool.positional_embedding[:, None, :].to(x.dtype)
    dim = x.shape[-1]
    x, _ = F.multi_head_attention_forward(
        query=x,
        key=x,
        value=x,
        embed_dim_to_check=dim,
        num_heads=pool.num_heads,
        q_proj_weight=pool.q_proj.weight,
        k_proj_weight=pool.k_proj.weight,
        v_proj_weight=pool.v_proj.weight,
        in_proj_weight=None,
        in_proj_bias=torch.cat([pool.q_proj.bias, pool.k_proj.bias, pool.v_proj.bias]),
        bias_k=None,
        bias_v=None,
        add_zero_attn=False,
        dropout_p=0.0,
        out_proj_weight=torch.eye(dim, device=x.device, dtype=pool.c_proj.weight.dtype),
        out_proj_bias=None,
        use_separate_proj_weight=True,
        training=pool.training,
        need_weights=False,
    )
    raw = x[0]
    return raw, pool.c_proj(raw)


def _timm_features(visual: TimmModel, images: Tensor) -> tuple[Tensor, Tensor]:
    raw = visual.trunk(images)
    out = visual.head(raw)
    if raw.ndim != 2:
        raw = out
    return raw, out


def image_features(clip: nn.Module, images: Tensor) -> tuple[Tensor, Tensor]:
    """``(raw, projected)`` image features of ``clip``'s visual tower; neither is normalised."""
    visual = clip.visual
    if isinstance(visual, VisionTransformer):
        return _vit_features(visual, images)
    if isinstance(visual, ModifiedResNet) and visual.attnpool is not None:
        return _resnet_features(visual, images)
    if isinstance(visual, TimmModel):
        return _timm_features(visual, images)
    _warn_once(
        f"visual:{type(visual).__name__}",
        f"no pre-projection features for {type(visual).__name__}: raw = the tower's output",
    )
    out = clip.encode_image(images)
    if isinstance(out, tuple):
        out = out[0]
    return out, out


# ---------------------------------------------------------------------------------------------
# text towers


def pooled_length(tokens: Tensor, pool_type: str, eos_id: int | None, causal: bool) -> int:
    """How many leading positions a text tower must run to pool every row of ``tokens``.

    Under a causal mask a position never sees later ones, so the positions after the pooled token (the end of
    text, for ``argmax`` and ``eos`` pooling) are padding that changes nothing: cutting the batch after its
    furthest end of text gives the same features at a fraction of the cost (a COCO caption is ~15 of CLIP's 77
    positions). Other towers and pool types run every position.
    """
    n = tokens.shape[1]
    if not causal or tokens.shape[0] == 0 or n == 0:
        return n
    if pool_type == "argmax":
        ends = tokens.argmax(dim=-1)
    elif pool_type == "eos" and eos_id is not None:
        ends = (tokens == eos_id).int().argmax(dim=-1)
    else:
        return n
    return int(ends.max()) + 1


def _clip_text_features(clip: CLIP, tokens: Tensor) -> tuple[Tensor, Tensor]:
    cast_dtype = clip.transformer.get_cast_dtype()
    n = pooled_length(tokens, clip.text_pool_type, getattr(clip, "text_eos_id", None), clip.attn_mask is not None)
    tokens = tokens[:, :n]
    x = clip.token_embedding(tokens).to(cast_dtype)
    x = x + clip.positional_embedding[:n].to(cast_dtype)
    x = clip.transformer(x, attn_mask=None if clip.attn_mask is None else clip.attn_mask[:n, :n])
    x = clip.ln_final(x)
    pooled = text_global_pool(x, tokens, clip.text_pool_type, eos_token_id=getattr(clip, "text_eos_id", None))
    return pooled, _project(pooled, clip.text_projection)


def _text_transformer_features(text: TextTransformer, tokens: Tensor) -> tuple[Tensor, Tensor]:
    if text.cls_emb is None:  # (a CoCa tower appends a class token and pools it: every position is needed)
        n = pooled_length(tokens, text.pool_type, getattr(text, "eos_id", None), text.attn_mask is not None)
        tokens = tokens[:, :n]
    x, attn_mask = text._embeds(tokens)
    if attn_mask is not None and attn_mask.shape[-1] != x.shape[1]:  # the tower's whole causal mask
        attn_mask = attn_mask[..., : x.shape[1], : x.shape[1]]
    x = text.transformer(x, attn_mask=attn_mask)
    if text.cls_emb is not None:
        pooled = text.ln_final(text_global_pool(x, pool_type="last"))
    else:
        x = text.ln_final(x)
        pooled = text_global_pool(x, tokens, pool_type=text.pool_type, eos_token_id=getattr(text, "eos_id", None))
    return pooled, _project(pooled, text.text_projection)


def _hf_text_features(text: HFTextEncoder, tokens: Tensor) -> tuple[Tensor, Tensor]:
    attn_mask = (tokens != text.config.pad_token_id).long()
    out = text.transformer(input_ids=tokens, attention_mask=attn_mask)
    pooled = text.pooler(out, attn_mask)
    return pooled, text.proj(pooled)


def text_features(clip: nn.Module, tokens: Tensor) -> tuple[Tensor, Tensor]:
    """``(raw, projected)`` text features of ``clip``'s text tower; neither is normalised."""
    if isinstance(clip, CLIP):
        return _clip_text_features(clip, tokens)
    text = getattr(clip, "text", None)
    if isinstance(text, TextTransformer):
        return _text_transformer_features(text, tokens)
    if isinstance(text, HFTextEncoder):
        return _hf_text_features(text, tokens)
    _warn_once(
        f"text:{type(text).__name__}",
        f"no pre-projection features for {type(text).__name__}: raw = the tower's output",
    )
    out = clip.encode_text(tokens)
    if isinstance(out, tuple):
        out = out[0]
    return out, out


# ---------------------------------------------------------------------------------------------
# dimensions, read from the modules (no forward pass)


def _embed_dim(clip: nn.Module) -> int:
    for owner in (clip, getattr(clip, "text", None)):
        proj = getattr(owner, "text_projection", None)
        if isinstance(proj, nn.Linear):
            return proj.out_features
        if isinstance(proj, Tensor):
            return int(proj.shape[1])
    for owner in (getattr(clip, "text", None), clip.visual):
        dim = getattr(owner, "output_dim", None)
        if dim:
            return int(dim)
    raise ValueError(f"cannot tell the embedding size of {type(clip).__name__}")


def _image_raw_dim(clip: nn.Module, embed_dim: int) -> int:
    visual = clip.visual
    if isinstance(visual, VisionTransformer):
        if visual.proj is not None:
            return int(visual.proj.shape[0])
        return int(visual.ln_post.normalized_shape[0])
    if isinstance(visual, ModifiedResNet) and visual.attnpool is not None:
        return visual.attnpool.c_proj.in_features
    if isinstance(visual, TimmModel):
        head = dict(visual.head.named_children())
        if "pool" in head:
            return embed_dim
        if "proj" in head:
            return head["proj"].in_features
        if "mlp" in head:
            return head["mlp"].fc1.in_features
        no_classifier = getattr(visual.trunk, "num_classes", 1) == 0
        return int(getattr(visual.trunk, "num_features", embed_dim)) if no_classifier else embed_dim
    return embed_dim


def _text_raw_dim(clip: nn.Module, embed_dim: int) -> int:
    if isinstance(clip, CLIP):
        return int(clip.ln_final.normalized_shape[0])
    text = getattr(clip, "text", None)
    if isinstance(text, TextTransformer):
        return text.width
    if isinstance(text, HFTextEncoder):
        return int(text.config.hidden_size)
    return embed_dim


# ---------------------------------------------------------------------------------------------


class CrossfoldEncoder(nn.Module):
    """open_clip towers + view pooling -> :class:`engine.losses.base.Embeddings`.

    ``clip``: an open_clip ``CLIP`` / ``CustomTextCLIP``; ``pooling``: a name from
    :data:`engine.models.pooling.POOLINGS` or a :class:`ViewPool`; ``precision``: open_clip's precision
    name the model was created with (``bf16`` / ``fp16`` models get their images cast to match).
    """

    def __init__(
        self,
        clip: nn.Module,
        pooling: str | ViewPool = "mean",
        *,
        model_name: str | None = None,
        precision: str = "fp32",
        pool_hidden: int | None = None,
    ) -> None:
        super().__init__()
        self.clip = clip
        self.model_name = model_name
        self.precision = precision
        self.embed_dim = _embed_dim(clip)
        self.pool = build_pool(pooling, self.embed_dim, pool_hidden) if isinstance(pooling, str) else pooling
        self._input_dtype = get_input_dtype(precision)

    # -- facts -------------------------------------------------------------------------------

    @property
    def pooling(self) -> str:
        return self.pool.name

    @property
    def raw_dims(self) -> dict[str, int]:
        """Sizes of the ``raw`` features per modality (what SSPC's input-space anchors need)."""
        image = _image_raw_dim(self.clip, self.embed_dim)
        return {"image": image, "text": _text_raw_dim(self.clip, self.embed_dim), "shape": image}

    @property
    def context_length(self) -> int:
        return int(self.clip.context_length)

    @property
    def image_size(self) -> tuple[int, int]:
        size = getattr(self.clip.visual, "preprocess_cfg", {}).get("size") or self.clip.visual.image_size
        return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))

    @property
    def logit_scale(self) -> Tensor:
        """``exp(clip.logit_scale)`` (= 1/τ), clamped at 100 like open_clip's training does."""
        return self.clip.logit_scale.exp().clamp(max=MAX_LOGIT_SCALE)

    @torch.no_grad()
    def clamp_logit_scale_(self) -> None:
        """Clamp the parameter in place to ``[0, log 100]`` (open_clip does this after each step)."""
        self.clip.logit_scale.clamp_(0, math.log(MAX_LOGIT_SCALE))

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.clip.set_grad_checkpointing(enable)

    # -- encoders ----------------------------------------------------------------------------

    def encode_images(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """``images [N, 3, H, W]`` -> ``(raw [N, d_raw_img], emb [N, D] normalised)``."""
        if images.ndim != 4:
            raise ValueError(f"images must be [N, 3, H, W], got {tuple(images.shape)}")
        if self._input_dtype is not None:
            images = images.to(self._input_dtype)
        raw, proj = image_features(self.clip, images)
        return raw, F.normalize(proj, dim=-1)

    def encode_texts(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """``tokens [N, L]`` -> ``(raw [N, d_raw_txt], emb [N, D] normalised)``."""
        if tokens.ndim != 2:
            raise ValueError(f"tokens must be [N, L], got {tuple(tokens.shape)}")
        raw, proj = text_features(self.clip, tokens)
        return raw, F.normalize(proj, dim=-1)

    def pool_views(self, view_emb: Tensor, mask: Tensor | None = None) -> Tensor:
        """``view_emb [B, V, D]`` -> ``[B, D]`` normalised shape embeddings."""
        return self.pool(view_emb, None, mask)[0]

    def encode_shapes(self, images: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``images [B, V, 3, H, W]`` (the views of ``B`` shapes) -> ``(raw [B, d_raw], emb [B, D])``."""
        if images.ndim != 5:
            raise ValueError(f"shape views must be [B, V, 3, H, W], got {tuple(images.shape)}")
        b, v = images.shape[:2]
        raw, emb = self.encode_images(images.flatten(0, 1))
        pooled, pooled_raw = self.pool(emb.view(b, v, -1), raw.view(b, v, -1), mask)
        return pooled_raw, pooled

    def forward(
        self,
        images: Tensor | None,
        tokens: Tensor | None,
        items: Tensor | Sequence[int],
        *,
        shape: bool = False,
    ) -> Embeddings:
        """Encode a multifold batch.

        ``images [B, V, 3, H, W]`` (``V`` views or images per item) and/or ``tokens [B, C, L]``
        (``C`` captions per item), ``items [B]`` the (global) item ids. Observations are flattened item
        by item (item 0's views, then item 1's, ...), so ``items["image"] = items.repeat_interleave(V)``
        and ``items["text"] = items.repeat_interleave(C)``.

        ``shape`` (explicit, never guessed from ``V``): also emit the item-level ``shape`` modality,
        the pooled views of each item (``emb``, ``raw`` and ``items`` = ``items``). Pass it for
        shape datasets (even with ``V == 1``); image datasets leave it False.
        """
        if images is None and tokens is None:
            raise ValueError("nothing to encode: images and tokens are both None")
        ref = images if images is not None else tokens
        items = torch.as_tensor(items, dtype=torch.long, device=ref.device).view(-1)
        b = items.shape[0]
        emb: dict[str, Tensor] = {}
        ids: dict[str, Tensor] = {}
        raw: dict[str, Tensor] = {}
        if images is not None:
            if images.ndim != 5 or images.shape[0] != b:
                raise ValueError(f"images must be [B={b}, V, 3, H, W], got {tuple(images.shape)}")
            v = images.shape[1]
            r, e = self.encode_images(images.flatten(0, 1))
            emb["image"], raw["image"], ids["image"] = e, r, items.repeat_interleave(v)
            if shape:
                pooled, pooled_raw = self.pool(e.view(b, v, -1), r.view(b, v, -1))
                emb["shape"], raw["shape"], ids["shape"] = pooled, pooled_raw, items
        elif shape:
            raise ValueError("shape=True needs the views (images)")
        if tokens is not None:
            if tokens.ndim != 3 or tokens.shape[0] != b:
                raise ValueError(f"tokens must be [B={b}, C, L], got {tuple(tokens.shape)}")
            c = tokens.shape[1]
            r, e = self.encode_texts(tokens.flatten(0, 1))
            emb["text"], raw["text"], ids["text"] = e, r, items.repeat_interleave(c)
        order = [m for m in ("image", "text", "shape") if m in emb]
        return Embeddings(
            emb={m: emb[m] for m in order}, items={m: ids[m] for m in order}, raw={m: raw[m] for m in order}
        )

    def describe(self) -> dict[str, object]:
        """Plain facts for logs, run configs and the app."""
        return {
            "model_name": self.model_name,
            "precision": self.precision,
            "pooling": self.pooling,
            "embed_dim": self.embed_dim,
            "raw_dims": self.raw_dims,
            "context_length": self.context_length,
            "image_size": list(self.image_size),
            "parameters": sum(p.numel() for p in self.parameters()),
        }
