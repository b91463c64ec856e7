"""One hostile input and what the CLI must do with it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class FaultCase:
    name: str
    category: str
    argv: list[str]
    expect_exit: int
    good_records: int | None = None
    forbidden: list[str] = field(default_factory=list)
    setup: Callable[[Path], None] | None = None
