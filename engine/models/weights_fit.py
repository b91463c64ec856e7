"""Loading weights into a model with one-line errors: a file that is no checkpoint, or whose keys do not fit."""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch

from engine.errors import CrossfoldError
from engine.memory import drop_file_pages
from engine.models import configs as _configs  # noqa: F401 - registers our configs with open_clip
from engine.models.weights_check import few_keys, shape_problems


class CheckpointMismatch(CrossfoldError):
    """A checkpoint that is not Crossfold's/open_clip's, or whose weights do not fit the model."""


def checkpoint_part(checkpoint: Any, path: str | Path, key: str = "state_dict") -> dict[str, torch.Tensor]:
    """``checkpoint[key]`` when it is a dict of weights; :class:`CheckpointMismatch` naming the file otherwise."""
    state = checkpoint.get(key) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise CheckpointMismatch(f"{path}: not a Crossfold/open_clip checkpoint (no {key})")
    return state


def load_fitting(module: torch.nn.Module, state: dict[str, Any], path: str | Path, model: str,
                 mapped: bool = False) -> None:
    """``module.load_state_dict(state)``, refused as one line when keys are missing, unexpected or mis-shaped.

    ``mapped``: ``state``'s tensors lie in a private memory map of the file (``torch.load(mmap=True)``) and are
    not used afterwards. Where their dtypes are the module's, they are then copied a few at a time and each one's
    pages of the file dropped once copied: the weights are resident once (the module's), not twice."""
    own = module.state_dict()
    parts = shape_problems({k: tuple(v.shape) for k, v in own.items()}, state, exact=True)
    if parts:
        raise CheckpointMismatch(f"{path}: its weights do not fit model {model} ({'; '.join(parts)})")
    try:
        if mapped and all(getattr(state[k], "dtype", None) == v.dtype for k, v in own.items()):
            _copy_dropping_pages(module, state, path)
        else:
            module.load_state_dict(state)
    except (RuntimeError, TypeError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointMismatch(f"{path}: its weights do not fit model {model} ({first})") from None


def _copy_dropping_pages(module: torch.nn.Module, state: dict[str, Any], path: str | Path,
                         chunk_bytes: int = 32 << 20) -> None:
    """``module.load_state_dict(state)`` (whose keys, shapes and dtypes fit: checked) about ``chunk_bytes`` at a
    time, each chunk's pages of the mapped file dropped once copied."""
    own = module.state_dict()
    chunk: dict[str, Any] = {}
    size = 0
    for i, (key, tensor) in enumerate(state.items()):
        if isinstance(tensor, torch.Tensor) and tensor.nbytes > chunk_bytes and tensor.is_contiguous() \
                and own[key].is_contiguous():  # one large tensor (a token embedding): a slice at a time
            _copy_sliced(own[key], tensor, chunk_bytes, path)
        else:
            chunk[key] = tensor
            size += tensor.nbytes if isinstance(tensor, torch.Tensor) else 0
        if size < chunk_bytes and i + 1 < len(state):
            continue
        module.load_state_dict(chunk, strict=False)
        for t in chunk.values():
            if isinstance(t, torch.Tensor):
                _drop(t, path)
        chunk, size = {}, 0


@torch.no_grad()
def _copy_sliced(dst: torch.Tensor, src: torch.Tensor, slice_bytes: int, path: str | Path) -> None:
    flat_dst, flat_src = dst.view(-1), src.view(-1)
    step = max(1, slice_bytes // src.element_size())
    for start in range(0, flat_src.numel(), step):
        part = flat_src[start:start + step]
        flat_dst[start:start + step].copy_(part)
        _drop(part, path)


def _drop(t: torch.Tensor, path: str | Path) -> None:
    drop_file_pages(t.data_ptr(), t.nbytes, path)


def unreadable_message(path: str | Path, exc: BaseException) -> str:
    """One line for a file ``torch.load(weights_only=True)`` refused. torch's own text suggests retrying with
    ``weights_only=False``, which would run the file's code: it is never passed on."""
    text = str(exc)
    if isinstance(exc, pickle.UnpicklingError) and ("Unsupported global" in text or "GLOBAL" in text):
        return (f"{path}: refused to load: it holds Python objects other than tensors "
                "(only weights are loaded, for safety)")
    first = (text.strip().splitlines() or [type(exc).__name__])[0][:200]
    if "weights_only" in text:  # torch's advice to load unsafely is never passed on
        first = next((line.strip() for line in text.splitlines() if "Unsupported" in line), type(exc).__name__)
    return f"{path}: not a readable checkpoint (truncated, damaged or another format: {first})"


def check_weights_file(checkpoint: Any, path: str | Path) -> None:
    """A loaded file is open_clip's format: ``{"state_dict": {...}}`` or a bare dict of tensors."""
    if isinstance(checkpoint, dict) and "state_dict" in checkpoint:
        checkpoint_part(checkpoint, path)
        return
    if not isinstance(checkpoint, dict) or not checkpoint or not all(
            isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise CheckpointMismatch(f"{path}: not a Crossfold/open_clip checkpoint (no state_dict)")


_KEYS = re.compile(r'(Missing|Unexpected) key\(s\) in state_dict: (.*?)\.\s*$', re.M)


def summarize_load_error(exc: BaseException, path: str | Path, model: str) -> str | None:
    """torch's ``load_state_dict`` key dump (kilobytes) as one line, or None when it is not one."""
    text = str(exc)
    if "Error(s) in loading state_dict" not in text:
        return None
    parts = []
    for kind, keys in _KEYS.findall(text):
        names = re.findall(r'"([^"]+)"', keys)
        label = "missing keys" if kind == "Missing" else "unexpected"
        parts.append(f"{len(names)} {label}, e.g. {few_keys(names)}")
    sizes = re.findall(r"size mismatch for (\S+):", text)
    if sizes:
        parts.append(f"{len(sizes)} of another shape, e.g. {few_keys(sizes)}")
    return f"{path}: its weights do not fit model {model} ({'; '.join(parts) or 'keys differ'})"
