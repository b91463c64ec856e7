"""One hnswlib index in memory (:class:`AnnIndex`): built from vectors, or grown by adding vectors.

Vectors are L2-normalised float32 and compared by inner product, so a score is a cosine (higher = better);
labels are catalogue ids (see ``labels.py``).

hnswlib must not be searched while items are added to the same object (nmslib/hnswlib#562, #590). Readers keep
the object they loaded; a writer loads its own copy, adds, writes a new file and renames it (``publish.py``); a
reader that loads again gets the new file.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import hnswlib
import numpy as np

from engine.index.hnsw_file import FileVectors
from engine.index.inputs import thread_count, unit_rows
from engine.index.labels import as_labels
from engine.index.manifest import IndexManifest
from engine.index.params import IndexParams
from engine.index.queries import query

Progress = Callable[[int, int], None]

RANDOM_SEED = 100  # hnswlib's level generator; fixed so a single-threaded build is reproducible
BUILD_CHUNK = 20_000  # vectors inserted between two progress reports of a build


class AnnIndex:
    """A loaded (or freshly built) hnswlib index with its parameters.

    Search it from as many threads as you like; add to it (:func:`add`) only where nobody searches the same
    object (the writer's own copy)."""

    def __init__(
        self,
        hnsw: hnswlib.Index,
        params: IndexParams,
        manifest: IndexManifest | None = None,
        file_view: FileVectors | None = None,
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

    @property
    def mapped(self) -> bool:
        """Whether the vectors come from the mapped file (a fast gather) rather than through hnswlib."""
        return self._file is not None

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

    def attach_file(self, manifest: IndexManifest, file_view: FileVectors | None) -> None:
        """This object now describes a published file: its manifest, and vectors read from its map."""
        self.manifest = manifest
        with self._ids_lock:
            self._file = file_view

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


def build(
    vectors: Any, labels: Iterable[int] | np.ndarray, params: IndexParams | None = None, num_threads: int | None = None,
    on_progress: Progress | None = None,
) -> AnnIndex:
    """An index of ``vectors [n, d]`` (normalised here) labelled by catalogue ids; this job's share of the cores
    by default.

    A build with ``num_threads=1`` is reproducible; a parallel one gives a (equally good) different graph.
    ``on_progress(done, total)`` after every ``BUILD_CHUNK`` vectors inserted."""
    params = params or IndexParams()
    x = unit_rows(vectors, None, "vectors")
    n, dim = x.shape
    lab = as_labels(labels, n)
    hnsw = hnswlib.Index(space=params.space, dim=dim)
    hnsw.init_index(max_elements=max(n, 1), M=params.M, ef_construction=params.ef_construction,
                    random_seed=RANDOM_SEED)
    threads = thread_count(num_threads)
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
    x = unit_rows(vectors, index.dim, "vectors")
    lab = as_labels(labels, x.shape[0])
    new = ~np.isin(lab.astype(np.int64), index.ids())
    if not new.any():
        return 0
    x, lab = np.ascontiguousarray(x[new]), lab[new]
    need = index.count + lab.shape[0]
    if need > index.hnsw.get_max_elements():
        index.hnsw.resize_index(need)
    _insert(index.hnsw, x, lab, thread_count(num_threads), on_progress)
    index._changed()
    return int(lab.shape[0])
