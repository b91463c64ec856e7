"""Options every command shares."""

from __future__ import annotations

import argparse

from engine.workspace import Workspace


def add_workspace(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workspace",
        metavar="DIR",
        default=None,
        help="workspace folder (default: $CROSSFOLD_WORKSPACE, else the XDG data dir)",
    )


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def open_workspace(args: argparse.Namespace) -> Workspace:
    return Workspace.open(args.workspace)


def add_events(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", default=None, metavar="-",
                        help="'-': progress and the final summary as JSON lines on stdout (for the app)")


def emit(event: str, **fields: object) -> None:
    import json
    import sys

    sys.stdout.write(json.dumps({"event": event, **fields}, default=str) + "\n")
    sys.stdout.flush()
