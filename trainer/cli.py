"""``trainer``: the headless Crossfold CLI. Each sub-command lives in ``trainer/commands/``."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence

from trainer.commands import COMMANDS
from trainer.errors import user_errors
from trainer.priority import lower_priority

#: commands that keep cores busy: each registers itself as a running job of its workspace while it runs, so that
#: concurrent engine jobs split the cores (``engine.threads``)
HEAVY_COMMANDS = frozenset({"demo", "demo-data", "import", "render", "pack", "train", "eval", "index"})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trainer",
        description="Crossfold, headless: datasets, rendering, training, evaluation, indexes and search.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        lower_priority()  # before a command imports torch: an app-started trainer runs below the GUI from here
        with _as_job(args):
            return int(args.func(args) or 0)
    except user_errors() as exc:
        print(f"trainer: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `trainer ... | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("trainer: interrupted", file=sys.stderr)
        return 130


def _as_job(args: argparse.Namespace) -> contextlib.AbstractContextManager[object]:
    """Idle OpenMP threads sleep (this process and its children); a heavy command registers as a job."""
    from engine.threads import quiet_openmp, register_job
    from engine.workspace import resolve_workspace

    quiet_openmp()
    if args.command not in HEAVY_COMMANDS:
        return contextlib.nullcontext()
    root = resolve_workspace(getattr(args, "workspace", None))
    return register_job(root, args.command) if root.is_dir() else contextlib.nullcontext()


if __name__ == "__main__":
    sys.exit(main())
