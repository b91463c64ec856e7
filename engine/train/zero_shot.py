"""Zero-shot runs: pretrained weights used as they are, recorded as a run of kind ``pretrained``.

:func:`create_pretrained_run` makes what a training run leaves behind, without training: the run folder with its
resolved ``config.yaml``, ``checkpoints/best.pt`` (the weights in the trainer's checkpoint layout, step 0, with the
preprocessing the weights came with), an ``events.jsonl`` and a catalogue row (status ``done``, kind
``pretrained``). ``trainer eval``, ``trainer search``, :func:`engine.indexing.index_run` and the app then
treat it like any run. The checkpoint's ``state_dict`` is an open_clip state dict, so
``open_clip.create_model(model, pretrained=best.pt)`` opens it too.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.catalog import Catalog
from engine.catalog.models import PRETRAINED_RUN
from engine.index.registry import default_path
from engine.models import build_encoder
from engine.models.checkpoint_io import clip_state_dict, preprocess_cfg
from engine.names import check_name, default_pretrained_run_name
from engine.run import checkpoint as ckpt
from engine.run.config import POOLING_NAMES, ConfigError, TrainConfig, save_config
from engine.run.events import Done, EventWriter
from engine.run.folder import RunFolder
from engine.workspace import Workspace

#: A run name names a folder: letters, digits, '.', '_' and '-', starting with a letter or digit.
KIND = PRETRAINED_RUN
LOSS_LABEL = "zero-shot"  # what the runs table shows in the loss column of a pretrained run


@dataclass(frozen=True)
class PretrainedRun:
    name: str
    run_dir: Path
    checkpoint: Path
    model: str
    pretrained: str
    created: bool  # False: an existing pretrained run with the same model and weights was reused


def create_pretrained_run(
    workspace: Workspace,
    catalog: Catalog,
    model: str,
    pretrained: str,
    dataset: str,
    name: str | None = None,
    pooling: str = "mean",
    device: str = "auto",
) -> PretrainedRun:
    """Make (or reuse) the zero-shot run of ``model`` with ``pretrained`` weights on ``dataset``.

    An existing run of that name is reused when it is a pretrained run of the same model and weights; any other
    run of that name is an error (runs are never overwritten)."""
    if not pretrained:
        raise ConfigError("a pretrained run needs --pretrained (an open_clip tag, hf-hub:org/repo or a file)")
    if pooling not in POOLING_NAMES:
        raise ConfigError(f"--pooling must be one of {', '.join(POOLING_NAMES)}, not {pooling!r}")
    ds = catalog.require_dataset(dataset)
    name = check_name("run", name or default_pretrained_run_name(ds.name, model, pretrained))
    folder = RunFolder.of(workspace, name)
    run_dir, best = folder.path, folder.best
    existing = catalog.run(name)
    if existing is not None or run_dir.exists():
        same = (existing is not None and getattr(existing, "kind", "train") == KIND and best.is_file()
                and (existing.config or {}).get("pretrained") == pretrained
                and (existing.config or {}).get("model") in (model, f"{model}-quickgelu"))
        if not same:
            raise ConfigError(f"run {name!r} already exists in {workspace.runs}; choose another --name")
        return PretrainedRun(name, run_dir, best, existing.config["model"], pretrained, created=False)

    encoder, _, _, _ = build_encoder(model, pretrained=pretrained, pooling=pooling, device="cpu")
    config = TrainConfig(dataset=ds.name, model=encoder.model_name or model, pretrained=pretrained, pooling=pooling,
                         max_steps=1, name=name, device=device)
    state: dict[str, Any] = {
        "name": name,
        "kind": KIND,
        "model": config.model,
        "model_name": config.model,
        "pooling": pooling,
        "step": 0,
        "epoch": 0,
        "state_dict": clip_state_dict(encoder.clip),
        "pool": encoder.pool.state_dict(),
        "preprocess_cfg": preprocess_cfg(encoder.clip),
        "config": config.as_dict(),
        "best": {},
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, folder.config)
    ckpt.save_atomic(state, best)
    events = EventWriter(folder.events)
    events.emit(Done(step=0, total=0, metrics={}))  # a finished run to whoever follows its events
    events.close()
    catalog.upsert_run(name, loss=LOSS_LABEL, kind=KIND, dataset_id=ds.id, config=config.as_dict(),
                       status="done", pid=None, run_dir=str(run_dir))
    return PretrainedRun(name, run_dir, best, config.model, pretrained, created=True)


def discard_pretrained_run(workspace: Workspace, catalog: Catalog, made: PretrainedRun) -> None:
    """Undo a run :func:`create_pretrained_run` has just made whose indexes could not be built: a zero-shot run is
    its indexes, so no row, folder or index file of it is left (a reused run is left as it was)."""
    if not made.created:
        return
    catalog.delete_run(made.name)  # its index rows go with it
    shutil.rmtree(made.run_dir, ignore_errors=True)
    shutil.rmtree(default_path(workspace.indexes, made.name, "x", "text").parent, ignore_errors=True)


def is_pretrained_run(catalog: Catalog, name: str) -> bool:
    run = catalog.run(name)
    return run is not None and getattr(run, "kind", "train") == KIND

