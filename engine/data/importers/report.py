"""What an import did: counts, and every record it skipped with where and why."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One skipped record. ``where`` is ``line 12``, ``key 1000092795.jpg``, ``row 3`` ..."""

    file: str
    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.reason}"


@dataclass
class ImportReport:
    dataset: str
    format: str
    source: str
    items_added: int = 0
    captioned_items_added: int = 0  # of the items added, those with at least one caption
    items_updated: int = 0
    observations_added: int = 0
    records_read: int = 0
    synced: bool = False  # the same folder imported again: the dataset now follows it (sync.py)
    items_removed: int = 0  # a sync: items whose file is gone, dropped with their observations
    items_changed: int = 0  # a sync: items whose file changed (size or mtime) since it was imported
    items_unchanged: int = 0  # a sync: items whose file is as it was
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the import did besides adding (merged, ...)
    log_path: str = ""

    def skip(self, file: str | Path, where: str, reason: str) -> None:
        self.problems.append(Problem(str(file), where, reason))

    @property
    def skipped(self) -> int:
        return len(self.problems)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["skipped"] = self.skipped
        return d

    def summary_line(self) -> str:
        if self.synced:
            return (
                f"synchronised {self.dataset!r} ({self.format}): added {self.items_added}, "
                f"removed {self.items_removed}, changed {self.items_changed}, unchanged {self.items_unchanged} "
                f"({self.captioned_items_added} added with captions), "
                f"{self.observations_added} new observations, {self.skipped} skipped"
            )
        return (
            f"imported {self.dataset!r} ({self.format}): {self.items_added} new items "
            f"({self.captioned_items_added} with captions), "
            f"{self.observations_added} new observations, {self.skipped} skipped"
        )

    def write_log(self, logs_dir: Path) -> Path:
        """Write the full report as JSON lines next to the catalogue; returns the path."""
        logs_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = logs_dir / f"import-{_safe(self.dataset)}-{stamp}.jsonl"
        self.log_path = str(path)
        with path.open("w", encoding="utf-8") as f:
            head = {k: v for k, v in self.as_dict().items() if k != "problems"}
            f.write(json.dumps({"event": "import", **head}) + "\n")
            for p in self.problems:
                f.write(json.dumps({"event": "skipped", **asdict(p)}) + "\n")
        return path


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
