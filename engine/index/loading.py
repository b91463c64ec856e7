"""Verify an index file against its :class:`IndexManifest`, then load it with hnswlib.

:func:`load` checks all of the manifest (checkpoint, count, size, header, sha256) BEFORE hnswlib reads the file (a
truncated or corrupt file can crash the process inside hnswlib, nmslib/hnswlib#180, #295) and refuses a mismatch
with :class:`StaleIndexError` naming the fix (``trainer index --run R``). It reads the very file it verified
(through ``/proc/self/fd`` where there is one), so a rename between the check and the load cannot slip an
unchecked file in. ``ef`` is not stored in hnswlib's file (#316): it comes from the manifest and is set after
every load.
"""

from __future__ import annotations

import os
from dataclasses import replace

import hnswlib

from engine.index.ann import AnnIndex
from engine.index.checksums import file_sha256
from engine.index.errors import CorruptIndexError, MissingIndexError, StaleIndexError
from engine.index.hnsw_file import FileHeader, map_file, read_header
from engine.index.inputs import thread_count
from engine.index.manifest import IndexManifest
from engine.models import inference


def verify(
    manifest: IndexManifest,
    checkpoint_sha256: str | None = None,
    expected_count: int | None = None,
    fd: int | None = None,
) -> FileHeader:
    """Refuse (:class:`StaleIndexError` and subclasses) an index that is not what ``manifest`` says, or that
    was built from another checkpoint, or that holds another number of vectors than ``expected_count``.
    Reads the header and (unless remembered) hashes the file; never calls hnswlib."""
    path, run = manifest.path, manifest.run
    if checkpoint_sha256 is not None and checkpoint_sha256 != manifest.checkpoint_sha256:
        other_path = inference.stamp_mismatch(manifest.checkpoint_sha256, checkpoint_sha256)
        if other_path is not None:  # same checkpoint, vectors of another inference path
            raise StaleIndexError(path, other_path, run, inference.rebuild_flag(inference.split_stamp(
                checkpoint_sha256)[1]))
        raise StaleIndexError(path, f"index was built from checkpoint {manifest.checkpoint_sha256[:12] or '?'}, "
                                    f"not the run's current {checkpoint_sha256[:12]}", run)
    if expected_count is not None and expected_count != manifest.count:
        raise StaleIndexError(path, f"index holds {manifest.count} vectors, the catalogue now has {expected_count}",
                              run)
    own = fd is None
    if own:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise MissingIndexError(path, "index file is missing", run) from None
        except OSError as exc:
            raise StaleIndexError(path, f"index file cannot be read ({exc.strerror})", run) from None
    try:
        size = os.fstat(fd).st_size
        if size != manifest.file_size:
            raise CorruptIndexError(path, f"index file is {size} bytes, the catalogue recorded {manifest.file_size} "
                                          "(truncated or replaced)", run)
        header = read_header(path, fd)
        if header.count != manifest.count or header.dim != manifest.dim or header.M != manifest.params.M:
            raise CorruptIndexError(path, f"index file holds {header.count} x {header.dim} (M={header.M}), the "
                                          f"catalogue recorded {manifest.count} x {manifest.dim} "
                                          f"(M={manifest.params.M})", run)
        sha = file_sha256(path, fd=fd, row_mtime_ns=manifest.file_mtime_ns)
        if sha != manifest.file_sha256:
            raise CorruptIndexError(path, f"index file's sha256 {sha[:12]} differs from the catalogue's "
                                          f"{manifest.file_sha256[:12]} (modified or corrupt)", run)
        return header
    except CorruptIndexError as exc:
        if exc.run is None and run is not None:
            raise CorruptIndexError(path, exc.problem, run) from None
        raise
    finally:
        if own:
            os.close(fd)


def load(
    manifest: IndexManifest,
    checkpoint_sha256: str | None = None,
    expected_count: int | None = None,
    ef: int | None = None,
    num_threads: int | None = None,
) -> AnnIndex:
    """Verify (:func:`verify`), then load with hnswlib and set ``ef`` (the manifest's unless given)."""
    path = manifest.path
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise MissingIndexError(path, "index file is missing", manifest.run) from None
    try:
        header = verify(manifest, checkpoint_sha256, expected_count, fd=fd)
        via_fd = f"/proc/self/fd/{fd}"
        source = via_fd if os.path.exists(via_fd) else str(path)
        hnsw = hnswlib.Index(space=manifest.params.space, dim=manifest.dim)
        try:
            hnsw.load_index(source, max_elements=max(manifest.count, 1))
        except (RuntimeError, MemoryError, ValueError) as exc:
            raise CorruptIndexError(path, f"hnswlib cannot read the index file ({exc})", manifest.run) from None
        if source != via_fd:  # no /proc: make sure the file we loaded is the one we verified
            a, b = os.fstat(fd), os.stat(path)
            if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino):
                raise StaleIndexError(path, "index file was replaced while loading; load it again", manifest.run)
        file_view = map_file(fd, header)
    finally:
        os.close(fd)
    if hnsw.get_current_count() != manifest.count:
        raise CorruptIndexError(path, f"hnswlib read {hnsw.get_current_count()} vectors, the catalogue recorded "
                                      f"{manifest.count}", manifest.run)
    params = manifest.params if ef is None else manifest.params.with_ef(ef)
    hnsw.ef = params.ef  # not in hnswlib's file (#316)
    hnsw.set_num_threads(thread_count(num_threads))
    return AnnIndex(hnsw, params, replace(manifest, params=params), file_view)
