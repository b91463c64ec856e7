"""``trainer eval --run R``: the papers' retrieval metrics of a run on a split; with ``--by-category``, zero-shot
classification of the split's items by their category (top-1, top-5, per category, confusions)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import CrossfoldError
from trainer.commands.common import add_json, add_workspace, open_workspace
from trainer.output import print_json
from trainer.repeatable import add_repeatable, repeatable

if TYPE_CHECKING:
    from engine.catalog import Catalog
    from engine.run.restore import RestoredRun
    from engine.workspace import Workspace


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a run: R@k, RR@k, NDCG@5 per direction, or accuracy by category")
    p.add_argument("--run", required=True, help="run name")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--checkpoint", default="best", help="best (default), latest, or a checkpoint path")
    p.add_argument("--dataset", default=None, help="evaluate on another dataset (default: the run's)")
    p.add_argument("--by-category", action="store_true",
                   help="zero-shot classification: rank each item against one text per category (prompt templates "
                        "averaged); top-1, top-5, mean per-category accuracy, per category, most confused pairs")
    p.add_argument("--prompts", metavar="FILE", type=Path, default=None,
                   help="with --by-category: prompt templates, one a line, each with {} where the category goes "
                        "(default: an ensemble such as 'a 3D model of a {}.' for shapes, 'a photo of a {}.' "
                        "for images)")
    p.add_argument("--device", default="auto")
    add_repeatable(p)
    add_workspace(p)
    add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with repeatable(args):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    if args.prompts is not None and not args.by_category:
        raise CrossfoldError("--prompts goes with --by-category")
    from engine.catalog.run_status import effective_status
    from engine.data.images import model_image_size
    from engine.data.rendering import views_at_size
    from engine.evaluate.categories import read_templates
    from engine.run.restore import restore_run

    templates = read_templates(args.prompts) if args.prompts is not None else None
    ws = open_workspace(args)
    catalog = ws.catalog()
    restored = restore_run(catalog, args.run, args.checkpoint, args.device)
    dataset = args.dataset or restored.config.dataset
    view_map = views_at_size(catalog, ws, dataset, model_image_size(restored.encoder))
    status = effective_status(catalog.require_run(args.run))
    head = {"run": args.run, "status": status, "split": args.split, "dataset": dataset,
            "checkpoint": str(restored.checkpoint), "step": restored.step}
    title = (f"{args.run} ({status}) on {dataset}/{args.split}{' by category' if args.by_category else ''} "
             f"(step {restored.step}, {restored.checkpoint.name})")
    if args.by_category:
        return _by_category(args, ws, catalog, restored, dataset, view_map, templates, head, title)
    return _retrieval(args, ws, catalog, restored, dataset, view_map, head, title)


def _retrieval(args: argparse.Namespace, ws: Workspace, catalog: Catalog, restored: RestoredRun, dataset: str,
               view_map: dict[str, str], head: dict[str, Any], title: str) -> int:
    from engine.evaluate.split import evaluate_split_noted
    from engine.evaluate.table import format_table
    from engine.run.events import Eval

    metrics, notes = evaluate_split_noted(restored.encoder, catalog, dataset, args.split, restored.preprocess,
                                          restored.tokenizer, restored.device, view_map=view_map)
    if metrics:  # nothing evaluated (no captions) leaves the run's record as it was
        notes += _recorded(ws, catalog, args.run, Eval(step=restored.step, split=args.split, metrics=metrics,
                                                        dataset=dataset, checkpoint=str(restored.checkpoint)),
                           {f"eval_{dataset}_{args.split}": metrics} if args.dataset else {args.split: metrics})
    if args.json:
        print_json({**head, "metrics": metrics, "notes": notes})
        return 0
    print(title)
    if metrics:
        print(format_table(metrics))
    for note in notes:
        print(f"note: {note}")
    return 0


def _by_category(args: argparse.Namespace, ws: Workspace, catalog: Catalog, restored: RestoredRun, dataset: str,
                 view_map: dict[str, str], templates: list[str] | None, head: dict[str, Any], title: str) -> int:
    from engine.evaluate.categories import evaluate_categories, format_categories
    from engine.run.events import CategoryEval

    report = evaluate_categories(restored.encoder, catalog, dataset, args.split, restored.preprocess,
                                 restored.tokenizer, restored.device, view_map=view_map, templates=templates)
    prompts = str(args.prompts) if args.prompts is not None else ""
    event = CategoryEval(step=restored.step, split=args.split, dataset=dataset, metrics=report.metrics,
                         per_category=report.per_category_record(), confusions=report.confusions_record(),
                         prompts=prompts, checkpoint=str(restored.checkpoint), wrong=report.wrong_record(),
                         num_wrong=len(report.wrong))
    notes = _recorded(ws, catalog, args.run, event, {f"categories_{dataset}_{args.split}" if args.dataset
                                                     else f"categories_{args.split}": report.metrics})
    if args.json:
        print_json({**head, **report.to_record(), "prompts": prompts, **({"notes": notes} if notes else {})})
        return 0
    print(title)
    print(format_categories(report))
    for note in notes:
        print(f"note: {note}")
    return 0


def _recorded(ws: Workspace, catalog: Catalog, run: str, event: Any, metrics: dict[str, Any]) -> list[str]:
    """Record an evaluation in the run's events and the catalogue; on a full or read-only disk the result is still
    shown, with a note that it was not recorded (the notes returned)."""
    from engine.disk import machine_error
    from engine.run.events import EventWriter
    from engine.run.folder import RunFolder

    try:
        writer = EventWriter(RunFolder.of(ws, run).events)
        try:
            writer.emit(event)
        finally:
            writer.close()
        catalog.merge_run_metrics(run, metrics)
    except Exception as exc:
        if (fault := machine_error(exc, ws.root, ws.root)) is None:
            raise
        return [f"not recorded in run {run}: {fault}"]
    return []
