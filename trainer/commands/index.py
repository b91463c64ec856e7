"""``trainer index``: hnswlib indexes of a dataset's observations with a run's checkpoint.

``--run R``: a trained run's checkpoint. ``--model M --pretrained TAG|FILE --dataset D [--name N]``: pretrained
weights as they are: a run of kind ``pretrained`` (no training; its folder, config, checkpoint and catalogue row,
see :mod:`engine.train.zero_shot`), then its indexes, so ``trainer eval``/``search --run N`` work on it.
"""

from __future__ import annotations

import argparse
import sys

from engine.job_events import JobRun
from trainer.argtypes import EFFORT, GRAPH_DEGREE
from trainer.commands.common import (
    add_events,
    add_json,
    add_workspace,
    emit,
    emit_done,
    emit_progress,
    open_workspace,
)
from trainer.output import print_json, print_table
from trainer.progress import staged_bars
from trainer.repeatable import add_repeatable, repeatable


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("index", help="build (or grow) the search indexes of a run")
    p.add_argument("--run", default=None, help="the run whose checkpoint encodes")
    p.add_argument("--dataset", default=None, help="dataset to index (default: the run's)")
    p.add_argument("--model", default=None, help="with --pretrained: the open_clip model (or hf-hub:org/repo)")
    p.add_argument("--pretrained", default=None, metavar="TAG|FILE",
                   help="index with pretrained weights, no training: an open_clip tag of --model, hf-hub:org/repo "
                        "or a weights file; makes a run of kind pretrained (named by --name)")
    p.add_argument("--name", default=None, help="with --pretrained: the run's name (default DATASET-MODEL-WEIGHTS)")
    p.add_argument("--pooling", default="mean", choices=("mean", "attention"),
                   help="with --pretrained: view pooling for shapes (default mean)")
    p.add_argument("--checkpoint", default="best", help="best (default), latest, or a checkpoint path")
    p.add_argument("--M", type=GRAPH_DEGREE, default=None, dest="m", help="hnswlib M (graph degree)")
    p.add_argument("--ef-construction", type=EFFORT, default=None)
    p.add_argument("--ef", type=EFFORT, default=None, help="query effort stored with the index")
    p.add_argument("--device", default="auto", help="auto (default: CUDA, then MPS, then the CPU), cpu, cuda, mps")
    p.add_argument("--exact", action="store_true",
                   help="encode with the model exactly as it is (fp32); on a CPU with AVX-512 VNNI the default is "
                        "the fast int8 path, recorded in the indexes (searches use the path of the index they search)")
    add_repeatable(p, builds_indexes=True)
    add_workspace(p)
    add_json(p)
    add_events(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with repeatable(args):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from engine.errors import CrossfoldError
    from engine.index.params import IndexParams
    from engine.indexing import index_run
    from engine.memory import mark, trim_heap

    mark("imports (torch, open_clip)")

    zero_shot = args.pretrained is not None or (args.model or "").startswith("hf-hub:")
    if zero_shot == (args.run is not None):
        raise CrossfoldError("give --run NAME (a run's checkpoint), or --model M --pretrained TAG|FILE --dataset D "
                             "(pretrained weights as they are)")
    if zero_shot and not (args.model and args.dataset):
        raise CrossfoldError("--pretrained needs --model and --dataset")
    if not zero_shot and (args.name or args.model):
        raise CrossfoldError("--name and --model go with --pretrained; --run indexes an existing run")
    ws = open_workspace(args)
    catalog = ws.catalog()
    run_name = args.run
    if zero_shot:
        from engine.train.zero_shot import create_pretrained_run

        made = create_pretrained_run(ws, catalog, args.model, args.pretrained or args.model, args.dataset,
                                     name=args.name, pooling=args.pooling, device=args.device)
        run_name = made.name
        trim_heap()  # the model that wrote the run's checkpoint is gone: its memory back to the OS
        mark("pretrained run made")
        if args.events == "-":
            emit(JobRun(run=made.name, run_kind="pretrained", created=made.created, checkpoint=str(made.checkpoint)))
    overrides = {k: v for k, v in (("M", args.m), ("ef_construction", args.ef_construction), ("ef", args.ef))
                 if v is not None}
    params = IndexParams(**overrides) if overrides else None
    events = args.events == "-"
    try:
        with staged_bars(enabled=False if events else None) as bars:
            progress = emit_progress if events else bars
            report = index_run(ws, catalog, run_name, args.dataset, args.checkpoint, args.device, params, progress,
                               num_threads=1 if args.deterministic else None, exact=args.exact)
    except BaseException:
        if zero_shot:  # no zero-shot run is left without its indexes
            from engine.train.zero_shot import discard_pretrained_run

            discard_pretrained_run(ws, catalog, made)
        raise
    if events:
        emit_done(report.as_dict())
        return 0
    if args.json:
        print_json(report.as_dict())
        return 0
    for line in report.skipped:
        print(f"skipped: {line}", file=sys.stderr)
    print(f"indexes of run {report.run} on {report.dataset} ({report.seconds:.1f} s, {report.inference} inference"
          + (f": {report.inference_note}" if report.inference_note else "") + ")"
          + (f"; {len(report.skipped)} unreadable image files skipped" if report.skipped else ""))
    print_table(["modality", "action", "vectors", "added", "removed", "file"],
                [[m, d["action"], d["count"], d["added"], d.get("removed", 0), d["path"]]
                 for m, d in report.modalities.items()])
    return 0
