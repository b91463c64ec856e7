"""Build an encoder by model name: ``build_encoder(name, pretrained, pooling, ...)``.

Like open_clip's ``create_model_and_transforms`` plus the tokenizer, wrapped for Crossfold:

* ``model_name``: any open_clip name (``open_clip.list_models()``: ``ViT-B-32``, ``RN50``, ...) or one
  of the small configs we ship (``cf-vit-tiny-64``, ...; see :mod:`engine.models.configs`).
  ``hf-hub:`` / ``local-dir:`` names are passed through to open_clip.
* ``pretrained``: None (random init; nothing is fetched), an open_clip tag for that model (``openai``,
  ``laion2b_s34b_b79k``, ...; open_clip downloads it, so it needs the network or a warm cache), or a
  local checkpoint file in open_clip's format (``{"state_dict": ...}`` or a bare state dict,
  ``module.`` prefixes and ``.safetensors`` accepted). A file written by
  :func:`engine.models.checkpoint_io.save_weights` also restores the view pool's weights.
  As in open_clip, a known tag wins over a file of the same name.
* ``precision``: open_clip's names. ``fp32``, ``amp``, ``amp_bf16`` build an fp32 model (autocast is
  the trainer's); ``fp16`` / ``bf16`` cast the weights (LayerNorm kept fp32), ``pure_fp16`` /
  ``pure_bf16`` cast everything.
* ``grad_checkpointing``: passed to open_clip's ``set_grad_checkpointing``.

Models whose text tower is a HuggingFace model (``hf_model_name`` configs) need the HuggingFace hub
(or its cache) for their tokenizer and model config even without pretrained weights.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import open_clip
import torch

from engine.errors import CrossfoldError
from engine.models import pretrained as pretrained_weights
from engine.models.checkpoint_io import view_pool_state
from engine.models.configs import get_model_config, register_model_configs
from engine.models.encoder import CrossfoldEncoder
from engine.models.names import PRECISIONS
from engine.models.pooling import POOLINGS
from engine.models.weights_fit import load_fitting, summarize_load_error

log = logging.getLogger(__name__)

_SCHEMAS = ("hf-hub:", "local-dir:")

Transform = Callable[[Any], torch.Tensor]


def resolve_pretrained(model_name: str, pretrained: str | os.PathLike[str] | None) -> tuple[str, str | None]:
    """``("none", None)``, ``("tag", tag)``, ``("hf-hub", name)`` or ``("file", path)`` without fetching anything;
    :class:`CrossfoldError` otherwise (see :mod:`engine.models.pretrained` for the resolution that fetches)."""
    if model_name.startswith(pretrained_weights.HF_HUB_PREFIX):
        return "hf-hub", model_name
    if pretrained is None or str(pretrained).strip() == "":
        return "none", None
    value = str(pretrained)
    if value.startswith(pretrained_weights.HF_HUB_PREFIX):
        return "hf-hub", value
    if open_clip.get_pretrained_cfg(model_name, value):
        return "tag", value
    path = Path(value).expanduser()
    if path.is_file():
        return "file", str(path)
    if path.exists():
        raise CrossfoldError(f"{path}: pretrained weights must be a file")
    if pretrained_weights.looks_like_path(value):
        raise CrossfoldError(f"{path}: checkpoint file not found")
    tags = open_clip.list_pretrained_tags_by_model(model_name)
    known = f"known tags: {', '.join(tags)}" if tags else "open_clip has no pretrained tags for it"
    raise CrossfoldError(f"{value!r} is neither a pretrained tag of {model_name} nor a file ({known})")


def build_encoder(
    model_name: str,
    pretrained: str | os.PathLike[str] | None = None,
    pooling: str = "mean",
    device: str | torch.device = "cpu",
    precision: str = "fp32",
    grad_checkpointing: bool = False,
    *,
    pool_hidden: int | None = None,
    aug_cfg: dict[str, Any] | None = None,
    cache_dir: str | None = None,
    preprocess_cfg: dict[str, Any] | None = None,
    **model_kwargs: Any,
) -> tuple[CrossfoldEncoder, Transform, Transform, Callable[..., torch.Tensor]]:
    """``(encoder, preprocess_train, preprocess_val, tokenizer)`` for ``model_name``.

    ``preprocess_*`` turn a PIL image into a normalised ``[3, H, W]`` tensor at the model's image size
    (train: open_clip's random resized crop, scale ``aug_cfg`` or (0.9, 1); val: resize + centre crop), with the
    mean, std, interpolation and resize mode the weights came with (a tag's, an ``hf-hub:`` repo's, a Crossfold
    file's), overridden by ``preprocess_cfg`` (a checkpoint's ``preprocess_cfg``).
    ``tokenizer(list_of_str) -> LongTensor [N, context_length]``; see :func:`tokenize_multifold`.
    ``model_kwargs`` go to open_clip's ``create_model`` (e.g. ``force_image_size``).
    """
    register_model_configs()
    if not model_name.startswith(_SCHEMAS):
        get_model_config(model_name)  # a clear error for an unknown name
    if precision not in PRECISIONS:
        raise CrossfoldError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if pooling not in POOLINGS:
        raise CrossfoldError(f"unknown view pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")
    if model_name.startswith("local-dir:"):
        source = pretrained_weights.Pretrained("none", model_name)
    else:
        source = pretrained_weights.resolve(model_name, pretrained, cache_dir=cache_dir)
    chosen = {**source.preprocess, **pretrained_weights.preprocess_of(preprocess_cfg)}
    transform_kwargs = {f"image_{k}": (tuple(v) if isinstance(v, list) else v) for k, v in chosen.items()}
    # a local torch file is loaded here, not by open_clip: its weights are then resident once, not twice
    own_load = source.kind == "file" and not model_kwargs.get("jit") and Path(str(source.path)).suffix not in (
        ".safetensors", ".npz", ".npy")

    try:
        with _quiet_root_warnings(source.path is None or own_load):
            clip, preprocess_train, preprocess_val = open_clip.create_model_and_transforms(
                source.model_name,
                pretrained=source.path if source.kind in ("tag", "file") else None,
                load_weights=not own_load,
                precision=precision,
                device=device,
                aug_cfg=aug_cfg,
                cache_dir=cache_dir,
                pretrained_image=False,
                pretrained_text=False,  # never fetch tower weights nobody asked for
                **transform_kwargs,
                **model_kwargs,
            )
            if own_load:
                _load_file_weights(clip, str(source.path), source.model_name)
    except (RuntimeError, KeyError, ValueError, FileNotFoundError) as e:
        if source.kind == "none":
            raise
        short = summarize_load_error(e, str(source.source), source.model_name) if source.kind == "file" \
            else None
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        what = f"{source.source}: not open_clip weights for {source.model_name} ({first})"
        raise CrossfoldError(short or what) from e

    tokenizer_name = model_name if source.kind == "hf-hub" and _hf_tokenizer(source) else source.model_name
    tokenizer = open_clip.get_tokenizer(tokenizer_name, cache_dir=cache_dir)
    if source.kind == "hf-hub":  # runs record the hf-hub: name, not the cache folder open_clip built it from
        name = model_name if model_name.startswith(pretrained_weights.HF_HUB_PREFIX) else str(source.source)
    else:
        name = source.model_name  # a tag trained with QuickGELU may have chosen open_clip's -quickgelu config
    encoder = CrossfoldEncoder(clip, pooling, model_name=name, precision=precision, pool_hidden=pool_hidden)
    encoder.pool.to(device)
    if source.kind == "file" and any(True for _ in encoder.pool.parameters()):
        state = view_pool_state(source.checkpoint)
        if state is not None:
            encoder.pool.load_state_dict(state)
        else:
            log.info("%s holds no view-pool weights: %s pooling starts as mean pooling", source.path, pooling)
    if grad_checkpointing:
        encoder.set_grad_checkpointing(True)
    return encoder, preprocess_train, preprocess_val, tokenizer


def _load_file_weights(clip: torch.nn.Module, path: str, model_name: str) -> None:
    """A local weights file into ``clip`` as open_clip's ``load_checkpoint`` loads it, with the file memory-mapped
    and its pages dropped as they are copied (:func:`engine.models.weights_fit.load_fitting`) where its keys and
    shapes are the model's (a file that cannot be mapped: copied as it is); otherwise (a layout open_clip converts)
    by open_clip."""
    try:
        checkpoint, mapped = pretrained_weights.read_weights_mapped(path)
        state = pretrained_weights.state_dict_of(checkpoint, path)
    except CrossfoldError:  # open_clip reads it and says what is wrong
        checkpoint = state = None
    own = clip.state_dict()
    if state is None or state.keys() != own.keys() or any(
            tuple(getattr(state[k], "shape", ())) != tuple(v.shape) for k, v in own.items()):
        checkpoint = state = None
        open_clip.load_checkpoint(clip, path, strict=True, weights_only=True, device="cpu")
        return
    load_fitting(clip, state, path, model_name, mapped=mapped)


def _hf_tokenizer(source: pretrained_weights.Pretrained) -> bool:
    """An ``hf-hub:`` model whose text config names a HuggingFace tokenizer (fetched by open_clip from the hub)."""
    return bool(source.checkpoint.get("model_cfg", {}).get("text_cfg", {}).get("hf_tokenizer_name"))


def load_encoder(
    path: str | os.PathLike[str],
    model_name: str | None = None,
    pooling: str | None = None,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
) -> tuple[CrossfoldEncoder, Transform, Transform, Callable[..., torch.Tensor]]:
    """:func:`build_encoder` from a weights file, taking model name and pooling from it when stored."""
    checkpoint = pretrained_weights.read_weights(path)
    if isinstance(checkpoint, dict):
        model_name = model_name or checkpoint.get("model_name") or checkpoint.get("model")
        pooling = pooling or checkpoint.get("pooling")
    del checkpoint
    if not model_name:
        raise CrossfoldError(f"{path}: no model name stored in the file; name the model")
    return build_encoder(model_name, str(path), pooling=pooling or "mean", device=device, precision=precision)


def tokenize_multifold(tokenizer: Callable[..., torch.Tensor], captions: Sequence[Sequence[str]]) -> torch.Tensor:
    """``B`` items' captions (``C`` each) -> ``LongTensor [B, C, L]``, item by item."""
    counts = {len(c) for c in captions}
    if len(counts) > 1:
        raise ValueError(f"every item needs the same number of captions, got {sorted(counts)}")
    flat = [text for item in captions for text in item]
    tokens = tokenizer(flat)
    return tokens.view(len(captions), -1, tokens.shape[-1])


@contextmanager
def _quiet_root_warnings(enabled: bool) -> Iterator[None]:
    """open_clip warns on the root logger that no pretrained weights were loaded: expected when none were asked."""
    root = logging.getLogger()
    level = root.level
    if enabled:
        root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)
