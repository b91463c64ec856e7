"""A tqdm bar driven by a run's events (the CLI's view of ``progress``/``eval``/``checkpoint``)."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm


class TrainBar:
    def __init__(self) -> None:
        self.bar: tqdm | None = None

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "started":
            self.bar = tqdm(total=event["total"], initial=event.get("step", 0), desc=event.get("run", "train"),
                            unit="step", file=sys.stderr, dynamic_ncols=True)
        elif kind == "progress" and self.bar is not None:
            self.bar.n = event["step"]
            self.bar.set_postfix(loss=f"{event['loss']:.4f}", lr=f"{event['lr']:.2e}",
                                 sps=f"{event['samples_per_second']:.0f}", refresh=False)
            self.bar.refresh()
        elif kind == "eval" and self.bar is not None:
            r1 = {k: v for k, v in event["metrics"].items() if k.endswith("_R@1")}
            self.bar.write(f"eval {event.get('split')} @ {event['step']}: "
                           + "  ".join(f"{k}={v:.3f}" for k, v in r1.items()))
        elif kind in ("done", "cancelled", "failed") and self.bar is not None:
            self.bar.close()
            self.bar = None
