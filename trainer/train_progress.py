"""A tqdm bar driven by a run's events (the CLI's view of ``started``/``progress``/``eval`` and the end)."""

from __future__ import annotations

import sys

from tqdm import tqdm

from engine.fmt import num
from engine.metric_keys import headline_metrics
from engine.run.events import Cancelled, Done, Eval, Failed, Progress, RunEvent, Started


class TrainBar:
    def __init__(self) -> None:
        self.bar: tqdm | None = None

    def __call__(self, event: RunEvent) -> None:
        if isinstance(event, Started):
            self.bar = tqdm(total=event.total, initial=event.step, desc=event.run or "train",
                            unit="step", file=sys.stderr, dynamic_ncols=True)
        elif isinstance(event, Progress) and self.bar is not None:
            self.bar.n = event.step
            lr = f"{event.lr:.2e}" if event.lr is not None else "-"
            self.bar.set_postfix(loss=num(event.loss, 4, fixed=True), lr=lr,
                                 sps=num(event.samples_per_second, 0, fixed=True), refresh=False)
            self.bar.refresh()
        elif isinstance(event, Eval) and self.bar is not None:
            r1 = headline_metrics(event.metrics)
            self.bar.write(f"eval {event.split} @ {event.step}: "
                           + "  ".join(f"{k}={v:.3f}" for k, v in r1.items()))
        elif isinstance(event, (Done, Cancelled, Failed)) and self.bar is not None:
            self.bar.close()
            self.bar = None
