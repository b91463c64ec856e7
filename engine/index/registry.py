"""Index rows of the catalogue: record, find, verify, open, build, grow and remove indexes.

One row per (run, dataset, modality) in the ``indexes`` table. Columns: path, count, dim, space,
checkpoint_sha256, built_at; ``params`` JSON: ``M``, ``ef_construction``, ``ef`` (hnswlib does not store it)
and the file's ``file_size``, ``file_sha256`` and ``file_mtime_ns``.

Writers (:func:`build_index`, :func:`add_to_index`) hold an exclusive lock on ``<index file>.lock`` from before
they load until their row is committed, write a temporary file, update the row, rename the file over the
published one and commit, so two writers never interleave and the row and the file disagree only between the
rename and the commit. A reader whose file and row disagree waits for that lock once and reads the row again
before refusing the index.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.catalog.models import IndexRow, Run, utcnow
from engine.index import ann, loading, publish
from engine.index.ann import AnnIndex
from engine.index.errors import CorruptIndexError, MissingIndexError, StaleIndexError
from engine.index.labels import check_modality
from engine.index.manifest import IndexManifest
from engine.index.params import IndexParams

try:
    import fcntl
except ImportError:  # Windows: one writer by convention
    fcntl = None  # type: ignore[assignment]

INDEX_SUFFIX = ".hnsw"
REVISION_KEY = "dataset_revision"  # in a row's params: see dataset_revision


def default_path(indexes_dir: str | os.PathLike[str], run_name: str, dataset_name: str, modality: str) -> Path:
    """``<workspace>/indexes/<run>/<dataset>-<modality>.hnsw`` (names made safe for a file system)."""
    check_modality(modality)
    return Path(indexes_dir) / _safe(run_name) / f"{_safe(dataset_name)}-{modality}{INDEX_SUFFIX}"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "_"


@contextlib.contextmanager
def _lock(path: Path, shared: bool = False) -> Iterator[None]:
    """An advisory ``flock`` on ``<path>.lock`` (created by writers; a reader without it skips the wait)."""
    if fcntl is None:
        yield
        return
    lock_path = path.with_name(path.name + ".lock")
    if shared:
        try:
            fd = os.open(lock_path, os.O_RDONLY)
        except OSError:
            yield
            return
    else:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


# ---- rows ----------------------------------------------------------------------------------------------------
def _select(run_id: int | None, dataset_id: int, modality: str):  # noqa: ANN202
    q = select(IndexRow).where(IndexRow.dataset_id == dataset_id, IndexRow.modality == modality)
    return q.where(IndexRow.run_id.is_(None) if run_id is None else IndexRow.run_id == run_id)


def _run_name(s: Session, run_id: int | None) -> str | None:
    if run_id is None:
        return None
    run = s.get(Run, run_id)
    return run.name if run is not None else str(run_id)


def find(catalog: Any, run_id: int | None, dataset_id: int, modality: str) -> IndexRow | None:
    """The row of (run, dataset, modality), or None."""
    check_modality(modality)
    with catalog.session() as s:
        return s.scalar(_select(run_id, dataset_id, modality))


def rows(catalog: Any, run_id: int | None = None, dataset_id: int | None = None) -> list[IndexRow]:
    """Index rows, optionally of one run and/or dataset, ordered by id."""
    q = select(IndexRow).order_by(IndexRow.id)
    if run_id is not None:
        q = q.where(IndexRow.run_id == run_id)
    if dataset_id is not None:
        q = q.where(IndexRow.dataset_id == dataset_id)
    with catalog.session() as s:
        return list(s.scalars(q))


def manifest_of(row: IndexRow, run_name: str | None = None) -> IndexManifest:
    """A row as the manifest :func:`engine.index.loading.load` checks a file against."""
    p = dict(row.params or {})
    run = run_name if run_name is not None else (str(row.run_id) if row.run_id is not None else None)
    try:
        return IndexManifest(
            path=Path(row.path), count=int(row.count), dim=int(row.dim),
            params=IndexParams.from_dict(p, space=row.space), checkpoint_sha256=row.checkpoint_sha256 or "",
            file_size=int(p["file_size"]), file_sha256=str(p["file_sha256"]),
            file_mtime_ns=int(p["file_mtime_ns"]) if p.get("file_mtime_ns") is not None else None, run=run,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StaleIndexError(row.path, f"catalogue row {row.id} lacks the file's size/checksum ({exc})", run) from None


def _manifest(catalog: Any, run_id: int | None, dataset_id: int, modality: str) -> IndexManifest:
    check_modality(modality)
    with catalog.session() as s:
        row = s.scalar(_select(run_id, dataset_id, modality))
        run = _run_name(s, run_id)
        if row is None:
            raise MissingIndexError(None, f"no {modality} index of run {run or '-'} for dataset {dataset_id} in the "
                                          "catalogue", run)
        return manifest_of(row, run)


def dataset_revision(row: IndexRow | None) -> int:
    """The dataset revision (``datasets.meta["revision"]``) the index was last brought up to (0: before that was
    recorded): items added or changed at a later revision are not in it as they are now."""
    value = (row.params or {}).get(REVISION_KEY, 0) if row is not None else 0
    return value if isinstance(value, int) else 0


def _upsert(s: Session, manifest: IndexManifest, run_id: int | None, dataset_id: int, modality: str,
            revision: int | None = None) -> IndexRow:
    row = s.scalar(_select(run_id, dataset_id, modality))
    if row is None:
        row = IndexRow(run_id=run_id, dataset_id=dataset_id, modality=modality)
        s.add(row)
    kept = dataset_revision(row) if revision is None else revision
    row.path = str(manifest.path)
    row.count = manifest.count
    row.dim = manifest.dim
    row.space = manifest.params.space
    row.params = {**manifest.row_params(), REVISION_KEY: kept}
    row.checkpoint_sha256 = manifest.checkpoint_sha256
    row.built_at = utcnow()
    s.flush()
    return row


def record(catalog: Any, manifest: IndexManifest, run_id: int | None, dataset_id: int, modality: str) -> IndexRow:
    """Create or update the row of (run, dataset, modality) from a saved file's manifest."""
    check_modality(modality)
    with catalog.session() as s:
        return _upsert(s, manifest, run_id, dataset_id, modality)


def remove(catalog: Any, run_id: int | None, dataset_id: int, modality: str, delete_file: bool = True) -> bool:
    """Drop the row (and its file); False when there was none."""
    check_modality(modality)
    with catalog.session() as s:
        row = s.scalar(_select(run_id, dataset_id, modality))
        if row is None:
            return False
        path = Path(row.path)
        s.delete(row)
    if delete_file:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return True


# ---- verify and open -----------------------------------------------------------------------------------------
def verify(
    catalog: Any,
    run_id: int | None,
    dataset_id: int,
    modality: str,
    checkpoint_sha256: str | None,
    expected_count: int | None = None,
) -> IndexManifest:
    """Check the row's index against the run's checkpoint hash (and the catalogue's current count, if given)
    and its file against the row's size and sha256; returns the manifest or raises :class:`StaleIndexError`."""
    manifest = _manifest(catalog, run_id, dataset_id, modality)
    try:
        loading.verify(manifest, checkpoint_sha256, expected_count)
    except (CorruptIndexError, MissingIndexError):
        manifest = _after_writer(catalog, manifest, run_id, dataset_id, modality)
        loading.verify(manifest, checkpoint_sha256, expected_count)
    return manifest


def open_index(
    catalog: Any,
    run_id: int | None,
    dataset_id: int,
    modality: str,
    checkpoint_sha256: str | None,
    expected_count: int | None = None,
    ef: int | None = None,
    num_threads: int | None = None,
) -> AnnIndex:
    """Verify and load the index of (run, dataset, modality); its ``ef`` is the row's unless given.

    ``checkpoint_sha256``: the hash of the checkpoint the caller's encoder came from (None skips the check,
    e.g. for a listing). Raises :class:`StaleIndexError` (and subclasses), whose message names the rebuild
    command; never hands out an index that does not match."""
    manifest = _manifest(catalog, run_id, dataset_id, modality)
    try:
        return loading.load(manifest, checkpoint_sha256, expected_count, ef=ef, num_threads=num_threads)
    except (CorruptIndexError, MissingIndexError):
        manifest = _after_writer(catalog, manifest, run_id, dataset_id, modality)
        return loading.load(manifest, checkpoint_sha256, expected_count, ef=ef, num_threads=num_threads)


def _after_writer(catalog: Any, old: IndexManifest, run_id: int | None, dataset_id: int, modality: str
                  ) -> IndexManifest:
    """The row as it is once a writer that may be between its rename and its commit is done."""
    with _lock(old.path, shared=True):
        return _manifest(catalog, run_id, dataset_id, modality)


# ---- build and grow ------------------------------------------------------------------------------------------
def _publish(catalog: Any, index: AnnIndex, path: Path, checkpoint_sha256: str, run_id: int | None,
             dataset_id: int, modality: str, run: str | None, revision: int | None = None) -> IndexRow:
    """Temp file -> row updated -> rename -> commit (the temp file is removed on any failure)."""
    with publish.write_temp(index, path, checkpoint_sha256, run) as pending:
        with catalog.session() as s:
            row = _upsert(s, pending.manifest, run_id, dataset_id, modality, revision)
            pending.publish()
    pending.attach(index)
    return row


def build_index(
    catalog: Any,
    run_id: int | None,
    dataset_id: int,
    modality: str,
    path: str | os.PathLike[str],
    vectors: Any,
    labels: Iterable[int] | np.ndarray,
    checkpoint_sha256: str,
    params: IndexParams | None = None,
    num_threads: int | None = None,
    on_progress: ann.Progress | None = None,
    revision: int | None = None,
) -> IndexRow:
    """Build the index of (run, dataset, modality) from scratch, publish it at ``path`` and record its row
    (``revision``: the dataset revision it holds, see :func:`dataset_revision`; None keeps the row's).

    Any failure (bad vectors, a full disk, ...) leaves the published file and its row as they were."""
    check_modality(modality)
    path = Path(path).absolute()
    with catalog.session() as s:
        run = _run_name(s, run_id)
        old = s.scalar(_select(run_id, dataset_id, modality))
        old_path = Path(old.path) if old is not None else None
    index = ann.build(vectors, labels, params, num_threads=num_threads, on_progress=on_progress)
    with _lock(path):
        row = _publish(catalog, index, path, checkpoint_sha256, run_id, dataset_id, modality, run, revision)
    if old_path is not None and old_path != path:
        with contextlib.suppress(FileNotFoundError):
            old_path.unlink()
    return row


def add_to_index(
    catalog: Any,
    run_id: int | None,
    dataset_id: int,
    modality: str,
    vectors: Any,
    labels: Iterable[int] | np.ndarray,
    checkpoint_sha256: str,
    num_threads: int | None = None,
    on_progress: ann.Progress | None = None,
    revision: int | None = None,
) -> IndexRow:
    """Add new items/observations (labels not yet in the index; present ones are skipped) without a rebuild:
    load a verified copy, grow it, write a temp file, update the row's count and checksum, rename.

    The vectors must come from the checkpoint the index was built from (else :class:`StaleIndexError`)."""
    manifest = _manifest(catalog, run_id, dataset_id, modality)
    with _lock(manifest.path):
        manifest = _manifest(catalog, run_id, dataset_id, modality)  # as it is now that we are the writer
        index = loading.load(manifest, checkpoint_sha256)
        if ann.add(index, vectors, labels, num_threads=num_threads, on_progress=on_progress) == 0:
            return find(catalog, run_id, dataset_id, modality)  # type: ignore[return-value]
        return _publish(catalog, index, manifest.path, checkpoint_sha256, run_id, dataset_id, modality,
                        manifest.run, revision)
