"""Options every command shares."""

from __future__ import annotations

import argparse
from typing import Any

from engine.job_events import JobDone, JobEvent, JobProgress, write_job_event
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


def emit(event: JobEvent) -> None:
    """One job event on stdout, for ``--events -`` (:mod:`engine.job_events`)."""
    write_job_event(event)


def emit_progress(stage: str, done: int, total: int | None) -> None:
    emit(JobProgress(stage=stage, done=done, total=total))


def emit_done(result: dict[str, Any]) -> None:
    emit(JobDone(result=result))
