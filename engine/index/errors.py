"""The ways an index file is refused: each one line naming the file, the problem and the fix
(``trainer index --run R``)."""

from __future__ import annotations

import os
from pathlib import Path

from engine.errors import CrossfoldError


def rebuild_command(run: str | None, flags: str = "") -> str:
    return f"trainer index --run {run or '<run>'}{flags}"


class StaleIndexError(CrossfoldError):
    """An index file that must not be used as it is (other checkpoint, count, size or checksum); rebuild it."""

    def __init__(self, path: str | os.PathLike[str] | None, problem: str, run: str | None = None,
                 flags: str = "") -> None:
        self.path = Path(path) if path is not None else None
        self.problem = problem
        self.run = run
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(f"{where}{problem}; rebuild it with `{rebuild_command(run, flags)}`")


class CorruptIndexError(StaleIndexError):
    """The file's bytes are not what was written (checksum, truncation, layout) or hnswlib refused them."""


class MissingIndexError(StaleIndexError):
    """No index file (or no catalogue row) where one is needed."""
