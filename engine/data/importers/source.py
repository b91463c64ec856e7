"""What every format's loader takes and returns, and the one fatal error of an import.

A loader parses its source eagerly (so a file that is missing or not in its format fails with
:class:`ImportFailed` before anything is written) and returns a :class:`LoadedSource` whose
``records`` are produced lazily: each item's files are checked as the catalogue consumes it, so a
large import streams (parse -> check -> batched INSERT) and the progress bar moves with the checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.catalog.records import ItemRecord
from engine.errors import CrossfoldError


class ImportFailed(CrossfoldError):
    """A fatal import problem (source missing, not the expected format); the message names the file.

    Bad records are never fatal: they are reported in the :class:`ImportReport` and skipped.
    """


@dataclass(frozen=True)
class ImportOptions:
    images_root: Path | None = None
    meshes_root: Path | None = None
    img_key: str = "filepath"
    caption_key: str = "title"
    separator: str | None = None
    allow_outside: tuple[Path, ...] = ()  # folders besides the root whose files may be imported
    captions: Path | None = None  # objaverse: Cap3D's captions CSV (uid,caption rows)
    lvis: Path | None = None  # objaverse: the LVIS annotations ({category: [uid, ...]})
    #: folder, imported again: key -> the file stamp its item has (sync.py); a file with the same stamp is not
    #: checked again (it was when it was imported, and has not changed since)
    known: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


@dataclass
class LoadedSource:
    """A parsed source, ready to stream into the catalogue.

    ``records`` yields one element per item of the source, in source order: an ``ItemRecord`` to
    add, or ``None`` for an item that was skipped (its problem already in the report). ``total`` is
    the number of elements it will yield, when known, for progress.
    """

    kind: str
    root: Path
    records: Iterable[ItemRecord | None]
    total: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)
