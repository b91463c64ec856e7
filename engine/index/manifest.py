"""What an index file must be: checkpoint sha256, vector count, dimension, parameters, file size and sha256.

It is the catalogue row's content (``registry.manifest_of``) without the database; ``loading.load`` checks a file
against it before hnswlib reads the file. ``ef`` is not stored in hnswlib's file (nmslib/hnswlib#316): it comes
from the manifest and is set after every load.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from engine.index.params import IndexParams


@dataclass(frozen=True)
class IndexManifest:
    """What an index file must be: the catalogue row's content, without the database."""

    path: Path
    count: int
    dim: int
    params: IndexParams
    checkpoint_sha256: str
    file_size: int
    file_sha256: str
    file_mtime_ns: int | None = None
    run: str | None = None  # the run's name, for the rebuild hint

    def row_params(self) -> dict[str, Any]:
        """The row's ``params`` JSON: M, ef_construction, ef, and the file's size, sha256 and mtime."""
        out = {k: v for k, v in self.params.to_dict().items() if k != "space"}
        out.update(file_size=self.file_size, file_sha256=self.file_sha256, file_mtime_ns=self.file_mtime_ns)
        return out

    def with_ef(self, ef: int) -> IndexManifest:
        return replace(self, params=self.params.with_ef(ef))
