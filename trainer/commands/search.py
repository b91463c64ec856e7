"""``trainer search``: text, image, mesh, item or fused queries against a run's indexes."""

from __future__ import annotations

import argparse
import textwrap

from engine.mesh_files import UP_AXES
from trainer.argtypes import COUNT, nonblank_text
from trainer.commands.common import add_json, add_workspace, open_workspace
from trainer.output import print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="search shapes, images or captions")
    p.add_argument("--run", default=None, help="run whose model and indexes answer (default: newest indexed)")
    p.add_argument("--text", type=nonblank_text, default=None, help="a text query")
    p.add_argument("--image", type=nonblank_text, default=None, help="an image file as the query")
    p.add_argument("--mesh", type=nonblank_text, default=None, metavar="FILE",
                   help="a mesh file (obj, off, ply, stl, glb, gltf) as the query: rendered like the run's dataset")
    p.add_argument("--up", choices=UP_AXES, default=None, metavar="AXIS",
                   help="--mesh: the axis that points up in the file (default: the run's dataset's)")
    p.add_argument("--item", type=nonblank_text, default=None, metavar="KEY",
                   help="an item of the catalogue as the query")
    p.add_argument("--item-dataset", default=None, help="dataset of --item (default: the target dataset)")
    p.add_argument("--target", choices=("shapes", "images", "captions"), default="shapes")
    p.add_argument("--dataset", default=None, help="dataset to search (default: the run's, if of that kind)")
    p.add_argument("--k", type=COUNT, default=10)
    p.add_argument("--split", choices=("train", "val", "test"), default=None)
    p.add_argument("--category", type=nonblank_text, default=None)
    p.add_argument("--device", default="auto", help="auto (default: CUDA, then MPS, then the CPU), cpu, cuda, mps")
    p.add_argument("--exact", action="store_true",
                   help="encode the query with the model exactly as it is (fp32); default: on the inference path "
                        "the index was built on (an index built otherwise is refused, naming its rebuild)")
    add_workspace(p)
    add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.models.inference import InferencePath
    from engine.search import Searcher, default_run

    ws = open_workspace(args)
    catalog = ws.catalog()
    run_name = args.run or default_run(catalog, args.target)
    searcher = Searcher(ws, run_name, device=args.device, catalog=catalog,
                        inference=InferencePath.EXACT if args.exact else None)
    result = searcher.search(text=args.text, image=args.image, mesh=args.mesh, up_axis=args.up,
                             item_key=args.item, item_dataset=args.item_dataset,
                             target=args.target, dataset=args.dataset, k=args.k, split=args.split,
                             category=args.category)
    if args.json:
        print_json(result.as_dict())
        return 0
    query = " + ".join(f"{k} {v!r}" for k, v in result.query.items() if v)
    print(f"{args.target} in {result.dataset} for {query} (run {result.run})")
    if result.missing:
        print(result.missing)
    if result.dataset_not_calibrated:
        print(f"{result.not_calibrated_line()}; scores are raw, no confidence")
    elif result.not_confident:
        print(result.banner())
    if result.calibrated:
        print(f"confidence {result.measured_line()}")
    for hit in result.hits:
        matched = f"  matched: {hit.matched_text}" if hit.matched_text and args.target != "images" else ""
        confidence = f"  ({hit.confidence:.0%} confident)" if hit.confidence is not None else ""
        print(f"{hit.rank:3d}. {hit.score:.3f}{confidence}  {hit.key}  [{hit.category}, {hit.split}]{matched}")
        for caption in hit.captions[:3]:
            print(textwrap.indent(textwrap.shorten(caption, 100), "       - "))
    return 0
