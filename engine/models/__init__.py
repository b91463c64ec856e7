"""open_clip encoders, view pooling and fused embeddings.

``build_encoder(name, pretrained=None, pooling="mean", device="cpu", precision="fp32",
grad_checkpointing=False) -> (CrossfoldEncoder, preprocess_train, preprocess_val, tokenizer)``;
``CrossfoldEncoder(images [B,V,3,H,W], tokens [B,C,L], items [B], shape=...) -> Embeddings``.

The names below are loaded lazily (PEP 562): importing this package, or ``engine.models.names`` (the model
names and precisions the CLI's parser needs), does not import torch or open_clip. The first name taken from
the package that needs them imports them, and importing ``engine.models.configs`` (which every torch-side module
here does, directly or through the factory; and this package does when open_clip is loaded already) registers our
shipped configs with open_clip, so ``open_clip.create_model`` and ``open_clip.get_tokenizer`` then know
``cf-vit-tiny-64`` and the others by name.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

from engine.models.names import DEFAULT_MODEL, PRECISIONS, shipped_model_names

if TYPE_CHECKING:
    from engine.models.checkpoint_io import save_weights
    from engine.models.configs import config_summary, list_model_names, register_model_configs
    from engine.models.encoder import CrossfoldEncoder
    from engine.models.factory import build_encoder, load_encoder, resolve_pretrained, tokenize_multifold
    from engine.models.fusion import fuse, fuse_first, fuse_pairs
    from engine.models.pooling import POOLINGS, AttentionPool, GatedAttentionPool, MeanPool, ViewPool, build_pool

# name -> the submodule that defines it (imported on first use).
_LAZY: dict[str, str] = {
    "save_weights": "checkpoint_io",
    "config_summary": "configs",
    "list_model_names": "configs",
    "register_model_configs": "configs",
    "CrossfoldEncoder": "encoder",
    "build_encoder": "factory",
    "load_encoder": "factory",
    "resolve_pretrained": "factory",
    "tokenize_multifold": "factory",
    "fuse": "fusion",
    "fuse_first": "fusion",
    "fuse_pairs": "fusion",
    "POOLINGS": "pooling",
    "AttentionPool": "pooling",
    "GatedAttentionPool": "pooling",
    "MeanPool": "pooling",
    "ViewPool": "pooling",
    "build_pool": "pooling",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)  # configs registers on import
    globals()[name] = value
    return value


if "open_clip" in sys.modules:  # open_clip is in use already: register now, as an eager import would have
    importlib.import_module(f"{__name__}.configs")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "DEFAULT_MODEL",
    "POOLINGS",
    "PRECISIONS",
    "AttentionPool",
    "CrossfoldEncoder",
    "GatedAttentionPool",
    "MeanPool",
    "ViewPool",
    "build_encoder",
    "build_pool",
    "config_summary",
    "fuse",
    "fuse_first",
    "fuse_pairs",
    "list_model_names",
    "load_encoder",
    "register_model_configs",
    "resolve_pretrained",
    "save_weights",
    "shipped_model_names",
    "tokenize_multifold",
]
