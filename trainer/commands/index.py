"""``trainer index --run R``: hnswlib indexes of a dataset's observations with the run's checkpoint."""

from __future__ import annotations

import argparse

from trainer.argtypes import positive_int
from trainer.commands.common import add_events, add_json, add_workspace, emit_done, emit_progress, open_workspace
from trainer.output import print_json, print_table
from trainer.progress import staged_bars


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("index", help="build (or grow) the search indexes of a run")
    p.add_argument("--run", required=True)
    p.add_argument("--dataset", default=None, help="dataset to index (default: the run's)")
    p.add_argument("--checkpoint", default="best", help="best (default), latest, or a checkpoint path")
    p.add_argument("--M", type=positive_int, default=None, dest="m", help="hnswlib M (graph degree)")
    p.add_argument("--ef-construction", type=positive_int, default=None)
    p.add_argument("--ef", type=positive_int, default=None, help="query effort stored with the index")
    p.add_argument("--device", default="auto")
    add_workspace(p)
    add_json(p)
    add_events(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.index.from_run import index_run
    from engine.index.params import IndexParams

    ws = open_workspace(args)
    overrides = {k: v for k, v in (("M", args.m), ("ef_construction", args.ef_construction), ("ef", args.ef))
                 if v is not None}
    params = IndexParams(**overrides) if overrides else None
    events = args.events == "-"
    with staged_bars(enabled=False if events else None) as bars:
        progress = emit_progress if events else bars
        report = index_run(ws, ws.catalog(), args.run, args.dataset, args.checkpoint, args.device, params, progress)
    if events:
        emit_done(report.as_dict())
        return 0
    if args.json:
        print_json(report.as_dict())
        return 0
    print(f"indexes of run {report.run} on {report.dataset} ({report.seconds:.1f} s)")
    print_table(["modality", "action", "vectors", "added", "file"],
                [[m, d["action"], d["count"], d["added"], d["path"]] for m, d in report.modalities.items()])
    return 0
