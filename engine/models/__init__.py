"""open_clip encoders, view pooling and fused embeddings.

``build_encoder(name, pretrained=None, pooling="mean", device="cpu", precision="fp32",
grad_checkpointing=False) -> (CrossfoldEncoder, preprocess_train, preprocess_val, tokenizer)``;
``CrossfoldEncoder(images [B,V,3,H,W], tokens [B,C,L], items [B], shape=...) -> Embeddings``.

Importing this package registers our shipped configs with open_clip, so ``open_clip.create_model`` and
``open_clip.get_tokenizer`` know ``cf-vit-tiny-64`` and the others by name.
"""

from engine.models.checkpoint_io import save_weights
from engine.models.configs import config_summary, list_model_names, register_model_configs
from engine.models.encoder import CrossfoldEncoder
from engine.models.factory import build_encoder, load_encoder, resolve_pretrained, tokenize_multifold
from engine.models.fusion import fuse, fuse_first, fuse_pairs
from engine.models.names import DEFAULT_MODEL, PRECISIONS, shipped_model_names
from engine.models.pooling import POOLINGS, AttentionPool, GatedAttentionPool, MeanPool, ViewPool, build_pool

register_model_configs()

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
