"""Open a run's encoder from its checkpoint (best by default) for evaluation, indexing and search, on an inference
path (:mod:`engine.models.inference`: exact unless asked; index builds and queries ask for theirs)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from engine.catalog import Catalog
from engine.memory import mark, trim_heap
from engine.models import build_encoder
from engine.models.inference import InferencePath, index_stamp, prepare_for_inference
from engine.models.weights_fit import checkpoint_part, load_fitting
from engine.run import checkpoint as ckpt
from engine.run.config import TrainConfig
from engine.run.device import pick_device
from engine.run.folder import RunFolder


@dataclass
class RestoredRun:
    name: str
    config: TrainConfig
    checkpoint: Path
    checkpoint_sha256: str
    step: int
    encoder: torch.nn.Module
    preprocess: Any
    tokenizer: Any
    device: torch.device
    inference: InferencePath = InferencePath.EXACT

    @property
    def index_stamp(self) -> str:
        """What an index of this encoder's vectors is stamped with: the checkpoint's hash and the inference path."""
        return index_stamp(self.checkpoint_sha256, self.inference)


def run_checkpoint(run_dir: Path, which: str = "best") -> Path:
    """``best`` (falling back to the latest when no validation ran), ``latest``, or a path."""
    folder = RunFolder(run_dir)
    if which not in ("best", "latest"):
        path = Path(which)
        if not path.is_file():
            raise ckpt.CheckpointError(f"{path}: no such checkpoint")
        return path
    if which == "best" and folder.best.is_file():
        return folder.best
    found = folder.latest_checkpoint()
    if found is None:
        raise ckpt.CheckpointError(f"run in {run_dir} has no checkpoint yet")
    return found


def restore_run(catalog: Catalog, name: str, which: str = "best", device: str = "auto",
                inference: InferencePath | Callable[[torch.device], InferencePath] = InferencePath.EXACT
                ) -> RestoredRun:
    """The run's model on ``device`` (``auto``: CUDA, then MPS, then the CPU) made ready for ``inference`` (a path,
    or the path for the device picked)."""
    run = catalog.require_run(name)
    path = run_checkpoint(Path(run.run_dir), which)
    state, mapped = ckpt.load_mapped(path)  # pages dropped as the weights are copied: resident once, not twice
    mark("checkpoint read")
    saved = state.get("config") if isinstance(state.get("config"), dict) else {}
    config = TrainConfig(**{**run.config, **{k: v for k, v in saved.items() if k == "model"}})
    dev = pick_device(device, mps=True)
    way = inference(dev) if callable(inference) else inference
    # the preprocessing the weights were trained with (a pretrained tag's mean and std, ...), kept in the checkpoint
    encoder, _, preprocess, tokenizer = build_encoder(config.model, pooling=config.pooling, device=str(dev),
                                                      preprocess_cfg=state.get("preprocess_cfg"))
    mark("model built (fp32)")
    load_fitting(encoder.clip, checkpoint_part(state, path), path, config.model, mapped=mapped)
    load_fitting(encoder.pool, checkpoint_part(state, path, "pool"), path, f"{config.model} (view pool)",
                 mapped=mapped)
    step = _step(state, path)
    del state
    encoder.to(dev).eval()
    mark("weights loaded (fp32)")
    prepare_for_inference(encoder, way, dev)
    trim_heap()  # the fp32 weights the fast path replaced, a copy left on the CPU for a GPU: back to the OS
    mark(f"inference path ready ({way.value})")
    return RestoredRun(name, config, path, ckpt.sha256(path), step, encoder, preprocess, tokenizer, dev, way)


def _step(state: dict[str, Any], path: Path) -> int:
    try:
        return int(state["step"])
    except (KeyError, TypeError, ValueError):
        raise ckpt.CheckpointError(f"{path}: not a Crossfold training checkpoint (no step)") from None
