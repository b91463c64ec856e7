"""``trainer render DATASET``: render every mesh of a shape dataset to multi-view images."""

from __future__ import annotations

import argparse

from engine.mesh_files import DEFAULT_VIEW_SIZE, DEFAULT_VIEWS
from trainer.argtypes import COUNT, ELEVATION, PIXELS, WORKERS
from trainer.commands.common import add_events, add_json, add_workspace, emit_done, open_workspace
from trainer.output import print_json
from trainer.progress import bar, json_progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render a shape dataset's meshes to views (cached)")
    p.add_argument("dataset")
    p.add_argument("--views", type=COUNT, default=DEFAULT_VIEWS,
                   help=f"views per shape (default {DEFAULT_VIEWS})")
    p.add_argument("--size", type=PIXELS, default=DEFAULT_VIEW_SIZE,
                   help=f"view size in pixels (default {DEFAULT_VIEW_SIZE})")
    p.add_argument("--elevation", type=ELEVATION, default=25.0, help="camera elevation in degrees (default 25)")
    p.add_argument("--workers", type=WORKERS, default=None, help="render processes (default: all cores)")
    p.add_argument("--pack", type=PIXELS, default=None, metavar="N",
                   help="then pack the views for training at N x N pixels (the model's input size; see `trainer pack`)")
    add_workspace(p)
    add_json(p)
    add_events(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.data.rendering import render_dataset
    from engine.render import ViewSpec

    ws = open_workspace(args)
    catalog = ws.catalog()
    catalog.require_dataset(args.dataset)
    spec = ViewSpec(views=args.views, size=args.size, elevation_deg=args.elevation)
    events = args.events == "-"
    with bar(f"render {args.dataset}", unit="mesh", enabled=False if events else None) as progress:
        summary = render_dataset(catalog, ws, args.dataset, spec, workers=args.workers,
                                 on_progress=json_progress("render") if events else progress)
    data = {"dataset": args.dataset, "rendered": summary.rendered, "cached": summary.cached,
            "failed": [{"key": k, "reason": r} for k, r in summary.failed]}
    if args.pack is not None:
        from trainer.commands.pack import pack

        report = pack(ws, args.dataset, None, args.pack, False, events, args.json)
        data["packed"] = {"path": str(report.path), "images": report.images, "bytes": report.bytes,
                          "action": report.action}
    if events:
        emit_done(data)
        return 0
    if args.json:
        print_json(data)
        return 0
    print(f"rendered {args.dataset}: {summary.rendered} meshes rendered, {summary.cached} from cache, "
          f"{len(summary.failed)} failed")
    for key, reason in summary.failed[:20]:
        print(f"  skipped {key}: {reason}")
    if "packed" in data:
        print(f"packed {data['packed']['images']} views ({data['packed']['action']}) -> {data['packed']['path']}")
    return 0
