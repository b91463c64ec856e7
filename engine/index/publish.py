"""Publish an index file: write it to a temporary name in its folder, check it, fsync it and rename it over the
published name (``os.replace``), so a reader sees the old file or the new one, never half of one.

The file is checked after hnswlib writes it (header and layout: hnswlib does not check its stream for short
writes); a failure leaves the published file untouched and no temporary file behind. What was written is an
:class:`IndexManifest` (size, sha256, mtime) for the catalogue row. The catalogue writer can update its row
between the write and the rename (:class:`PendingIndex`), so the window in which file and row disagree is short.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from engine.disk import LOW_SPACE, DiskFull, free_bytes
from engine.index.ann import AnnIndex
from engine.index.checksums import hash_fd
from engine.index.errors import CorruptIndexError
from engine.index.hnsw_file import FileVectors, check_layout, map_file
from engine.index.manifest import IndexManifest


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open a directory
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class PendingIndex:
    """A written, checked, fsynced temporary file waiting to be renamed over its published path.

    The catalogue writer updates its row, renames (:meth:`publish`) and commits, so the window in which the
    file and the row disagree is as short as it can be. Leaving the ``with`` block without publishing (an
    error) removes the temporary file."""

    def __init__(self, tmp: Path, manifest: IndexManifest, file_view: FileVectors | None = None) -> None:
        self.tmp = tmp
        self.manifest = manifest
        self.file_view = file_view  # the written file, mapped (it is the published one after the rename)
        self.published = False

    def attach(self, index: AnnIndex) -> None:
        """Once published: ``index`` now describes the file (its manifest; vectors read from the map)."""
        index.attach_file(self.manifest, self.file_view)

    def publish(self) -> IndexManifest:
        path = self.manifest.path
        os.replace(self.tmp, path)
        self.published = True
        _fsync_dir(path.parent)
        return self.manifest

    def discard(self) -> None:
        if not self.published:
            try:
                self.tmp.unlink()
            except FileNotFoundError:
                pass

    def __enter__(self) -> PendingIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()


def write_temp(index: AnnIndex, path: str | os.PathLike[str], checkpoint_sha256: str,
               run: str | None = None) -> PendingIndex:
    """Write ``index`` to a temporary file beside ``path`` and check it; the published file is not touched."""
    path = Path(path).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        index.hnsw.save_index(str(tmp))
        try:
            header = check_layout(tmp)
        except CorruptIndexError:
            free = free_bytes(tmp.parent)
            if free is not None and free < LOW_SPACE:  # hnswlib does not report a failed write: a full disk
                raise DiskFull(tmp.parent) from None
            raise
        if header.count != index.count or header.dim != index.dim:
            raise CorruptIndexError(tmp, f"hnswlib wrote {header.count} x {header.dim}, expected "
                                         f"{index.count} x {index.dim}")
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
            st = os.fstat(fd)
            sha = hash_fd(fd)
            file_view = map_file(fd, header)
        finally:
            os.close(fd)
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise
    manifest = IndexManifest(path=path, count=index.count, dim=index.dim, params=index.params,
                             checkpoint_sha256=checkpoint_sha256, file_size=st.st_size, file_sha256=sha,
                             file_mtime_ns=st.st_mtime_ns, run=run)
    return PendingIndex(tmp, manifest, file_view)


def save(index: AnnIndex, path: str | os.PathLike[str], checkpoint_sha256: str, run: str | None = None
         ) -> IndexManifest:
    """Write ``index`` to ``path`` atomically (temporary file in the same folder, then ``os.replace``)."""
    with write_temp(index, path, checkpoint_sha256, run) as pending:
        manifest = pending.publish()
    pending.attach(index)
    return manifest

