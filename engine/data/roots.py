"""A dataset's root (its source data, outside the workspace): found missing, and pointed at its new place.

A workspace's own files are stored relative to it and move with it (:mod:`engine.stored_paths`); an imported
dataset's files stay where the user keeps them, under the dataset's root, stored absolute. When that folder is
moved or unmounted, the commands say which root is gone and how to point the dataset at its new place
(``trainer datasets relocate NAME --root NEW``, :func:`relocate`), never 0 hits in silence.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from engine.catalog import Catalog, Dataset
from engine.errors import CrossfoldError

#: How many of a dataset's files a relocation looks for under the new root (spread over the dataset).
SAMPLE = 20


class RootMissing(CrossfoldError):
    """A dataset's root is gone while a command needs files under it."""


class RelocateError(CrossfoldError):
    """The new root cannot be the dataset's (not a folder, or it does not hold the dataset's files)."""


def relocate_command(name: str) -> str:
    return f"trainer datasets relocate {name} --root NEW"


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def require_root(ds: Dataset, paths: Iterable[str]) -> None:
    """Refuse (:class:`RootMissing`) when the dataset's root is gone and some of ``paths`` (the files a command
    is about to read) lie under it; a dataset whose needed files live elsewhere (the workspace's renders) is
    not refused."""
    if not ds.root or Path(ds.root).is_dir():
        return
    needed = sum(1 for p in paths if p and _under(p, ds.root))
    if needed:
        raise RootMissing(f"dataset {ds.name}: its root {ds.root} is missing ({needed} files under it are needed); "
                          f"if the data moved, point the dataset at its new place: {relocate_command(ds.name)}")


@dataclass(frozen=True)
class Relocated:
    name: str
    old: str
    new: str
    checked: int  # files found under the new root (of the sample)


def relocate(catalog: Catalog, name: str, new_root: str | os.PathLike[str]) -> Relocated:
    """Point dataset ``name`` at ``new_root``: every stored path under its root moves there (items, images,
    views, its recorded import roots). Refused unless ``new_root`` is a folder holding the dataset's files (a
    sample of up to :data:`SAMPLE`, spread over the dataset: each must be there)."""
    ds = catalog.require_dataset(name)
    new = Path(new_root).expanduser().resolve()
    if not new.is_dir():
        raise RelocateError(f"{new}: not a folder; give --root the folder that now holds dataset {name}'s files")
    if not ds.root:
        raise RelocateError(f"dataset {name} has no recorded root to move (its files are where the catalogue says)")
    old = ds.root.rstrip("/") or "/"
    files = [p for p in catalog.dataset_files(ds.id) if _under(p, old) and p != old]
    step = max(1, len(files) // SAMPLE)
    sample = files[::step][:SAMPLE]
    for path in sample:
        moved = new / os.path.relpath(path, old)
        if not moved.is_file():
            raise RelocateError(f"{new} does not hold dataset {name}'s files: {moved} is not there "
                                f"(looked for {len(sample)} of its {len(files)} files); nothing changed")
    catalog.relocate_dataset(ds.id, old, str(new))
    return Relocated(name, old, str(new), len(sample))
