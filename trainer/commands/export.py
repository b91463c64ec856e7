"""``trainer export --run R [--dataset D] [--modality text|image|shape|all] [--dtype float16|float32] --out DIR``:
a run's embeddings in clip-retrieval's layout (``.npy`` shards with Parquet metadata, :mod:`engine.export`), for
pandas, FiftyOne, autofaiss and clip-retrieval's back end."""

from __future__ import annotations

import argparse
import sys

from trainer.argtypes import COUNT
from trainer.commands.common import add_json, add_workspace, open_workspace
from trainer.output import print_json, print_table
from trainer.progress import staged_bars


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="a run's embeddings as .npy shards with Parquet metadata (clip-retrieval's "
                                      "layout)")
    p.add_argument("--run", required=True, help="the run whose embeddings to export")
    p.add_argument("--dataset", default=None, help="dataset whose embeddings to export (default: the run's)")
    p.add_argument("--modality", default="all", choices=("text", "image", "shape", "all"),
                   help="captions, images (or rendered views), shapes (views pooled per item), or all the dataset "
                        "has (default)")
    p.add_argument("--dtype", default="float16", choices=("float16", "float32"),
                   help="of the vectors (default float16, as clip-retrieval writes them)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="folder to write: DIR/<modality>/ is one clip-retrieval embeddings folder (an earlier "
                        "export's shards there are replaced)")
    p.add_argument("--shard-rows", type=COUNT, default=None, metavar="N", help="rows per shard (default 100000)")
    p.add_argument("--checkpoint", default="best", help="best (default), latest, or a checkpoint path")
    p.add_argument("--device", default="auto")
    add_workspace(p)
    add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.export import SHARD_ROWS, export_run, require_pyarrow

    require_pyarrow()  # before the workspace or a model is opened
    ws = open_workspace(args)
    modalities = None if args.modality == "all" else (args.modality,)
    with staged_bars() as bars:
        report = export_run(ws, ws.catalog(), args.run, args.out, args.dataset, modalities, args.dtype,
                            args.shard_rows or SHARD_ROWS, args.device, args.checkpoint, bars)
    if args.json:
        print_json(report.as_dict())
        return 0
    for line in report.skipped:
        print(f"skipped: {line}", file=sys.stderr)
    print(f"embeddings of run {report.run} on {report.dataset} ({report.dtype}) in {report.out}")
    print_table(["modality", "rows", "shards", "from index", "encoded", "folder"],
                [[m, d["rows"], d["shards"], d["from_index"], d["encoded"], d["folder"]]
                 for m, d in report.modalities.items()])
    return 0
