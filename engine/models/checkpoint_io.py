"""Model-side weight files: what open_clip can read, plus the view pool beside it.

The format is open_clip's checkpoint: a dict whose ``"state_dict"`` is ``encoder.clip.state_dict()``.
``open_clip.create_model(name, pretrained=path)`` and ``build_encoder(name, pretrained=path)`` both
read it; open_clip ignores the other keys. Crossfold adds, when the pool has parameters,
``"view_pool"``: ``encoder.pool.state_dict()``, plus ``"model_name"`` and ``"pooling"`` (plain
strings, so ``torch.load(weights_only=True)`` still reads the file) and ``"preprocess_cfg"`` (the image
preprocessing the weights expect: size, mean, std, interpolation, resize mode). The trainer's own checkpoint
(optimizer, step, ...) is its business; storing these keys in it makes it loadable here too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from engine.atomic import replacing
from engine.models import configs as _configs  # noqa: F401 - registers our configs with open_clip

STATE_DICT_KEY = "state_dict"
VIEW_POOL_KEY = "view_pool"


def encoder_weights(encoder: Any) -> dict[str, Any]:
    """The dict :func:`save_weights` writes (tensors on their current device)."""
    out: dict[str, Any] = {STATE_DICT_KEY: clip_state_dict(encoder.clip), "pooling": encoder.pooling,
                           "preprocess_cfg": preprocess_cfg(encoder.clip)}
    if encoder.model_name:
        out["model_name"] = encoder.model_name
    pool_state = encoder.pool.state_dict()
    if pool_state:
        out[VIEW_POOL_KEY] = pool_state
    return out


def clip_state_dict(clip: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``clip.state_dict()`` as a model with ordinary BatchNorm has it: open_clip's ``FrozenBatchNorm2d`` (from
    ``--lock-image-freeze-bn-stats``) has no ``num_batches_tracked``, which a strict load into a fresh model wants."""
    state = clip.state_dict()
    for name, module in clip.named_modules():
        if type(module).__name__ == "FrozenBatchNorm2d":
            state.setdefault(f"{name}.num_batches_tracked", torch.tensor(0, dtype=torch.long))
    return state


def preprocess_cfg(clip: torch.nn.Module) -> dict[str, Any]:
    """open_clip's preprocessing config of a model (plain values: a ``weights_only`` load reads it back)."""
    cfg = dict(getattr(getattr(clip, "visual", None), "preprocess_cfg", None) or {})
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()}


def save_weights(encoder: Any, path: str | os.PathLike[str]) -> Path:
    """Write the encoder's weights in open_clip's checkpoint format (atomically: temp file, rename)."""
    path = Path(path)
    with replacing(path) as tmp:
        torch.save(encoder_weights(encoder), tmp)
    return path


def read_checkpoint(path: str | os.PathLike[str]) -> Any:
    """``torch.load`` on CPU with ``weights_only=True``, memory-mapped when the file allows it (so
    peeking at a few keys of a large checkpoint does not read all of it); safetensors through safetensors."""
    if str(path).endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # legacy (non-zip) serialisation cannot be memory-mapped
        return torch.load(path, map_location="cpu", weights_only=True)


def view_pool_state(checkpoint: Any) -> dict[str, torch.Tensor] | None:
    """The ``"view_pool"`` state of a weights file (``"pool"`` of a training checkpoint) in a loaded checkpoint,
    or None (bare state dicts have none)."""
    if isinstance(checkpoint, dict):
        for key in (VIEW_POOL_KEY, "pool"):
            state = checkpoint.get(key)
            if isinstance(state, dict) and state:
                return state
    return None
