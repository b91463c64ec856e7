"""An import cut short by the machine (a full or read-only disk): what it kept, and no empty dataset left behind.

``add_records`` writes an import's items in one transaction, so a failed import adds none of them; the dataset row
made for it (a new dataset) is then removed again. What is kept is named in the one-line error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.disk import machine_error

if TYPE_CHECKING:
    from engine.catalog.repository import Catalog
    from engine.workspace import Workspace


@dataclass(frozen=True)
class _Before:
    existed: bool
    items: int


@contextlib.contextmanager
def rolled_back_on_machine_fault(catalog: Catalog, workspace: Workspace, name: str) -> Iterator[None]:
    """Run an import into dataset ``name``; on a machine fault, roll a new, empty dataset back and raise the fault
    naming what was kept."""
    ds = catalog.dataset(name)
    before = _Before(ds is not None, catalog.count_items(ds.id) if ds is not None else 0)
    try:
        yield
    except OSError as exc:
        fault = machine_error(exc, workspace.root, workspace.root)
        if fault is None:
            raise
        raise machine_error(fault, workspace.root, workspace.root, _kept(catalog, name, before)) from None


def _kept(catalog: Catalog, name: str, before: _Before) -> str:
    try:
        ds = catalog.dataset(name)
        now = catalog.count_items(ds.id) if ds is not None else 0
        if ds is not None and now > before.items:
            return f"the {now - before.items} items imported so far into {name!r}"
        if ds is not None and not before.existed:
            catalog.delete_dataset(name)
        return f"none of this import ({name!r} is as it was)" if before.existed else "none (no dataset was made)"
    except OSError:  # the catalogue could not even be read or changed back
        return f"unknown: see 'trainer datasets show {name}'"
