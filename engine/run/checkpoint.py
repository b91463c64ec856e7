"""Training checkpoints: atomic writes, ``weights_only=True`` loads, open_clip-compatible model part.

A checkpoint is a dict of tensors and plain values only (so ``torch.load(weights_only=True)`` opens
it): ``state_dict`` holds the open_clip model exactly as ``open_clip.create_model(name,
pretrained=path)`` expects; the rest is ours: ``name``, ``model`` and ``model_name`` (the open_clip name),
``pooling``, ``pool`` (the view pooling's weights), ``preprocess_cfg``, ``step``, ``epoch``, ``config`` (the run's
options) and ``best`` (``best_score``, ``best_step``, ``best_checkpoint``, ``val``: the best validation so far;
empty before one). A training checkpoint adds what exact resume needs, ``loss``, ``optimizer``, ``scaler`` and
``rng`` (``{"torch": ...}``); a zero-shot run's (:mod:`engine.train.zero_shot`) adds ``kind`` (``pretrained``).
Where checkpoints go and how step checkpoints are named: :class:`engine.run.folder.RunFolder`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from engine.atomic import replacing
from engine.errors import CrossfoldError
from engine.models.weights_fit import unreadable_message


class CheckpointError(CrossfoldError):
    pass


def save_atomic(obj: dict[str, Any], path: Path) -> Path:
    """Write to a temporary file in the same folder, fsync, then ``os.replace``: never half a file."""
    with replacing(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)  # through a Python file: a full disk is an OSError (ENOSPC), not torch's RuntimeError
    return path


def load(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    return _read(path, map_location, mmap=False)[0]


def load_mapped(path: Path) -> tuple[dict[str, Any], bool]:
    """The checkpoint on the CPU, its tensors in a private memory map of the file where it can be mapped (a zip
    file, as every checkpoint written since torch 1.6), and whether it was: their pages are read as they are used
    and can be dropped once copied (:func:`engine.models.weights_fit.load_fitting`)."""
    return _read(path, "cpu", mmap=True)


def _read(path: Path, map_location: str | torch.device, mmap: bool) -> tuple[dict[str, Any], bool]:
    try:
        try:
            state = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
        except RuntimeError as exc:  # a legacy (non-zip) file cannot be mapped: read as it is
            if not mmap or ("mmap" not in str(exc) and "zip" not in str(exc).lower()):
                raise
            mmap = False
            state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint not found") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path}: is a directory, not a checkpoint file") from None
    except Exception as exc:  # noqa: BLE001 - any unpickling problem is the file's
        raise CheckpointError(unreadable_message(path, exc)) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not a Crossfold/open_clip checkpoint (no state_dict)")
    return state, mmap


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
