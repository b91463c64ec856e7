"""``trainer doctor [--repair] [--json]``: check the catalogue and the workspace; repair what can be."""

from __future__ import annotations

import argparse
from pathlib import Path

from trainer.commands.common import add_json, add_workspace, open_workspace
from trainer.output import print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check the catalogue, runs and indexes; --repair fixes what it can")
    p.add_argument("--repair", action="store_true",
                   help="move a damaged catalogue aside, restore the newest good backup, rebuild runs")
    p.add_argument("--restore", type=Path, default=None, metavar="FILE",
                   help="put back a catalogue set aside (catalog.sqlite.damaged-*, listed by 'trainer doctor') that "
                        "passes the checks; the live one is kept aside, nothing is deleted")
    add_workspace(p)
    add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.doctor.checks import check
    from engine.doctor.repair import repair, restore

    ws = open_workspace(args)
    report = restore(ws, args.restore) if args.restore else repair(ws) if args.repair else check(ws)
    if args.json:
        print_json(report.as_dict())
    else:
        print(f"catalogue {report.catalog}: " + (f"damaged ({report.catalog_problem})" if report.catalog_problem
                                                   else "readable"))
        print(f"backups: {len(report.backups)}" + (f", newest {report.backups[0]}" if report.backups else ""))
        for finding in report.findings:
            print(finding.line())
        print("no problems found" if report.ok else "problems found" + ("" if args.repair or args.restore else
                                                                          "; 'trainer doctor --repair' fixes what "
                                                                          "it can"))
    return 0 if report.ok else 1
