"""Whether a weights file fits a model, told in one line before any job starts (the "Index with a pretrained
model…" dialog asks it on a worker).

:func:`weights_file_problem` reads the file as every load does (:func:`engine.models.pretrained.read_weights`:
``weights_only=True``, any layout) and compares its key names and shapes with the model's, built on torch's
``meta`` device (no memory, no initialisation cost). A positional embedding may differ in length (open_clip resizes
it), never in width. torch and open_clip are imported when it is called, not with this module.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from engine.errors import CrossfoldError

_SHOWN = 3
_RESIZED = "positional_embedding"  # open_clip interpolates these to the model's length when loading


def model_shapes(model_name: str) -> dict[str, tuple[int, ...]]:
    """Every key of ``model_name``'s state dict and its shape (the model built on the ``meta`` device)."""
    import open_clip
    import torch

    from engine.models import configs as _configs  # noqa: F401 - registers our configs with open_clip

    root = logging.getLogger()
    root.addFilter(_no_random_init_warning)  # it has no weights on purpose: open_clip's "initialized randomly" is wrong
    try:
        with torch.device("meta"):
            model = open_clip.create_model(model_name, pretrained=None, device="meta")
    finally:
        root.removeFilter(_no_random_init_warning)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _no_random_init_warning(record: logging.LogRecord) -> bool:
    """Drops open_clip's root-logger warning that a model built without weights was initialized randomly."""
    return not str(record.msg).startswith("No pretrained weights loaded for model")


def shape_problems(own: dict[str, tuple[int, ...]], state: dict[str, Any], exact: bool = False) -> list[str]:
    """How ``state`` (a file's state dict) fails to fit ``own`` (a model's key shapes); empty when it fits.
    ``exact``: every shape must be the model's (loading as it is); otherwise a positional embedding may differ in
    length (open_clip resizes it)."""
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and hasattr(state[k], "shape") and (
        tuple(state[k].shape) != own[k] if exact else not _fits(k, tuple(state[k].shape), own[k]))]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys, e.g. {few_keys(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected, e.g. {few_keys(unexpected)}")
    if shapes:
        k = shapes[0]
        parts.append(f"{len(shapes)} of another shape, e.g. {k} {tuple(state[k].shape)} vs {own[k]}")
    return parts


def weights_file_problem(model_name: str, path: str | os.PathLike[str]) -> str | None:
    """One line saying why the file at ``path`` cannot be loaded into ``model_name`` (unreadable, no state dict,
    keys or shapes that do not fit); None when it fits."""
    from engine.models.pretrained import read_weights, state_dict_of

    try:
        state = state_dict_of(read_weights(path), path)
        own = model_shapes(model_name)
    except CrossfoldError as exc:
        return str(exc).splitlines()[0]
    except RuntimeError as exc:  # open_clip cannot build the model (an unknown name)
        return f"model {model_name} cannot be built: {(str(exc).splitlines() or [type(exc).__name__])[0]}"
    parts = shape_problems(own, state)
    return f"{path}: its weights do not fit model {model_name} ({'; '.join(parts)})" if parts else None


def _fits(key: str, found: tuple[int, ...], wanted: tuple[int, ...]) -> bool:
    if found == wanted:
        return True
    return key.endswith(_RESIZED) and len(found) == len(wanted) and found[-1:] == wanted[-1:]


def few_keys(keys: list[str]) -> str:
    """The first few of ``keys``, and "..." when there are more (for a one-line message)."""
    return ", ".join(keys[:_SHOWN]) + (", ..." if len(keys) > _SHOWN else "")
