"""``trainer``: the headless Crossfold CLI. Each sub-command lives in ``trainer/commands/``."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from typing import NoReturn

from engine.priority import lower_priority
from trainer.commands import COMMANDS
from trainer.errors import machine_fault, user_errors

#: commands that keep cores busy: each registers itself as a running job of its workspace while it runs, so that
#: concurrent engine jobs split the cores (``engine.threads``)
HEAVY_COMMANDS = frozenset({"demo", "demo-data", "import", "render", "pack", "train", "eval", "index"})


class OneLineParser(argparse.ArgumentParser):
    """A bad argument is one line on stderr (no usage block), exit 2; sub-command parsers are of this class too."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
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
    except BrokenPipeError:  # `trainer ... | head`: the reader left, nothing to report (before Exception: it is one)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # a full or read-only disk, wherever it struck: one line; anything else is a bug
        fault = machine_fault(exc, getattr(args, "workspace", None))
        if fault is None:
            raise
        print(f"trainer: error: {fault}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("trainer: interrupted", file=sys.stderr)
        return 130


@contextlib.contextmanager
def _as_job(args: argparse.Namespace) -> Iterator[None]:
    """Idle OpenMP threads sleep (this process and its children); a heavy command registers as a job of its
    workspace and, unless it is a training (whose loop keeps adjusting), takes its share of the cores as its
    thread count (``OMP_NUM_THREADS``, before torch is imported; a value the user set stays)."""
    from engine.threads import job_cores, quiet_openmp, register_job
    from engine.workspace import Workspace, resolve_workspace

    quiet_openmp()
    root = resolve_workspace(getattr(args, "workspace", None)) if args.command in HEAVY_COMMANDS else None
    if root is None or not root.is_dir():
        yield
        return
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(register_job(Workspace(root).jobs, args.command))
        except OSError:  # a full or read-only disk: the job runs unregistered (a write it makes says why)
            pass
        if args.command != "train":
            os.environ.setdefault("OMP_NUM_THREADS", str(job_cores()))
        yield


if __name__ == "__main__":
    sys.exit(main())
