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
from engine.run.folder import RunFolder
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
    from engine.disk import machine_error
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
        if isinstance(event, Started) and main_rank and not events_stdout:
            for note in (event.note, event.repeatability):
                if note:
                    print(f"note: {note}", flush=True)
        if bar is not None:
            bar(event)

    try:
        result = train(config, ws, events_stdout=events_stdout, on_event=listener)
    except Exception as exc:
        if (fault := machine_error(exc, ws.root, ws.root)) is None or not config.name:
            raise
        raise machine_error(fault, ws.root, ws.root, kept_checkpoint(RunFolder.of(ws, config.name))) from None
    if not events_stdout and os.environ.get("RANK", "0") == "0":
        print(f"run {result.name}: {result.status} at step {result.step} ({result.run_dir})")
        test = result.metrics.get("test", {})
        if test:
            from engine.evaluate.table import format_table

            print(format_table(test))
    return 0


def kept_checkpoint(folder: RunFolder) -> str:
    """What a run cut short by the machine kept: its last good checkpoint."""
    latest = folder.latest_checkpoint()
    return (f"the last good checkpoint, {latest} (continue with --resume latest)" if latest is not None
            else f"no checkpoint of run {folder.name} yet")
