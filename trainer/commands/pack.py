"""``trainer pack DATASET``: decode a dataset's views (or images) once into its packed store for training.

The pixels are stored at the model's input size, as its preprocessing makes them (``--model``: that model's;
``--size N``: open_clip's default resize + centre crop to N pixels). Training reads the store instead of the
image files when it is up to date (``--store auto``, the default); see :mod:`engine.data.packed`.
"""

from __future__ import annotations

import argparse

from engine.models.names import DEFAULT_MODEL
from trainer.argtypes import PIXELS
from trainer.commands.common import add_events, add_json, add_workspace, emit_done, open_workspace
from trainer.output import print_json
from trainer.progress import bar, json_progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pack", help="decode a dataset's views once into a packed store (faster training)")
    p.add_argument("dataset")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--model", default=None, help=f"pack at this model's input size (default {DEFAULT_MODEL})")
    which.add_argument("--size", type=PIXELS, default=None, help="pack at N x N pixels (open_clip's default resize)")
    p.add_argument("--force", action="store_true", help="rewrite the store even when it is up to date")
    add_workspace(p)
    add_json(p)
    add_events(p)
    p.set_defaults(func=run)


def model_preprocess(model: str | None, size: int | None):  # noqa: ANN201
    """The evaluation preprocessing packing follows."""
    from engine.data.packed import pixel_transform_for_size

    if size is not None:
        return pixel_transform_for_size(size)
    from engine.models import build_encoder

    _, _, preprocess, _ = build_encoder(model or DEFAULT_MODEL, pretrained=None, device="cpu")
    return preprocess


def pack(ws, dataset: str, model: str | None, size: int | None, force: bool, events: bool, quiet: bool):  # noqa: ANN001, ANN201
    from engine.data.packed import pack_dataset
    from engine.threads import register_job

    catalog = ws.catalog()
    catalog.require_dataset(dataset)
    preprocess = model_preprocess(model, size)
    with register_job(ws.jobs, "pack"), bar(f"pack {dataset}", unit="image",
                                              enabled=False if (events or quiet) else None) as progress:
        return pack_dataset(catalog, ws.packed, dataset, preprocess, force=force,
                            on_progress=json_progress("pack") if events else progress)


def run(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    events = args.events == "-"
    report = pack(ws, args.dataset, args.model, args.size, args.force, events, args.json)
    data = {"dataset": args.dataset, "path": str(report.path), "images": report.images,
            "size": list(report.size), "bytes": report.bytes, "action": report.action}
    if events:
        emit_done(data)
    elif args.json:
        print_json(data)
    else:
        print(f"packed {args.dataset}: {report.images} images at {report.size[1]}x{report.size[0]}, "
              f"{report.bytes / 2**20:.1f} MiB ({report.action}) -> {report.path}")
    return 0
