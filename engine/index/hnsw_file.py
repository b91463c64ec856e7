"""hnswlib's index file, read without hnswlib: its header, a walk over its layout, and a read-only map of its
vectors.

hnswlib does not check its stream for short writes, and a truncated or corrupt file can crash the process inside
hnswlib (nmslib/hnswlib#180, #295): the writer checks what it wrote here (:func:`check_layout`), and a reader
checks the header (:func:`read_header`) before hnswlib sees the file.

hnswlib 0.8 writes: offsetLevel0, max_elements, cur_element_count, size_data_per_element, label_offset,
offsetData (size_t each), maxlevel (int), enterpoint_node (uint32), maxM, maxM0, M (size_t), mult (double),
ef_construction (size_t); then cur_element_count level-0 records; then per element a uint32 byte count of its
upper-level links followed by those bytes.
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.index.errors import CorruptIndexError

HEADER = struct.Struct("<QQQQQQiIQQQdQ")


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
    raw = os.pread(fd, HEADER.size, 0) if fd is not None else _read_prefix(path, HEADER.size)
    if len(raw) < HEADER.size:
        raise CorruptIndexError(path, f"file is {len(raw)} bytes, shorter than an hnswlib header")
    (off0, max_el, count, size_el, label_off, off_data, maxlevel, enter, max_m, max_m0, m, _mult,
     efc) = HEADER.unpack(raw)
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
    level0_end = HEADER.size + header.count * header.size_per_element
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


class FileVectors:
    """Read-only map of a verified index file: its level-0 records hold each vector and its label, so the
    vectors of a set of labels come out with one strided copy (hnswlib's ``get_items`` is ~100x slower).
    The map keeps the inode that was verified and loaded, even after a writer renames a new file over it."""

    def __init__(self, mapped: mmap.mmap, header: FileHeader) -> None:
        self._mapped = mapped
        self.header = header
        size = header.count * header.size_per_element
        self.records = np.frombuffer(mapped, np.uint8, count=size, offset=HEADER.size).reshape(
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


def map_file(fd: int, header: FileHeader) -> FileVectors | None:
    if os.name == "nt" or header.count == 0:  # Windows cannot rename over a mapped file
        return None
    try:
        return FileVectors(mmap.mmap(fd, 0, access=mmap.ACCESS_READ), header)
    except (OSError, ValueError):
        return None
