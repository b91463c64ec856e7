"""``trainer train``: one training run (also under ``torchrun`` for DDP).

Every flag comes from :class:`engine.run.config.TrainConfig`'s fields (open_clip's names); flags override
``--config FILE.yaml``; the resolved config is saved in the run directory. ``--events -`` streams JSON lines on
stdout (the app reads them); tqdm otherwise.
"""

from __future__ import annotations

import argparse
import os

from engine.losses.names import loss_list
from engine.run.config import load_config_file, resolve_config
from engine.run.flags import add_config_arguments, flag_values
from trainer.commands.common import add_workspace, open_workspace
from trainer.progress import interactive


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help=f"train encoders with {loss_list()}")
    p.add_argument("--config", default=None, metavar="FILE.yaml", help="options file; flags override it")
    add_config_arguments(p)
    p.add_argument("--events", default=None, metavar="-", help="'-': JSON-lines events on stdout")
    add_workspace(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.run.events import RunEvent, Started
    from engine.train.loop import train
    from trainer.train_progress import TrainBar

    file_values = load_config_file(args.config) if args.config else {}
    config = resolve_config(file_values, flag_values(args))
    ws = open_workspace(args)
    events_stdout = args.events == "-"
    main_rank = os.environ.get("RANK", "0") == "0"
    bar = TrainBar() if (main_rank and not events_stdout and interactive()) else None

    def listener(event: RunEvent) -> None:
        if isinstance(event, Started) and event.note and main_rank and not events_stdout:
            print(f"note: {event.note}", flush=True)
        if bar is not None:
            bar(event)

    result = train(config, ws, events_stdout=events_stdout, on_event=listener)
    if not events_stdout and os.environ.get("RANK", "0") == "0":
        print(f"run {result.name}: {result.status} at step {result.step} ({result.run_dir})")
        test = result.metrics.get("test", {})
        if test:
            from engine.evaluate.table import format_table

            print(format_table(test))
    return 0
