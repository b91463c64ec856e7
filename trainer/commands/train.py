"""``trainer train``: one training run (also under ``torchrun`` for DDP).

Flags follow open_clip's names; they override ``--config FILE.yaml``; the resolved config is saved in
the run directory. ``--events -`` streams JSON lines on stdout (the app reads them); tqdm otherwise.
"""

from __future__ import annotations

import argparse
import json
import os

from engine.train.config import LOSS_NAMES, PRECISIONS, load_config_file, resolve_config
from trainer.commands.common import add_workspace, open_workspace
from trainer.progress import interactive


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train encoders with clip, mxm, gcl or sspc")
    p.add_argument("--config", default=None, metavar="FILE.yaml", help="options file; flags override it")
    p.add_argument("--dataset", default=None)
    p.add_argument("--loss", choices=LOSS_NAMES, default=None)
    p.add_argument("--model", default=None, help="open_clip model name or a shipped config (cf-vit-tiny-64)")
    p.add_argument("--pretrained", default=None, metavar="TAG|FILE", help="open_clip tag or local checkpoint")
    p.add_argument("--pooling", choices=("mean", "attention"), default=None, help="view pooling for shapes")
    steps = p.add_mutually_exclusive_group()
    steps.add_argument("--epochs", type=int, default=None)
    steps.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None, help="items per batch per process")
    p.add_argument("--views-per-item", type=int, default=None)
    p.add_argument("--captions-per-item", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--wd", type=float, default=None)
    p.add_argument("--beta1", type=float, default=None)
    p.add_argument("--beta2", type=float, default=None)
    p.add_argument("--eps", type=float, default=None)
    p.add_argument("--warmup", type=int, default=None, help="warmup steps")
    p.add_argument("--grad-clip-norm", type=float, default=None)
    p.add_argument("--precision", choices=PRECISIONS, default=None)
    p.add_argument("--workers", type=int, default=None, help="data loader processes")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--name", default=None, help="run name (default: DATASET-LOSS-TIME)")
    p.add_argument("--resume", default=None, metavar="latest|PATH")
    p.add_argument("--save-frequency", type=int, default=None, help="checkpoint every N steps")
    p.add_argument("--val-frequency", type=int, default=None, help="evaluate on val every N steps")
    p.add_argument("--local-loss", action="store_true", default=None)
    p.add_argument("--gather-with-grad", action="store_true", default=None)
    p.add_argument("--accum-freq", type=int, default=None)
    p.add_argument("--grad-checkpointing", action="store_true", default=None)
    p.add_argument("--torchcompile", action="store_true", default=None)
    p.add_argument("--device", default=None, help="auto | cpu | cuda")
    p.add_argument("--loss-options", type=json.loads, default=None, metavar="JSON",
                   help='loss options as JSON, e.g. \'{"soft_weight": 0.5}\'')
    p.add_argument("--events", default=None, metavar="-", help="'-': JSON-lines events on stdout")
    add_workspace(p)
    p.set_defaults(func=run)


_NOT_CONFIG = {"config", "events", "workspace", "func", "command"}


def run(args: argparse.Namespace) -> int:
    from engine.train.loop import train
    from trainer.train_progress import TrainBar

    flags = {k: v for k, v in vars(args).items() if k not in _NOT_CONFIG}
    file_values = load_config_file(args.config) if args.config else {}
    config = resolve_config(file_values, flags)
    ws = open_workspace(args)
    events_stdout = args.events == "-"
    main_rank = os.environ.get("RANK", "0") == "0"
    listener = TrainBar() if (main_rank and not events_stdout and interactive()) else None
    result = train(config, ws, events_stdout=events_stdout, on_event=listener)
    if not events_stdout and os.environ.get("RANK", "0") == "0":
        print(f"run {result.name}: {result.status} at step {result.step} ({result.run_dir})")
        test = result.metrics.get("test", {})
        if test:
            from engine.evaluate.table import format_table

            print(format_table(test))
    return 0
