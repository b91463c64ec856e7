"""The workspace: one folder holding the catalogue, its backups, renders, runs, indexes, logs and job records.

:class:`Workspace` is the one owner of its layout: every top-level file and folder is one of its properties (a
run's folder inside ``runs/``: :class:`engine.run.folder.RunFolder`)::

    catalog.sqlite   the catalogue (SQLite, WAL)
    backups/         copies of the catalogue (before each migration, and daily)
    renders/         the render cache; renders/packed/ the packed (decode-free) pixel stores
    datasets/        generated data (the demo sets)
    runs/<name>/     one folder per run
    indexes/<run>/   the search indexes of a run
    logs/            one report per import
    jobs/            one record per engine job running in this workspace (:mod:`engine.threads`)
    locks/           the name locks of imports and index builds (:mod:`engine.locks`)

The catalogue stores the paths inside the workspace relative to it (:mod:`engine.stored_paths`), so the folder
can be moved or copied whole.

Resolution order: an explicit path (``--workspace``) > ``CROSSFOLD_WORKSPACE`` > the XDG data
directory (``$XDG_DATA_HOME/crossfold``, via platformdirs).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

from engine.errors import CrossfoldError
from engine.names import name_problem

if TYPE_CHECKING:
    from engine.catalog import Catalog

ENV_VAR = "CROSSFOLD_WORKSPACE"
CATALOG_FILE = "catalog.sqlite"


def default_workspace() -> Path:
    return Path(platformdirs.user_data_dir("crossfold", appauthor=False))


def resolve_workspace(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser().resolve()
    return default_workspace()


class WorkspaceError(CrossfoldError):
    """The workspace path cannot be a workspace (a file, or a folder that cannot be created)."""


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def open(cls, explicit: str | os.PathLike[str] | None = None, create: bool = True) -> Workspace:
        ws = cls(resolve_workspace(explicit))
        if ws.root.exists() and not ws.root.is_dir():
            raise WorkspaceError(f"{ws.root} is a file, not a workspace folder; give --workspace a folder "
                                 "(or move the file away)")
        if create:
            try:
                ws.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise WorkspaceError(f"{ws.root}: cannot create the workspace folder "
                                     f"({exc.strerror or exc}); give --workspace a folder you can write") from None
        return ws

    @property
    def catalog_path(self) -> Path:
        return self.root / CATALOG_FILE

    @property
    def backups(self) -> Path:
        """Copies of the catalogue (:mod:`engine.catalog.backup`)."""
        return self.root / "backups"

    @property
    def renders(self) -> Path:
        return self.root / "renders"

    @property
    def packed(self) -> Path:
        """The packed pixel stores (:mod:`engine.data.packed`), beside the render cache they are made from."""
        return self.renders / "packed"

    @property
    def datasets(self) -> Path:
        """Where generated data (the demo sets) lives; imported data stays where it is."""
        return self.root / "datasets"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def indexes(self) -> Path:
        return self.root / "indexes"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def jobs(self) -> Path:
        """One record per running engine job of this workspace (:func:`engine.threads.register_job`)."""
        return self.root / "jobs"

    @property
    def locks(self) -> Path:
        """The name locks of imports and index builds (:mod:`engine.locks`; a run's is in its folder)."""
        return self.root / "locks"

    def name_lock(self, kind: str, name: str) -> Path:
        """The lock file of dataset or index ``name`` (``kind``: ``dataset`` or ``index``; a name older than the
        rule of :mod:`engine.names` gets a file named by its hash)."""
        if kind not in ("dataset", "index"):
            raise ValueError(f"no name locks of kind {kind!r}")
        safe = name if name_problem(name) is None else hashlib.sha256(name.encode()).hexdigest()[:32]
        return self.locks / f"{kind}-{safe}.lock"

    def catalog(self) -> Catalog:
        from engine.catalog import Catalog  # here: a workspace opened only for its paths loads no SQLAlchemy

        return Catalog(self.catalog_path, backups=self.backups, root=self.root)
