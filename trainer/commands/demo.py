"""``trainer demo``: a complete demo workspace from nothing — data, two short runs, their indexes.

Each step is skipped when already done: the demo data when complete, a run when it finished (a run that
was interrupted resumes from its last checkpoint), an index when it is up to date.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from engine.job_events import JobStage
from engine.models.names import TRAINING_CONFIGS_DIR
from trainer.argtypes import COUNT, training
from trainer.commands.common import add_events, add_workspace, emit, emit_done, emit_progress, open_workspace
from trainer.progress import interactive, staged_bars

if TYPE_CHECKING:
    from engine.run.config import TrainConfig

DEMO_RUNS = (("demo-shapes-mxm", "shapes-demo-mxm.yaml"), ("demo-scenes-gcl", "scenes-demo-gcl.yaml"))
# The small ResNet learns the demo's shapes (not only their colours) far faster than the ViT of the shipped configs
# on a CPU: at 200 steps text->shape RR@1 59% against 33%, text->image R@1 65% against 30% (engine/losses/README.md).
DEMO_MODEL = "cf-rn-tiny-64"
DEMO_STEPS = 400


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="make the demo workspace complete: data, two trained runs, their indexes")
    p.add_argument("--steps", type=training("max_steps"), default=DEMO_STEPS,
                   help=f"training steps per demo run (default {DEMO_STEPS})")
    p.add_argument("--model", default=DEMO_MODEL, help=f"model of both demo runs (default {DEMO_MODEL})")
    p.add_argument("--device", default="auto")
    p.add_argument("--shapes", type=COUNT, default=600, metavar="N", help="shape items of shapes-demo (default 600)")
    p.add_argument("--scenes", type=COUNT, default=1000, metavar="N", help="scene images of scenes-demo (default 1000)")
    add_workspace(p)
    add_events(p)
    p.set_defaults(func=run)


def demo_run_config(name: str, config_file: str, model: str = DEMO_MODEL, steps: int = DEMO_STEPS,
                    device: str = "auto", resume: str | None = None) -> TrainConfig:
    """The training config of the demo run ``name`` (one of :data:`DEMO_RUNS`), as ``trainer demo`` trains it."""
    from engine.run.config import load_config_file, resolve_config

    return resolve_config(load_config_file(TRAINING_CONFIGS_DIR / config_file),
                          {"name": name, "model": model, "max_steps": steps, "device": device, "resume": resume,
                           "val_frequency": max(1, steps // 4), "store": "packed"})


def run(args: argparse.Namespace) -> int:
    from engine.data.demo import generate_demo
    from engine.indexing import index_run
    from engine.train.loop import train
    from trainer.train_progress import TrainBar

    ws = open_workspace(args)
    catalog = ws.catalog()
    events = args.events == "-"

    def say(stage: str, message: str) -> None:
        if events:
            emit(JobStage(stage=stage, message=message))
        else:
            print(message, flush=True)

    with staged_bars(enabled=False if events else None) as bars:
        progress = emit_progress if events else bars
        say("data", "demo data…")
        generate_demo(ws, catalog, shapes=args.shapes, scenes=args.scenes, on_progress=progress)
        for name, config_file in DEMO_RUNS:
            row = catalog.run(name)
            if row is not None and row.status == "done":
                say("train", f"run {name}: already trained")
            else:
                from engine.run.folder import RunFolder

                resume = "latest" if RunFolder.of(ws, name).latest_checkpoint() is not None else None
                say("train", f"run {name}: training{' (resuming)' if resume else ''}…")
                config = demo_run_config(name, config_file, args.model, args.steps, args.device, resume)
                listener = TrainBar() if (interactive() and not events) else None
                train(config, ws, events_stdout=events, on_event=listener)
            say("index", f"run {name}: indexes…")
            report = index_run(ws, catalog, name, device=args.device, on_progress=progress)
            say("index", f"run {name}: " + ", ".join(f"{m} {d['action']} ({d['count']})"
                                                     for m, d in report.modalities.items()))
    say("done", f"demo workspace ready in {ws.root}; try: trainer search --text \"a red chair\" --target shapes")
    if events:
        emit_done({"workspace": str(ws.root)})
    return 0
