"""Training checkpoints: atomic writes, ``weights_only=True`` loads, open_clip-compatible model part.

A checkpoint is a dict of tensors and plain values only (so ``torch.load(weights_only=True)`` opens
it): ``state_dict`` holds the open_clip model exactly as ``open_clip.create_model(name,
pretrained=path)`` expects; the rest (``pool``, ``loss``, ``optimizer``, ``scaler``, ``rng``, ``step``,
``epoch``, ``batch_in_epoch``, ``config``, ``metrics``) is ours.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import torch

from engine.atomic import replacing
from engine.errors import CrossfoldError
from engine.models.weights_fit import unreadable_message

_STEP_FILE = re.compile(r"^step_(\d+)\.pt$")


class CheckpointError(CrossfoldError):
    pass


def save_atomic(obj: dict[str, Any], path: Path) -> Path:
    """Write to a temporary file in the same folder, fsync, then ``os.replace``: never half a file."""
    with replacing(path) as tmp:
        torch.save(obj, tmp)
    return path


def load(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint not found") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path}: is a directory, not a checkpoint file") from None
    except Exception as exc:  # noqa: BLE001 - any unpickling problem is the file's
        raise CheckpointError(unreadable_message(path, exc)) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not a Crossfold/open_clip checkpoint (no state_dict)")
    return state



def step_path(checkpoints: Path, step: int) -> Path:
    return checkpoints / f"step_{step:08d}.pt"


def latest(checkpoints: Path) -> Path | None:
    """The newest complete step checkpoint (temporary files never match)."""
    if not checkpoints.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in checkpoints.iterdir() if (m := _STEP_FILE.match(p.name))]
    return max(found)[1] if found else None


def prune(checkpoints: Path, keep: int, protect: set[Path]) -> None:
    found = sorted((int(m.group(1)), p) for p in checkpoints.iterdir() if (m := _STEP_FILE.match(p.name)))
    for _, p in found[:-keep] if keep > 0 else []:
        if p not in protect:
            p.unlink(missing_ok=True)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
