"""Engine creation, SQLite pragmas and schema migrations.

``SCHEMA_VERSION`` is the version the code expects. A new catalogue is created at that version;
an older one is brought up by running every step in ``MIGRATIONS`` above its stored version, in
order, each in its own transaction, recording the new version after each step.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, select, text

from engine.catalog.models import Base, SchemaVersion, bind_root, root_of
from engine.errors import CrossfoldError

try:
    import fcntl
except ImportError:  # Windows: one process at a time by convention
    fcntl = None  # type: ignore[assignment]

SCHEMA_VERSION = 4


def _add_run_kind(conn: Connection) -> None:
    """Version 2: ``runs.kind`` (``train``, or ``pretrained`` for a zero-shot run of pretrained weights)."""
    columns = {row[1] for row in conn.execute(text("PRAGMA table_info(runs)"))}
    if "kind" not in columns:
        conn.execute(text("ALTER TABLE runs ADD COLUMN kind VARCHAR(20) NOT NULL DEFAULT 'train'"))


def _add_dataset_item_index(conn: Connection) -> None:
    """Version 3: ``ix_items_dataset`` on ``items(dataset_id)``, ordered by item id within a dataset.

    The first page of a dataset's items (``trainer datasets show``, ``Catalog.items(..., limit=N)``) and its
    item ids in id order (the Datasets page's grid) are then read in id order from the index, instead of
    sorting every item of the dataset in a temporary B-tree (120,000 at COCO's size) to return a few."""
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_items_dataset ON items (dataset_id)"))


#: The path columns (:class:`engine.catalog.models.WorkspacePath`): (table, column).
PATH_COLUMNS = (("runs", "run_dir"), ("indexes", "path"), ("observations", "path"), ("items", "asset_path"),
                ("datasets", "root"))


def _relative_paths(conn: Connection) -> None:
    """Version 4: paths inside the workspace stored relative to it (:mod:`engine.stored_paths`).

    An absolute path inside the workspace becomes relative; one outside stays absolute. The workspace is where
    the catalogue is now and, for a workspace moved or copied before this step, where it was: the folder above
    each run's ``runs/<name>`` and each index's ``indexes/<run>/<file>``."""
    roots = [str(root)] if (root := root_of(conn.dialect)) is not None else []
    for name, run_dir in conn.execute(text("SELECT name, run_dir FROM runs WHERE run_dir LIKE '/%'")):
        folder = Path(run_dir)
        if folder.name == name and folder.parent.name == "runs":
            roots.append(str(folder.parent.parent))
    for (path,) in conn.execute(text("SELECT path FROM indexes WHERE path LIKE '/%'")):
        parents = Path(path).parents
        if len(parents) > 2 and parents[1].name == "indexes":
            roots.append(str(parents[2]))
    for old in dict.fromkeys(roots):
        rewrite_prefix(conn, old, "")


def rewrite_prefix(conn: Connection, old: str, new: str, dataset_id: int | None = None) -> None:
    """Every path column's values at or under the folder ``old`` moved to ``new`` (``""``: relative to it), in
    SQL (a large catalogue's observations are not loaded); ``dataset_id``: that dataset's rows only."""
    old = old.rstrip("/") or "/"
    prefix = old if old.endswith("/") else old + "/"
    start = "" if not new else new.rstrip("/") + "/"
    scope = {
        "datasets": "id = :ds",
        "items": "dataset_id = :ds",
        "observations": "item_id IN (SELECT id FROM items WHERE dataset_id = :ds)",
        "runs": "0",
        "indexes": "0",
    }
    for table, column in PATH_COLUMNS:
        where = f" AND {scope[table]}" if dataset_id is not None else ""
        conn.execute(text(f"UPDATE {table} SET {column} = :start || substr({column}, :n) "
                          f"WHERE substr({column}, 1, :n - 1) = :prefix{where}"),
                     {"start": start, "n": len(prefix) + 1, "prefix": prefix, "ds": dataset_id})
        conn.execute(text(f"UPDATE {table} SET {column} = :whole WHERE {column} = :old{where}"),
                     {"whole": new.rstrip("/") or ("." if not new else "/"), "old": old, "ds": dataset_id})


# version -> step that turns a catalogue at version-1 into one at version.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {2: _add_run_kind, 3: _add_dataset_item_index,
                                                       4: _relative_paths}


class SchemaError(CrossfoldError):
    pass


_THREAD_LOCK = threading.Lock()


@contextmanager
def schema_lock(path: Path) -> Iterator[None]:
    """Exclusive across threads (a lock) and processes (``flock`` on ``<catalogue>.lock``)."""
    with _THREAD_LOCK:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_name(path.name + ".lock"), "a") as handle:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(handle, fcntl.LOCK_UN)


def make_engine(path: Path, root: Path | None = None) -> Engine:
    """An engine on the catalogue at ``path``, whose path columns are stored relative to ``root``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})
    if root is not None:
        bind_root(engine.dialect, root)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    return engine


def stored_version(conn: Connection) -> int | None:
    has_table = conn.execute(
        text("SELECT name FROM sqlite_master WHERE type='table' AND name='schema_version'")
    ).first()
    if not has_table:
        return None
    return conn.execute(select(SchemaVersion.version).order_by(SchemaVersion.id.desc())).scalar()


def missing_tables(conn: Connection) -> list[str]:
    """Tables of the schema the file lacks (a table dropped by hand or lost to damage)."""
    present = set(conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'")).scalars())
    return sorted(set(Base.metadata.tables) - present)


def ensure_schema(
    engine: Engine, target: int | None = None, before_migration: Callable[[], None] | None = None
) -> int:
    """Create or migrate the schema; returns the version now stored.

    ``before_migration`` runs once before the first migration step (the catalogue makes a backup there)."""
    target = SCHEMA_VERSION if target is None else target
    with engine.begin() as conn:
        version = stored_version(conn)
        if version is None:
            Base.metadata.create_all(conn)
            conn.execute(SchemaVersion.__table__.insert().values(version=target))
            return target
    if version > target:
        raise SchemaError(
            f"catalogue schema version {version} is newer than this Crossfold ({target}); upgrade Crossfold"
        )
    if version < target and before_migration is not None:
        before_migration()
    for step in range(version + 1, target + 1):
        migrate = MIGRATIONS.get(step)
        if migrate is None:
            raise SchemaError(f"no migration to schema version {step}")
        with engine.begin() as conn:
            migrate(conn)
            conn.execute(SchemaVersion.__table__.insert().values(version=step))
    return target
