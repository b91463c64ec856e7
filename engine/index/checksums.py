"""The sha256 of an index file, remembered in-process.

A file's checksum is remembered by (path, device, inode, size, mtime, ctime), and only for files whose timestamps
are older than the timestamp granularity (a file changed twice within one clock tick would otherwise look
unchanged); the caller always compares the size with the catalogue row.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path

RACY_NS = 2_000_000_000  # a file younger than this is hashed again on every load (timestamp granularity)
_HASH_BLOCK = 1 << 22
_SHA_CACHE_SIZE = 256

_sha_cache: OrderedDict[tuple, str] = OrderedDict()
_sha_lock = threading.Lock()


def hash_fd(fd: int) -> str:
    """sha256 of an open file's bytes (read with ``pread``: the file position is not moved)."""
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
        sha = hash_fd(fd)
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
