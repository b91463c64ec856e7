"""``trainer runs list|show``: the runs of a workspace as the app shows them, from the same engine code
(:func:`engine.runs.book.load_runs`: the catalogue plus each run's events.jsonl, reduced by
:class:`engine.runs.state.RunState`).

A ``running`` row whose recorded pid is gone, or is no longer a trainer, shows how its events ended, else
``interrupted``. An unknown run name is a one-line error (exit 2).
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from engine.errors import CrossfoldError
from engine.metric_keys import summary_metrics
from engine.runs.state import RunState
from trainer.commands.common import add_json, add_workspace, open_workspace
from trainer.output import print_json, print_table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="list training runs or show one")
    rsub = p.add_subparsers(dest="runs_command", required=True, metavar="ACTION")
    ls = rsub.add_parser("list", help="every run: status, progress, best checkpoint, latest metrics")
    add_workspace(ls)
    add_json(ls)
    ls.set_defaults(func=list_runs)
    show = rsub.add_parser("show", help="one run: its summary, configuration and last error")
    show.add_argument("name")
    add_workspace(show)
    add_json(show)
    show.set_defaults(func=show_run)


def _states(args: argparse.Namespace) -> tuple[Any, list[RunState]]:
    from engine.runs.book import load_runs

    ws = open_workspace(args)
    catalog = ws.catalog()
    try:
        return ws, load_runs(catalog, ws)
    finally:
        catalog.close()


def _iso(stamp: float | None) -> str | None:
    return datetime.fromtimestamp(stamp).astimezone().isoformat(timespec="seconds") if stamp else None


def summary(s: RunState) -> dict[str, Any]:
    step, score = s.best
    return {
        "name": s.name, "loss": s.loss or s.config.get("loss", ""), "dataset": s.dataset or s.config.get("dataset", ""),
        "status": s.display_status, "catalog_status": s.status, "pid": s.pid, "step": s.step, "total": s.total,
        "best_step": step, "best_score": score, "val_split": s.val_split,
        "val": s.latest_metrics(s.val_split), "test": s.latest_metrics("test"),
        "started_at": _iso(s.started_at), "finished_at": _iso(s.finished_at), "run_dir": s.run_dir,
    }


def last_error(s: RunState) -> str:
    """The failure the events reported, else (a failed or interrupted run) the error line of its log."""
    from engine.run.folder import RunFolder
    from engine.runs.ending import log_error

    if s.error or s.display_status not in ("failed", "interrupted"):
        return s.error
    return log_error(RunFolder(s.run_dir).log)


def list_runs(args: argparse.Namespace) -> int:
    from engine.runs.columns import COLUMNS, cell, when

    ws, states = _states(args)
    if args.json:
        print_json({"workspace": str(ws.root), "runs": [summary(s) for s in states]})
        return 0
    if not states:
        print(f"no runs in {ws.root} (try `trainer train` or `trainer demo`)")
        return 0
    print_table([c.lower() for c in COLUMNS] + ["finished"],
                [[cell(s, c) for c in COLUMNS] + [when(s.finished_at)] for s in states])
    return 0


def show_run(args: argparse.Namespace) -> int:
    ws, states = _states(args)
    state = next((s for s in states if s.name == args.name), None)
    if state is None:
        known = ", ".join(s.name for s in states) or "none"
        raise CrossfoldError(f"no run named {args.name!r} in {ws.root} (runs: {known})")
    data = {**summary(state), "device": state.device, "best_checkpoint": state.best_path
            or state.metrics.get("best_checkpoint", ""), "last_checkpoint": state.last_checkpoint,
            "error": last_error(state), "skipped_events": state.skipped_events, "config": state.config}
    if args.json:
        print_json(data)
        return 0
    for key in ("name", "status", "loss", "dataset", "step", "total", "best_step", "best_score", "started_at",
                "finished_at", "run_dir", "device", "best_checkpoint", "last_checkpoint", "error"):
        value = data[key]
        if value not in (None, ""):
            print(f"{key.replace('_', ' ')}: {value}")
    for split in (state.val_split, "test"):
        metrics = data["val" if split == state.val_split else "test"]
        if metrics:
            means = summary_metrics(metrics)
            print(f"{split} metrics (latest): " + "  ".join(f"{k}={v:.4f}" for k, v in (means or metrics).items()
                                                             if isinstance(v, (int, float))))
    print("config:")
    for key, value in sorted(state.config.items()):
        print(f"  {key}: {value}")
    return 0
