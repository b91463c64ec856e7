"""``trainer datasets list|show|relocate``."""

from __future__ import annotations

import argparse

from engine.catalog.run_status import effective_status
from trainer.argtypes import MAYBE_NONE
from trainer.commands.common import add_json, add_workspace, open_workspace
from trainer.output import print_json, print_table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("datasets", help="list datasets or show one")
    dsub = p.add_subparsers(dest="datasets_command", required=True, metavar="ACTION")
    ls = dsub.add_parser("list", help="every dataset with its item and observation counts")
    add_workspace(ls)
    add_json(ls)
    ls.set_defaults(func=list_datasets)
    show = dsub.add_parser("show", help="one dataset: counts by split and modality, a few items")
    show.add_argument("name")
    show.add_argument("--items", type=MAYBE_NONE, default=5, metavar="N",
                      help="show the first N items (default 5)")
    add_workspace(show)
    add_json(show)
    show.set_defaults(func=show_dataset)
    move = dsub.add_parser("relocate", help="point a dataset at the new place of its files (its root moved)")
    move.add_argument("name")
    move.add_argument("--root", required=True, metavar="NEW",
                      help="the folder that now holds what the dataset's root held")
    add_workspace(move)
    move.set_defaults(func=relocate_dataset)


def list_datasets(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    summaries = ws.catalog().summaries()
    if args.json:
        print_json({"workspace": str(ws.root), "datasets": [s.as_dict() for s in summaries]})
        return 0
    if not summaries:
        print(f"no datasets in {ws.root} (try `trainer demo-data` or `trainer import`)")
        return 0
    print_table(
        ["name", "kind", "format", "items", "captions", "images", "views", "train/val/test"],
        [
            [s.name, s.kind, s.source_format, s.items, s.by_modality.get("text", 0),
             s.by_modality.get("image", 0), s.by_modality.get("view", 0),
             "/".join(str(s.by_split.get(k, 0)) for k in ("train", "val", "test"))]
            for s in summaries
        ],
    )
    return 0


def show_dataset(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    catalog = ws.catalog()
    summary = catalog.summary(args.name)
    ds = catalog.require_dataset(args.name)
    ids = [item.id for item in catalog.items(ds.id, limit=max(0, args.items))]
    loaded = catalog.items_with_observations(ids)  # not a query per item
    shown = []
    for item in (loaded[i] for i in ids if i in loaded):
        obs = item.observations
        shown.append({
            "key": item.key, "split": item.split, "category": item.category, "asset_path": item.asset_path,
            "captions": [o.text for o in obs if o.modality == "text"],
            "images": [o.path for o in obs if o.modality == "image"],
            "views": [o.path for o in obs if o.modality == "view"],
            "meta": item.meta,
        })
    runs = [{"name": r.name, "status": effective_status(r), "loss": r.loss} for r in catalog.runs()
            if r.dataset_id == ds.id]
    if args.json:
        print_json({**summary.as_dict(), "categories_list": catalog.categories(ds.id), "sample": shown,
                    "runs": runs})
        return 0
    print(f"{summary.name}  ({summary.kind}, from {summary.source_format})")
    print(f"  root:         {summary.root}")
    print(f"  items:        {summary.items}  " + "  ".join(f"{k}={v}" for k, v in sorted(summary.by_split.items())))
    print(f"  observations: {summary.observations}  "
          + "  ".join(f"{k}={v}" for k, v in sorted(summary.by_modality.items())))
    print(f"  captions:     {_captioned(summary.captioned_items, summary.items)}")
    print(f"  categories:   {', '.join(catalog.categories(ds.id)[:20])}")
    if runs:
        listed = ", ".join(f"{r['name']} ({r['status']})" for r in runs)
        print(f"  runs:         {listed}")
    for item in shown:
        print(f"\n  [{item['split']}] {item['key']}  ({item['category']})")
        for caption in item["captions"][:5]:
            print(f"    - {caption}")
        if not item["captions"]:
            print("    captions: none")
        if item["views"]:
            print(f"    {len(item['views'])} views, e.g. {item['views'][0]}")
        for path in item["images"][:1]:
            print(f"    image: {path}")
    return 0


def relocate_dataset(args: argparse.Namespace) -> int:
    from engine.data.roots import relocate

    done = relocate(open_workspace(args).catalog(), args.name, args.root)
    print(f"dataset {done.name}: root {done.old} -> {done.new} ({done.checked} files checked there)")
    return 0


def _captioned(captioned: int, items: int) -> str:
    """How many of a dataset's items have captions, said plainly (none: searchable, not trainable)."""
    if items and not captioned:
        return ("none (its items can be searched with pretrained weights: `trainer index --pretrained`; "
                "training needs captions)")
    return f"{captioned} of {items} items have captions"
