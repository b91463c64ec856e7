"""``trainer import FORMAT PATH --name NAME``."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.data.import_formats import FORMATS
from engine.mesh_files import UP_AXES
from trainer.argtypes import name
from trainer.commands.common import add_events, add_json, add_workspace, emit_done, open_workspace
from trainer.output import print_json
from trainer.progress import bar, json_progress

_SHOWN_PROBLEMS = 20


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="import a dataset in a real format into the catalogue")
    p.add_argument("format", choices=FORMATS, metavar="FORMAT", help=" | ".join(FORMATS))
    p.add_argument("path", type=Path, help="the captions file (or the folder, for `folder` and `objaverse`)")
    p.add_argument("--name", type=name("dataset"), required=True, help="dataset name in the catalogue")
    p.add_argument("--images-root", type=Path, default=None, metavar="DIR", help="where image paths resolve")
    p.add_argument("--meshes-root", type=Path, default=None, metavar="DIR",
                   help="ShapeNet-style mesh folder, flat <modelId>.obj files, or <modelId>/*.png views")
    p.add_argument("--up", choices=UP_AXES, default=None, metavar="AXIS",
                   help="meshes: the axis that points up in the files, one of " + " ".join(UP_AXES)
                   + " (default y: ShapeNet, glTF; ModelNet and Thingi10K are z)")
    p.add_argument("--captions", type=Path, default=None, metavar="FILE",
                   help="objaverse: Cap3D's captions CSV (Cap3D_automated_Objaverse.csv, uid,caption rows)")
    p.add_argument("--lvis", type=Path, default=None, metavar="FILE",
                   help="objaverse: LVIS categories (lvis-annotations.json[.gz], {category: [uid, ...]})")
    p.add_argument("--img-key", default="filepath", help="csv: image column (default filepath)")
    p.add_argument("--caption-key", default="title", help="csv: caption column (default title)")
    p.add_argument("--separator", default=None, help="csv: column separator (default: tab for .tsv, else ,)")
    p.add_argument("--allow-outside", type=Path, action="append", default=[], metavar="DIR",
                   help="also import files whose real path is under DIR (a root whose sub-folders are "
                        "symlinks to another disk); repeatable. Otherwise a symlink out of the root is skipped")
    add_workspace(p)
    add_json(p)
    add_events(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.data.importers import run_import
    from engine.data.importers.interrupted import rolled_back_on_machine_fault
    from engine.locks import holding

    ws = open_workspace(args)
    events = args.events == "-"
    lock = ws.name_lock("dataset", args.name)  # held while importing: a second import of the name is refused
    with holding(lock, f"dataset {args.name!r}", f"importing into it: trainer import {args.format} {args.path}"), \
            rolled_back_on_machine_fault(catalog := ws.catalog(), ws, args.name), \
            bar(f"import {args.format}", unit="rec", enabled=False if events else None) as progress:
        report = run_import(
            catalog, ws, args.format, args.path, args.name,
            images_root=args.images_root, meshes_root=args.meshes_root,
            img_key=args.img_key, caption_key=args.caption_key, separator=args.separator,
            allow_outside=args.allow_outside, up_axis=args.up, captions=args.captions, lvis=args.lvis,
            on_progress=json_progress("import") if events else progress,
        )
    if events:
        emit_done(report.as_dict())
        return 0
    if args.json:
        print_json(report.as_dict())
        return 0
    print(_printable(report.summary_line()))
    for note in report.notes:
        print(_printable(f"  note: {note}"))
    for problem in report.problems[:_SHOWN_PROBLEMS]:
        print(_printable(f"  skipped {problem}"))
    if report.skipped > _SHOWN_PROBLEMS:
        print(f"  ... and {report.skipped - _SHOWN_PROBLEMS} more")
    if report.log_path:
        print(_printable(f"  full report: {report.log_path}"))
    return 0


def _printable(text: str) -> str:
    """``text`` with what stdout cannot encode (lone surrogates from non-UTF-8 file names) escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
