"""``--deterministic`` and ``--threads`` for the commands that encode outside training (``trainer eval``,
``trainer index``); training has them as options of its config (:class:`engine.run.config.TrainConfig`)."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator

from trainer.argtypes import training


def add_repeatable(p: argparse.ArgumentParser, builds_indexes: bool = False) -> None:
    extra = ", one hnswlib thread building an index" if builds_indexes else ""
    p.add_argument("--deterministic", action="store_true",
                   help=f"the same command gives the same bits: threads fixed for the whole job, torch's "
                        f"deterministic algorithms{extra} (README: Repeatable runs)")
    p.add_argument("--threads", type=training("threads"), default=None, metavar="N",
                   help="torch intra-op threads for the whole job (default: this job's share of the cores; with "
                        "--deterministic, every core this process may use)")


@contextlib.contextmanager
def repeatable(args: argparse.Namespace) -> Iterator[None]:
    """The block runs with ``--threads`` (else, with ``--deterministic``, every core) and, with
    ``--deterministic``, torch's deterministic algorithms."""
    from engine.run.repeatable import deterministic, fixed_threads

    if args.deterministic:
        with deterministic(fixed_threads(args.threads)):
            yield
        return
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    yield
