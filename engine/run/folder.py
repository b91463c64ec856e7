"""A run's folder on disk: the one place that names its files. Torch-free.

::

    <workspace>/runs/<name>/
        config.yaml           the run's resolved options (:class:`engine.run.config.TrainConfig`)
        events.jsonl          its event stream, one JSON object a line (:mod:`engine.run.events`)
        trainer.log           the output of a run the app started (:mod:`app.detached`)
        .lock                 held (``flock``) by the process writing the run (:mod:`engine.locks`)
        tensorboard/          scalars for TensorBoard (``--report-to``, :mod:`engine.train.tensorboard_log`)
        checkpoints/
            step_00000300.pt  a checkpoint every ``save_frequency`` steps (the newest few are kept)
            best.pt           the checkpoint of the best validation so far (a zero-shot run: its weights)

Every reader and writer of a run's files asks :class:`RunFolder` for their paths: the trainer, zero-shot runs,
restoring a model, ``trainer eval``, the doctor, run following and the app.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from engine.locks import holding
from engine.workspace import Workspace


@dataclass(frozen=True, init=False)
class RunFolder:
    """The folder of one run (``path``, which need not exist yet) and the paths of its files."""

    path: Path

    CONFIG: ClassVar[str] = "config.yaml"
    EVENTS: ClassVar[str] = "events.jsonl"
    LOG: ClassVar[str] = "trainer.log"
    CHECKPOINTS: ClassVar[str] = "checkpoints"
    LOCK: ClassVar[str] = ".lock"
    BEST: ClassVar[str] = "best.pt"
    TENSORBOARD: ClassVar[str] = "tensorboard"
    _STEP_FILE: ClassVar[re.Pattern[str]] = re.compile(r"^step_(\d+)\.pt$")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        object.__setattr__(self, "path", Path(path))

    @classmethod
    def of(cls, workspace: Workspace, name: str) -> RunFolder:
        """The folder of run ``name`` in ``workspace`` (``runs/<name>``)."""
        return cls(workspace.runs / name)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def lock(self) -> Path:
        """The run's name lock: held by the process that writes the run, for as long as it does."""
        return self.path / self.LOCK

    def holding(self, doing: str) -> AbstractContextManager[None]:
        """Hold the run's name while writing it (creating its folder); :class:`engine.locks.NameInUse` at once
        when a live process holds it."""
        self.path.mkdir(parents=True, exist_ok=True)
        return holding(self.lock, f"run {self.name!r}", doing)

    @property
    def config(self) -> Path:
        return self.path / self.CONFIG

    @property
    def events(self) -> Path:
        return self.path / self.EVENTS

    @property
    def tensorboard(self) -> Path:
        """TensorBoard's event files of a run started with ``--report-to tensorboard``."""
        return self.path / self.TENSORBOARD

    @property
    def log(self) -> Path:
        """Where the app puts the output of a run it starts (:mod:`app.detached`)."""
        return self.path / self.LOG

    @property
    def checkpoints(self) -> Path:
        return self.path / self.CHECKPOINTS

    @property
    def best(self) -> Path:
        return self.checkpoints / self.BEST

    def looks_like_run(self) -> bool:
        """The folder holds at least one of a run's files."""
        return any(p.exists() for p in (self.events, self.config, self.checkpoints, self.log))

    # --------------------------------------------------------------------------------------- step checkpoints

    def step_checkpoint(self, step: int) -> Path:
        return self.checkpoints / f"step_{step:08d}.pt"

    @classmethod
    def step_of(cls, path: str | os.PathLike[str]) -> int | None:
        """The step of a step checkpoint's file name, ``None`` for any other file."""
        match = cls._STEP_FILE.match(Path(path).name)
        return int(match.group(1)) if match else None

    def step_checkpoints(self) -> list[Path]:
        """The complete step checkpoints, oldest step first (none when there is no checkpoints folder)."""
        if not self.checkpoints.is_dir():
            return []
        found = [(step, p) for p in self.checkpoints.iterdir() if (step := self.step_of(p)) is not None]
        return [p for _, p in sorted(found)]

    def latest_checkpoint(self) -> Path | None:
        """The newest complete step checkpoint (temporary files never match)."""
        found = self.step_checkpoints()
        return found[-1] if found else None

    def remove_stale_temp(self) -> list[Path]:
        """Remove the temporary files a killed write left (``.step_00000300.pt.<random>.tmp`` and the like, named by
        :func:`engine.atomic.replacing`) in the folder and its checkpoints; call it while holding the run (no live
        writer of the run owns one then). Returns what was removed."""
        removed: list[Path] = []
        for folder in (self.path, self.checkpoints):
            try:
                found = [p for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")
                         and p.is_file()]
            except OSError:
                continue
            for p in found:
                try:
                    p.unlink()
                    removed.append(p)
                except OSError:
                    pass
        return removed

    def prune_checkpoints(self, keep: int, protect: Iterable[Path] = ()) -> None:
        """Remove all but the newest ``keep`` step checkpoints, never one in ``protect``; ``keep`` 0 removes
        nothing."""
        kept = set(protect)
        for p in self.step_checkpoints()[:-keep] if keep > 0 else []:
            if p not in kept:
                p.unlink(missing_ok=True)
