"""``trainer eval --run R``: the papers' retrieval metrics of a run on a split."""

from __future__ import annotations

import argparse

from trainer.commands.common import add_json, add_workspace, open_workspace
from trainer.output import print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a run: R@k, RR@k, NDCG@5 per direction")
    p.add_argument("--run", required=True, help="run name")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--checkpoint", default="best", help="best (default), latest, or a checkpoint path")
    p.add_argument("--dataset", default=None, help="evaluate on another dataset (default: the run's)")
    p.add_argument("--device", default="auto")
    add_workspace(p)
    add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.catalog.run_status import effective_status
    from engine.data.images import model_image_size
    from engine.data.rendering import views_at_size
    from engine.evaluate.split import evaluate_split
    from engine.evaluate.table import format_table
    from engine.run.events import Eval, EventWriter
    from engine.run.folder import RunFolder
    from engine.run.restore import restore_run

    ws = open_workspace(args)
    catalog = ws.catalog()
    restored = restore_run(catalog, args.run, args.checkpoint, args.device)
    dataset = args.dataset or restored.config.dataset
    view_map = views_at_size(catalog, ws, dataset, model_image_size(restored.encoder))
    metrics = evaluate_split(restored.encoder, catalog, dataset, args.split, restored.preprocess,
                             restored.tokenizer, restored.device, view_map=view_map)
    record = {"split": args.split, "dataset": dataset, "checkpoint": str(restored.checkpoint),
              "step": restored.step, "metrics": metrics}
    run_row = catalog.require_run(args.run)
    writer = EventWriter(RunFolder.of(ws, args.run).events)
    writer.emit(Eval(step=restored.step, split=args.split, metrics=metrics, dataset=dataset,
                     checkpoint=str(restored.checkpoint)))
    writer.close()
    catalog.merge_run_metrics(args.run, {f"eval_{dataset}_{args.split}": metrics} if args.dataset
                              else {args.split: metrics})
    if args.json:
        print_json({"run": run_row.name, "status": effective_status(run_row), **record})
        return 0
    print(f"{args.run} ({effective_status(run_row)}) on {dataset}/{args.split} "
          f"(step {restored.step}, {restored.checkpoint.name})")
    print(format_table(metrics))
    return 0
