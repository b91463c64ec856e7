"""A run's scalars in TensorBoard (``--report-to tensorboard``), fed by the run's own events.

The training loop hands every event it writes to :class:`TensorBoardLog` (an :class:`~engine.run.events.EventWriter`
listener), which writes into the run's ``tensorboard/`` folder (:attr:`engine.run.folder.RunFolder.tensorboard`),
so ``tensorboard --logdir <workspace>/runs`` shows every run side by side. Tags are open_clip's, at the run's own
optimiser steps:

* each ``progress``: ``train/loss``, ``train/<part>_loss`` for every loss part, ``train/lr``, ``train/scale`` (the
  logit scale), ``train/samples_per_second`` and ``train/samples_per_second_per_gpu``;
* each ``eval``: ``<split>/<key>`` for every metric (``val/text_to_shape_R@1``, ``val/mean_R@1``: keys of
  :mod:`engine.metric_keys`), the closing test evaluation as ``test/...``.

A resumed run purges what an earlier attempt wrote past its checkpoint's step, as its ``resumed`` event voids it.
The ``tensorboard`` package is an extra (``pip install 'crossfold[tensorboard]'``): without it the run is refused in
one line before it starts.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.errors import CrossfoldError
from engine.run import events as ev
from engine.run.config import TrainConfig

INSTALL_HINT = "pip install 'crossfold[tensorboard]'"
FLUSH_SECONDS = 5  # a run being watched shows its points within seconds


class TensorBoardMissing(CrossfoldError):
    pass


def wanted(config: TrainConfig) -> bool:
    """Whether the run reports to TensorBoard (``--report-to tensorboard`` or ``all``)."""
    return config.report_to in ("tensorboard", "all")


def available() -> bool:
    """Whether the ``tensorboard`` package is installed (found, not imported)."""
    return importlib.util.find_spec("tensorboard") is not None


def for_run(config: TrainConfig, folder: Path) -> TensorBoardLog | None:
    """The TensorBoard log of a run that asked for one, in ``folder``; None when it did not. Refused in one line,
    before anything is written, when the package is missing."""
    if not wanted(config):
        return None
    if not available():
        raise TensorBoardMissing(f"--report-to {config.report_to} needs the tensorboard package: {INSTALL_HINT}")
    return TensorBoardLog(folder)


def part_tag(part: str) -> str:
    """open_clip's name of a loss part: ``train/<part>_loss`` (``train/contrastive_loss``)."""
    return f"train/{part}" if part.endswith("loss") else f"train/{part}_loss"


def progress_scalars(event: ev.Progress) -> dict[str, float]:
    """The scalars of one optimiser step, by tag."""
    values: dict[str, float | None] = {
        "train/loss": event.loss, "train/lr": event.lr, "train/scale": event.logit_scale,
        "train/samples_per_second": event.samples_per_second,
        "train/samples_per_second_per_gpu": event.samples_per_second_per_gpu,
        **{part_tag(k): v for k, v in event.parts.items()},
    }
    return {tag: float(v) for tag, v in values.items() if _number(v)}


def eval_scalars(event: ev.Eval) -> dict[str, float]:
    """Every metric of one evaluation, by tag: ``<split>/<key>``."""
    return {f"{event.split}/{key}": float(v) for key, v in event.metrics.items() if _number(v)}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class TensorBoardLog:
    """Writes a run's events as TensorBoard scalars into ``folder`` (opened at the run's ``started``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._writer: Any = None

    def __call__(self, event: ev.RunEvent) -> None:
        if isinstance(event, ev.Started):
            self._open(event.step)
        elif isinstance(event, ev.Progress):
            self._scalars(progress_scalars(event), event.step)
        elif isinstance(event, ev.Eval):
            self._scalars(eval_scalars(event), event.step)
        elif event.kind in ev.TERMINAL:
            self.close()

    def _open(self, step: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.close()
        self.folder.mkdir(parents=True, exist_ok=True)
        # purge_step: points an earlier attempt wrote past the checkpoint this one resumes from are void
        self._writer = SummaryWriter(str(self.folder), purge_step=step or None, flush_secs=FLUSH_SECONDS)

    def _scalars(self, scalars: dict[str, float], step: int) -> None:
        if self._writer is None:
            return
        for tag, value in scalars.items():
            self._writer.add_scalar(tag, value, step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def chained(*listeners: Callable[[ev.RunEvent], None] | None) -> Callable[[ev.RunEvent], None] | None:
    """One event listener calling each of ``listeners`` that is not None, in order (None when there are none)."""
    present = [f for f in listeners if f is not None]
    if not present:
        return None

    def listener(event: ev.RunEvent) -> None:
        for f in present:
            f(event)

    return listener
