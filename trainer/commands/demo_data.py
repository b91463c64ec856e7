"""``trainer demo-data``: generate the built-in demo datasets (nothing is downloaded)."""

from __future__ import annotations

import argparse
import dataclasses

from trainer.argtypes import COUNT, MAYBE_NONE, PIXELS, WORKERS, training
from trainer.commands.common import add_events, add_json, add_workspace, emit_done, emit_progress, open_workspace
from trainer.output import print_json
from trainer.progress import staged_bars


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo-data", help="generate shapes-demo and scenes-demo (deterministic, offline)")
    p.add_argument("--shapes", type=MAYBE_NONE, default=600, metavar="N", help="shape items (default 600)")
    p.add_argument("--scenes", type=MAYBE_NONE, default=1000, metavar="N", help="scene images (default 1000)")
    p.add_argument("--views", type=COUNT, default=8, metavar="V", help="rendered views per shape (default 8)")
    p.add_argument("--size", type=PIXELS, default=128, metavar="PX", help="view and image size (default 128)")
    p.add_argument("--seed", type=training("seed"), default=0, metavar="S", help="random seed (default 0)")
    p.add_argument("--workers", type=WORKERS, default=None, help="render processes (default: all cores)")
    add_workspace(p)
    add_json(p)
    add_events(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.data.demo import generate_demo

    ws = open_workspace(args)
    events = args.events == "-"
    with staged_bars(enabled=False if events else None) as progress:
        summary = generate_demo(
            ws, ws.catalog(), shapes=args.shapes, scenes=args.scenes, views=args.views, size=args.size,
            seed=args.seed, workers=args.workers,
            on_progress=emit_progress if events else progress,
        )
    data = dataclasses.asdict(summary)
    if events:
        emit_done(data)
        return 0
    if args.json:
        print_json({"workspace": str(ws.root), **data})
        return 0
    print(f"demo data ready in {ws.root} ({summary.seconds:.1f} s)")
    for part in (summary.shapes, summary.scenes):
        if part is not None:
            print(f"  {part.name}: {part.status}, {part.items} items, {part.captions} captions, "
                  f"{part.files_written} files written")
    if summary.render is not None:
        r = summary.render
        print(f"  renders: {r.rendered} rendered, {r.cached} from cache, {len(r.failed)} failed "
              f"({summary.render_seconds:.1f} s)")
    return 0
