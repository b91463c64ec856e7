"""Model configs: open_clip's own (``ViT-B-32``, ``RN50``, ...) plus the small ones we ship.

Our configs live in ``engine/resources/model_configs/*.json`` in open_clip's model-config format
(``{"embed_dim", "vision_cfg", "text_cfg"}``) and become ordinary open_clip names once
:func:`register_model_configs` has run: ``open_clip.create_model("cf-vit-tiny-64")`` and
``open_clip.get_tokenizer("cf-vit-tiny-64")`` then work like for any built-in name. None of ours sets
``hf_tokenizer_name`` (and no name contains ``siglip``), so open_clip gives them its ``SimpleTokenizer``
(BPE vocabulary shipped inside the package: no network) with the config's ``context_length``.

Extra config folders (or single ``.json`` files) can be added with the ``CROSSFOLD_MODEL_CONFIGS``
environment variable (paths separated by ``os.pathsep``).
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any

import open_clip

from engine.errors import CrossfoldError
from engine.models.names import config_paths, shipped_model_names

_registered: set[Path] = set()


def register_model_configs(*paths: str | os.PathLike[str]) -> list[str]:
    """Make our configs (and ``paths``, folders or ``.json`` files) known to open_clip by name.

    Idempotent: a path already registered in this process is not added again (open_clip keeps a
    list of folders and rescans all of them on every addition). Returns the names now available.
    """
    for path in [*config_paths(), *(Path(p) for p in paths)]:
        resolved = path.resolve()
        if resolved in _registered or not resolved.exists():
            continue
        open_clip.add_model_config(resolved)
        _registered.add(resolved)
    return open_clip.list_models()


def list_model_names() -> list[str]:
    """Every model name ``build_encoder`` accepts: open_clip's built-ins plus ours."""
    return register_model_configs()


def get_model_config(model_name: str) -> dict[str, Any]:
    """A copy of the open_clip config of ``model_name``; :class:`CrossfoldError` when unknown."""
    register_model_configs()
    cfg = open_clip.get_model_config(model_name)
    if cfg is None:
        known = open_clip.list_models()
        close = difflib.get_close_matches(model_name, known, n=5, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; ours: {', '.join(shipped_model_names())}"
        raise CrossfoldError(f"unknown model {model_name!r}{hint}")
    return cfg


def config_summary(model_name: str) -> dict[str, Any]:
    """The facts a person picks a model by: image size, context length, widths, depths, embed dim."""
    cfg = get_model_config(model_name)
    vision, text = cfg["vision_cfg"], cfg["text_cfg"]
    return {
        "name": model_name,
        "embed_dim": cfg["embed_dim"],
        "image_size": vision.get("image_size", 224),
        "vision": vision.get("timm_model_name")
        or ("resnet" if isinstance(vision.get("layers"), (list, tuple)) else "vit"),
        "vision_width": vision.get("width"),
        "vision_layers": vision.get("layers"),
        "patch_size": vision.get("patch_size"),
        "context_length": text.get("context_length", 77),
        "text": text.get("hf_model_name") or "transformer",
        "text_width": text.get("width"),
        "text_layers": text.get("layers"),
        "shipped": model_name in shipped_model_names(),
    }


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load and check one config file (open_clip silently skips files lacking the three keys)."""
    with open(path, encoding="utf-8") as f:
        cfg = json.load(f)
    missing = [k for k in ("embed_dim", "vision_cfg", "text_cfg") if k not in cfg]
    if missing:
        raise CrossfoldError(f"{path}: not an open_clip model config (missing {', '.join(missing)})")
    return cfg


# Importing this module (which every torch-side module of engine.models does, directly or through the
# factory) makes our names known to open_clip, as importing the package did before it became lazy.
register_model_configs()
