"""Build, save, load and query one hnswlib index file.

One file holds the vectors of one (run, dataset, modality), labelled by catalogue id (see ``labels.py``);
vectors are L2-normalised float32 and compared by inner product, so a score is a cosine (higher = better).

Files and trust
    A file is written to a temporary name in its folder, checked (header and layout: hnswlib does not check
    its stream for short writes), fsynced, and renamed over the published name (``os.replace``), so a reader
    sees the old file or the new one, never half of one; a failure leaves the published file untouched and
    no temporary file behind. What a file must be is an :class:`IndexManifest` (the catalogue row's content):
    checkpoint sha256, vector count, dimension, parameters, file size and sha256. :func:`load` checks all of
    it BEFORE hnswlib reads the file (a truncated or corrupt file can crash the process inside hnswlib,
    nmslib/hnswlib#180, #295) and refuses a mismatch with :class:`StaleIndexError` naming the fix
    (``trainer index --run R``). The sha256 of a file is remembered in-process by (path, device, inode, size,
    mtime, ctime), and only for files whose timestamps are older than the timestamp granularity (a file changed
    twice within one clock tick would otherwise look unchanged); the size is always compared with the row.
    ``ef`` is not stored in hnswlib's file (#316): it comes from the manifest and is set after every load.

Readers and writers
    hnswlib must not be searched while items are added to the same object (#562, #590). Readers keep the
    object they loaded; a writer loads its own copy, adds, writes a new file and renames it; a reader that
    loads again gets the new file. :func:`load` reads the very file it verified (through ``/proc/self/fd``
    where there is one), so a rename between the check and the load cannot slip an unchecked file in.

Queries
    :func:`query` returns ``(labels [Q, k] int64, scores [Q, k] float32)``, each row by score descending, ties
    by label ascending. With ``allowed`` (catalogue ids), only those labels come back: the index is asked for
    ``k * factor`` neighbours, filtered with ``np.isin``, and asked again with a larger factor for the rows that
    found fewer than ``k`` (no Python filter callback: it drops hnswlib from ~500k to ~5-15k queries/s,
    hnswlib PR 417). A small allowed set, or one so sparse that the over-fetch would cover most of the index,
    is searched exactly (a product with its vectors, gathered from the mapped file), which is faster there.
    ``k`` is clipped to the number of candidates (the index size, or the allowed ids present in it).
"""

from __future__ import annotations

import hashlib
import math
import mmap
import os
import struct
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import hnswlib
import numpy as np

from engine.errors import CrossfoldError
from engine.index.labels import as_labels, to_ids
from engine.index.params import IndexParams

Progress = Callable[[int, int], None]

RANDOM_SEED = 100  # hnswlib's level generator; fixed so a single-threaded build is reproducible
EXACT_BELOW = 4096  # a filtered query with at most this many allowed ids present is searched exactly
EXACT_RATIO = 8  # ... and so is one whose allowed set is under EXACT_RATIO x the over-fetch (fewer products
#                  than the graph search would compute; needs the file map for a fast gather of the vectors)
OVERFETCH_MARGIN = 2.0  # fetch this many times the neighbours the allowed fraction predicts are needed
OVERFETCH_GROWTH = 4  # then grow the fetch by this factor for the rows still short of k
EXACT_CHUNK = 65536  # vectors per block of an exact search
RACY_NS = 2_000_000_000  # a file younger than this is hashed again on every load (timestamp granularity)
BUILD_CHUNK = 20_000  # vectors inserted between two progress reports of a build
_HASH_BLOCK = 1 << 22


def rebuild_command(run: str | None) -> str:
    return f"trainer index --run {run or '<run>'}"


class StaleIndexError(CrossfoldError):
    """An index file that must not be used as it is (other checkpoint, count, size or checksum); rebuild it."""

    def __init__(self, path: str | os.PathLike[str] | None, problem: str, run: str | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.problem = problem
        self.run = run
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(f"{where}{problem}; rebuild it with `{rebuild_command(run)}`")


class CorruptIndexError(StaleIndexError):
    """The file's bytes are not what was written (checksum, truncation, layout) or hnswlib refused them."""


class MissingIndexError(StaleIndexError):
    """No index file (or no catalogue row) where one is needed."""


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


def _all_cores() -> int:
    """This job's share of the cores (all of them unless other Crossfold jobs run: ``engine.threads``)."""
    from engine.threads import job_cores

    return job_cores()


def _threads(num_threads: int | None) -> int:
    return _all_cores() if num_threads is None or num_threads <= 0 else int(num_threads)


def _unit_rows(vectors: Any, dim: int | None, what: str) -> np.ndarray:
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim == 1 and what == "queries":
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array [n, dim], got shape {x.shape}")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"{what} have dimension {x.shape[1]}, the index has {dim}")
    if x.shape[1] == 0:
        raise ValueError(f"{what} have dimension 0")
    squares = np.einsum("ij,ij->i", x, x)  # NaN/inf anywhere in a row shows here
    if not np.isfinite(squares).all():
        raise ValueError(f"{what} contain NaN or infinite values")
    if (squares == 0).any():
        raise ValueError(f"{what} contain a zero vector (no direction to compare by inner product)")
    return np.ascontiguousarray(x / np.sqrt(squares)[:, None], dtype=np.float32)


class AnnIndex:
    """A loaded (or freshly built) hnswlib index with its parameters.

    Search it from as many threads as you like; add to it (:func:`add`) only where nobody searches the same
    object (the writer's own copy)."""

    def __init__(
        self,
        hnsw: hnswlib.Index,
        params: IndexParams,
        manifest: IndexManifest | None = None,
        file_view: _FileVectors | None = None,
    ) -> None:
        self.hnsw = hnsw
        self.params = params
        self.manifest = manifest
        self._file = file_view  # the verified file this object was loaded from, mapped read-only
        self._ids: np.ndarray | None = None
        self._ids_lock = threading.Lock()

    @property
    def dim(self) -> int:
        return int(self.hnsw.dim)

    @property
    def count(self) -> int:
        return int(self.hnsw.get_current_count())

    @property
    def space(self) -> str:
        return self.params.space

    @property
    def ef(self) -> int:
        return int(self.hnsw.ef)

    @ef.setter
    def ef(self, value: int) -> None:
        """The default search ``ef`` of this object (not for use while other threads search it)."""
        self.hnsw.ef = int(value)
        self.params = self.params.with_ef(int(value))

    @property
    def path(self) -> Path | None:
        return self.manifest.path if self.manifest is not None else None

    def ids(self) -> np.ndarray:
        """The labels in the index as sorted ``int64`` catalogue ids (computed once per object)."""
        with self._ids_lock:
            if self._ids is None:
                if self._file is not None:
                    self._ids = self._file.sorted_labels()
                else:
                    self._ids = np.sort(np.asarray(self.hnsw.get_ids_list(), dtype=np.int64))
            return self._ids

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored (unit) vectors of labels that are in the index, ``[m, dim] float32``.

        From the mapped file when the object was loaded (a strided copy); else through hnswlib's ``get_items``
        (which goes through Python lists: ~10 us a vector)."""
        if self._file is not None:
            return self._file.vectors(ids)
        return np.asarray(self.hnsw.get_items(np.asarray(ids, np.uint64)), dtype=np.float32).reshape(-1, self.dim)

    def _changed(self) -> None:
        with self._ids_lock:
            self._ids = None
            self._file = None  # the file no longer holds every vector of this object

    def query(
        self, vectors: Any, k: int, ef: int | None = None, allowed: Any = None, num_threads: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        return query(self, vectors, k, ef=ef, allowed=allowed, num_threads=num_threads)

    def __repr__(self) -> str:
        return f"AnnIndex(count={self.count}, dim={self.dim}, {self.params}, path={self.path})"


# ---- build and add -------------------------------------------------------------------------------------------
def build(
    vectors: Any, labels: Iterable[int] | np.ndarray, params: IndexParams | None = None, num_threads: int | None = None,
    on_progress: Progress | None = None,
) -> AnnIndex:
    """An index of ``vectors [n, d]`` (normalised here) labelled by catalogue ids; all cores by default.

    A build with ``num_threads=1`` is reproducible; a parallel one gives a (equally good) different graph.
    ``on_progress(done, total)`` after every ``BUILD_CHUNK`` vectors inserted."""
    params = params or IndexParams()
    x = _unit_rows(vectors, None, "vectors")
    n, dim = x.shape
    lab = as_labels(labels, n)
    hnsw = hnswlib.Index(space=params.space, dim=dim)
    hnsw.init_index(max_elements=max(n, 1), M=params.M, ef_construction=params.ef_construction,
                    random_seed=RANDOM_SEED)
    threads = _threads(num_threads)
    hnsw.set_num_threads(threads)
    _insert(hnsw, x, lab, threads, on_progress)
    hnsw.ef = params.ef
    return AnnIndex(hnsw, params)


def _insert(hnsw: Any, x: np.ndarray, labels: np.ndarray, threads: int, on_progress: Progress | None) -> None:
    """Insert in chunks, in order (one thread: the same graph as one call), saying how far it got."""
    n = x.shape[0]
    for start in range(0, n, BUILD_CHUNK):
        stop = min(n, start + BUILD_CHUNK)
        hnsw.add_items(x[start:stop], labels[start:stop], num_threads=threads)
        if on_progress:
            on_progress(stop, n)


def add(
    index: AnnIndex, vectors: Any, labels: Iterable[int] | np.ndarray, num_threads: int | None = None,
    on_progress: Progress | None = None,
) -> int:
    """Add vectors whose labels are not in the index yet (labels already there are skipped, so adding the same
    items twice is harmless); grows the index as needed. Returns how many were added. Not while others search
    this object: load a copy, add, save, rename (:func:`engine.index.registry.add_to_index` does)."""
    x = _unit_rows(vectors, index.dim, "vectors")
    lab = as_labels(labels, x.shape[0])
    new = ~np.isin(lab.astype(np.int64), index.ids())
    if not new.any():
        return 0
    x, lab = np.ascontiguousarray(x[new]), lab[new]
    need = index.count + lab.shape[0]
    if need > index.hnsw.get_max_elements():
        index.hnsw.resize_index(need)
    _insert(index.hnsw, x, lab, _threads(num_threads), on_progress)
    index._changed()
    return int(lab.shape[0])


# ---- file layout ---------------------------------------------------------------------------------------------
# hnswlib 0.8 writes: offsetLevel0, max_elements, cur_element_count, size_data_per_element, label_offset,
# offsetData (size_t each), maxlevel (int), enterpoint_node (uint32), maxM, maxM0, M (size_t), mult (double),
# ef_construction (size_t); then cur_element_count level-0 records; then per element a uint32 byte count of its
# upper-level links followed by those bytes.
_HEADER = struct.Struct("<QQQQQQiIQQQdQ")


@dataclass(frozen=True)
class FileHeader:
    max_elements: int
    count: int
    size_per_element: int
    label_offset: int
    offset_data: int
    maxlevel: int
    enterpoint: int
    maxM: int
    maxM0: int
    M: int
    ef_construction: int
    dim: int = field(default=0)


def read_header(path: Path, fd: int | None = None) -> FileHeader:
    """Parse and sanity-check hnswlib's header (raises :class:`CorruptIndexError`)."""
    raw = os.pread(fd, _HEADER.size, 0) if fd is not None else _read_prefix(path, _HEADER.size)
    if len(raw) < _HEADER.size:
        raise CorruptIndexError(path, f"file is {len(raw)} bytes, shorter than an hnswlib header")
    (off0, max_el, count, size_el, label_off, off_data, maxlevel, enter, max_m, max_m0, m, _mult,
     efc) = _HEADER.unpack(raw)
    data_bytes = label_off - off_data
    ok = (
        off0 == 0 and count <= max_el and 2 <= m <= 4096 and max_m == m and max_m0 == 2 * m
        and off_data == max_m0 * 4 + 4 and label_off > off_data and data_bytes % 4 == 0
        and size_el == label_off + 8 and -1 <= maxlevel <= 256 and (count == 0 or enter < count)
    )
    if not ok:
        raise CorruptIndexError(path, "not an hnswlib 0.8 index file (header fields are inconsistent)")
    return FileHeader(max_el, count, size_el, label_off, off_data, maxlevel, enter, max_m, max_m0, m, efc,
                      data_bytes // 4)


def _read_prefix(path: Path, n: int) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def check_layout(path: Path) -> FileHeader:
    """Header plus a walk over the link lists: the file must end exactly where its last element ends (what
    hnswlib checks on load, done here in Python on the writer's side, where a short write would otherwise
    go unnoticed). Raises :class:`CorruptIndexError`."""
    header = read_header(path)
    size = path.stat().st_size
    level0_end = _HEADER.size + header.count * header.size_per_element
    if size < level0_end + 4 * header.count or (size - level0_end) % 4:
        raise CorruptIndexError(path, f"file is {size} bytes, too short for {header.count} vectors (truncated)")
    with open(path, "rb") as f:
        f.seek(level0_end)
        words = np.frombuffer(f.read(), dtype="<u4")
    link_bytes = header.maxM * 4 + 4
    nonzero = np.flatnonzero(words)
    pos = done = 0
    while done < header.count:
        j = int(np.searchsorted(nonzero, pos))
        nxt = int(nonzero[j]) if j < nonzero.size else words.size
        empty = nxt - pos  # elements without upper levels: one zero word each
        if done + empty >= header.count:
            pos += header.count - done
            break
        if nxt >= words.size:  # the file ends before its last element
            pos = words.size + 1
            break
        done, pos = done + empty, nxt
        nbytes = int(words[pos])
        if nbytes % link_bytes or nbytes // link_bytes > max(header.maxlevel, 0):
            raise CorruptIndexError(path, "link lists are inconsistent (corrupt file)")
        pos += 1 + nbytes // 4
        done += 1
        if pos > words.size:
            break
    if pos != words.size:
        raise CorruptIndexError(path, f"file is {size} bytes, which does not match its {header.count} vectors")
    return header


class _FileVectors:
    """Read-only map of a verified index file: its level-0 records hold each vector and its label, so the
    vectors of a set of labels come out with one strided copy (hnswlib's ``get_items`` is ~100x slower).
    The map keeps the inode that was verified and loaded, even after a writer renames a new file over it."""

    def __init__(self, mapped: mmap.mmap, header: FileHeader) -> None:
        self._mapped = mapped
        self.header = header
        size = header.count * header.size_per_element
        self.records = np.frombuffer(mapped, np.uint8, count=size, offset=_HEADER.size).reshape(
            header.count, header.size_per_element)
        self._lookup: tuple[np.ndarray, np.ndarray] | None = None
        self._lock = threading.Lock()

    def _sorted(self) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            if self._lookup is None:
                lo = self.header.label_offset
                labels = np.ascontiguousarray(self.records[:, lo : lo + 8]).view("<u8").ravel().astype(np.int64)
                order = np.argsort(labels, kind="stable")
                self._lookup = (labels[order], order)
            return self._lookup

    def sorted_labels(self) -> np.ndarray:
        return self._sorted()[0]

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        labels, order = self._sorted()
        rows = order[np.searchsorted(labels, np.asarray(ids, np.int64))]
        h = self.header
        block = np.ascontiguousarray(self.records[rows, h.offset_data : h.label_offset])
        return block.view("<f4").astype(np.float32, copy=False)


def _map_file(fd: int, header: FileHeader) -> _FileVectors | None:
    if os.name == "nt" or header.count == 0:  # Windows cannot rename over a mapped file
        return None
    try:
        return _FileVectors(mmap.mmap(fd, 0, access=mmap.ACCESS_READ), header)
    except (OSError, ValueError):
        return None


# ---- checksums -----------------------------------------------------------------------------------------------
_sha_cache: OrderedDict[tuple, str] = OrderedDict()
_sha_lock = threading.Lock()
_SHA_CACHE_SIZE = 256


def _hash_fd(fd: int) -> str:
    h = hashlib.sha256()
    offset = 0
    while True:
        block = os.pread(fd, _HASH_BLOCK, offset)
        if not block:
            return h.hexdigest()
        h.update(block)
        offset += len(block)


def _cache_key(path: Path, st: os.stat_result) -> tuple:
    return (str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _remember(path: Path, st: os.stat_result, sha: str, hashed_at_ns: int) -> None:
    if hashed_at_ns - max(st.st_mtime_ns, st.st_ctime_ns) < RACY_NS:
        return  # changed too recently: a change within the same timestamp tick would look like no change
    with _sha_lock:
        _sha_cache[_cache_key(path, st)] = sha
        _sha_cache.move_to_end(_cache_key(path, st))
        while len(_sha_cache) > _SHA_CACHE_SIZE:
            _sha_cache.popitem(last=False)


def file_sha256(path: str | os.PathLike[str], fd: int | None = None, row_mtime_ns: int | None = None) -> str:
    """sha256 of a file's bytes, remembered in-process while (device, inode, size, mtime, ctime) stay the same
    and the mtime is the one the catalogue row recorded (when it recorded one)."""
    path = Path(path).absolute()
    own = fd is None
    if own:
        fd = os.open(path, os.O_RDONLY)
    try:
        st = os.fstat(fd)
        trust_cache = row_mtime_ns is None or st.st_mtime_ns == row_mtime_ns
        if trust_cache:
            with _sha_lock:
                cached = _sha_cache.get(_cache_key(path, st))
            if cached is not None:
                return cached
        started = time.time_ns()
        sha = _hash_fd(fd)
        if os.fstat(fd).st_mtime_ns == st.st_mtime_ns:
            _remember(path, st, sha, started)
        return sha
    finally:
        if own:
            os.close(fd)


def forget_checksums() -> None:
    """Drop the in-process checksum cache (tests; or after restoring files with preserved timestamps)."""
    with _sha_lock:
        _sha_cache.clear()


# ---- save ----------------------------------------------------------------------------------------------------
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

    def __init__(self, tmp: Path, manifest: IndexManifest, file_view: _FileVectors | None = None) -> None:
        self.tmp = tmp
        self.manifest = manifest
        self.file_view = file_view  # the written file, mapped (it is the published one after the rename)
        self.published = False

    def attach(self, index: AnnIndex) -> None:
        """Once published: ``index`` now describes the file (its manifest; vectors read from the map)."""
        index.manifest = self.manifest
        with index._ids_lock:
            index._file = self.file_view

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
        header = check_layout(tmp)
        if header.count != index.count or header.dim != index.dim:
            raise CorruptIndexError(tmp, f"hnswlib wrote {header.count} x {header.dim}, expected "
                                         f"{index.count} x {index.dim}")
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
            st = os.fstat(fd)
            sha = _hash_fd(fd)
            file_view = _map_file(fd, header)
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


# ---- verify and load -----------------------------------------------------------------------------------------
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
        file_view = _map_file(fd, header)
    finally:
        os.close(fd)
    if hnsw.get_current_count() != manifest.count:
        raise CorruptIndexError(path, f"hnswlib read {hnsw.get_current_count()} vectors, the catalogue recorded "
                                      f"{manifest.count}", manifest.run)
    params = manifest.params if ef is None else manifest.params.with_ef(ef)
    hnsw.ef = params.ef  # not in hnswlib's file (#316)
    hnsw.set_num_threads(_threads(num_threads))
    return AnnIndex(hnsw, params, replace(manifest, params=params), file_view)


# ---- query ---------------------------------------------------------------------------------------------------
def _order(labels: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: score descending, then label ascending; the first ``k``. ``-inf`` scores mark holes."""
    if labels.shape[1] <= k and (scores[:, 1:] < scores[:, :-1]).all():
        return labels, scores  # hnswlib's order, and no ties to break (the common case)
    order = np.lexsort((labels, -scores), axis=-1)[:, :k]
    return np.take_along_axis(labels, order, 1), np.take_along_axis(scores, order, 1)


def _topk(labels: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_order` of a wide candidate list without sorting all of it: partition out the ``k`` best, widened
    to every candidate tied with the k-th (so ties are still broken by label), then order those."""
    width = scores.shape[1]
    if width <= 2 * k or scores.shape[0] == 0:
        return _order(labels, scores, k)
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    kth = np.take_along_axis(scores, part, 1).min(1)
    widest = int((scores >= kth[:, None]).sum(1).max())
    if widest > k:
        part = np.argpartition(-scores, widest - 1, axis=1)[:, :widest]
    return _order(np.take_along_axis(labels, part, 1), np.take_along_axis(scores, part, 1), k)


def _knn(index: AnnIndex, q: np.ndarray, fetch: int, num_threads: int) -> tuple[np.ndarray, np.ndarray]:
    """hnswlib's ``fetch`` nearest (searching with ef >= fetch: hnswlib uses max(ef, k)); None if it cannot
    return that many for every row (a disconnected graph)."""
    try:
        labels, dist = index.hnsw.knn_query(q, k=fetch, num_threads=num_threads)
    except RuntimeError:
        return None, None  # type: ignore[return-value]
    return to_ids(labels), (np.float32(1) - dist).astype(np.float32, copy=False)


def _exact(index: AnnIndex, q: np.ndarray, candidates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top ``k`` over ``candidates`` (ids present in the index), in blocks."""
    best_l = np.empty((q.shape[0], 0), np.int64)
    best_s = np.empty((q.shape[0], 0), np.float32)
    for start in range(0, candidates.size, EXACT_CHUNK):
        ids = candidates[start : start + EXACT_CHUNK]
        vecs = index.vectors(ids)
        # hnswlib scores 1 - (1 - dot) in float32: round the same way so both paths agree on ties.
        s = np.float32(1) - (np.float32(1) - q @ vecs.T)
        lab = np.broadcast_to(ids, s.shape)
        if best_l.shape[1]:
            lab, s = np.concatenate([best_l, lab], 1), np.concatenate([best_s, s], 1)
        best_l, best_s = _topk(lab, s, k)
    return best_l, best_s


def query(
    index: AnnIndex,
    vectors: Any,
    k: int,
    ef: int | None = None,
    allowed: Any = None,
    num_threads: int = 1,
    exact_below: int = EXACT_BELOW,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest labels of each query: ``(labels [Q, k'] int64, scores [Q, k'] float32)``, with
    ``k' = min(k, candidates)``, scores are inner products of unit vectors (higher = better), each row by score
    descending then label ascending.

    ``ef``: search effort for this call, at least the index's ``ef`` and ``k`` (thread-safe: passed through
    hnswlib's ``k``, the shared object is not changed). ``allowed``: catalogue ids the results must come from.
    ``num_threads``: hnswlib threads over the queries (1: lowest latency for a few queries)."""
    if k < 0:
        raise ValueError(f"k must be >= 0, not {k}")
    q = _unit_rows(vectors, index.dim, "queries")
    nq, n = q.shape[0], index.count
    threads = _threads(num_threads)
    search_ef = max(int(ef or 0), index.ef)
    if allowed is None:
        k_eff = min(k, n)
        if k_eff == 0 or nq == 0:
            return np.empty((nq, k_eff), np.int64), np.empty((nq, k_eff), np.float32)
        # hnswlib searches with max(its ef, k): ask for k + 1 (to see whether the k-th score is tied with what
        # follows) unless this call wants a deeper search than the object's.
        width = min(n, k_eff + 1 if search_ef <= index.ef else max(k_eff + 1, search_ef))
        out_l = np.empty((nq, k_eff), np.int64)
        out_s = np.empty((nq, k_eff), np.float32)
        todo = np.arange(nq)
        while todo.size:
            labels, scores = _knn(index, q[todo], width, threads)
            if labels is None:
                break
            # A row is settled when everything tied with its k-th score came back (ties are broken by label).
            settled = np.ones(todo.size, bool) if width >= n else scores[:, k_eff - 1] > scores[:, -1]
            out_l[todo[settled]], out_s[todo[settled]] = _topk(labels[settled], scores[settled], k_eff)
            todo = todo[~settled]
            width = min(n, width * OVERFETCH_GROWTH)
        if todo.size:
            out_l[todo], out_s[todo] = _exact(index, q[todo], index.ids(), k_eff)
        return out_l, out_s

    want = np.unique(np.asarray(allowed, dtype=np.int64).ravel())
    ids = index.ids()
    pos = np.searchsorted(ids, want).clip(max=max(ids.size - 1, 0))
    present = want[ids[pos] == want] if ids.size else want[:0]
    k_eff = min(k, present.size)
    if k_eff == 0 or nq == 0:
        return np.empty((nq, k_eff), np.int64), np.empty((nq, k_eff), np.float32)
    # The allowed hits of an unfiltered list of length L are about L * m / n: fetch enough for k of them with a
    # margin, and search as deep as an unfiltered query of the same quality would (ef scaled by n / m).
    fetch = math.ceil(n / present.size * max(OVERFETCH_MARGIN * k_eff, search_ef))
    gather_fast = index._file is not None
    if present.size <= exact_below or (gather_fast and present.size <= EXACT_RATIO * fetch) or 2 * fetch >= n:
        return _exact(index, q, present, k_eff)

    out_l = np.empty((nq, k_eff), np.int64)
    out_s = np.empty((nq, k_eff), np.float32)
    todo = np.arange(nq)
    while todo.size:
        labels, scores = _knn(index, q[todo], fetch, threads)
        if labels is None:
            break
        ok = np.isin(labels, present, assume_unique=False)
        full = ok.sum(1) >= k_eff
        if full.any():
            s = np.where(ok[full], scores[full], -np.inf).astype(np.float32)
            out_l[todo[full]], out_s[todo[full]] = _topk(labels[full], s, k_eff)
        todo = todo[~full]
        fetch *= OVERFETCH_GROWTH
        if 2 * fetch >= n:  # the over-fetch would cover most of the index: exact is as fast and exact
            break
    if todo.size:
        out_l[todo], out_s[todo] = _exact(index, q[todo], present, k_eff)
    return out_l, out_s
