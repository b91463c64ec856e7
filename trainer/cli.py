"""``trainer``: the headless Crossfold CLI. Each sub-command lives in ``trainer/commands/``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from trainer.commands import COMMANDS
from trainer.errors import user_errors
from trainer.priority import lower_priority


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


if __name__ == "__main__":
    sys.exit(main())
