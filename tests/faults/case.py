"""One hostile input for the `trainer` CLI and what must come of it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class FaultCase:
    """A `trainer` command on a hostile input, and what it must (not) do.

    ``argv``: the `trainer` arguments; the importer corpus leaves ``--workspace`` out (its runner adds one), the
    state corpus names its own workspace (each case damages its own copy).
    ``expect_exit``: 0 (bad records reported and skipped) or 2 (one-line error, nothing imported).
    ``good_records``: how many items the dataset must hold afterwards (0 when it must not exist or be empty), when
    that is checked; ``good_captions``: how many caption observations, when that is checked too.
    ``forbidden``: files whose content must never be imported: no caption may equal a line of one, and no
    image/view/mesh path may resolve to one (or into one, for a folder).
    ``forbidden_output``: text that must not appear in what the command prints (``Traceback``, a hint to load
    with ``weights_only=False``...).
    ``before``: `trainer` commands run first on the same workspace, each expected to exit 0 (an earlier import
    into the same dataset, for duplicates across imports).
    ``setup``: called with the case's workspace before the command runs (to damage it).
    """

    name: str
    category: str
    argv: Sequence[str]
    expect_exit: int
    good_records: int | None = None
    forbidden: tuple[Path, ...] = ()
    good_captions: int | None = None
    before: tuple[tuple[str, ...], ...] = field(default_factory=tuple)
    setup: Callable[[Path], None] | None = None
    forbidden_output: tuple[str, ...] = ()
    #: called after the command with its workspace and output (stdout + stderr): what it finds wrong (a silent
    #: wrong result: pixels read from a damaged store, a job file left behind, a half-made run)
    check: Callable[[Path, str], list[str]] | None = None
    shared_workspace: bool = False  # the case's --workspace is shared with later cases: kept after it runs

    @property
    def dataset(self) -> str:
        """The dataset the command writes (the value of ``--name``), "" when there is none."""
        args = list(self.argv)
        return args[args.index("--name") + 1] if "--name" in args else ""
