"""A process's memory: an opt-in stage-by-stage trace, and handing memory it no longer needs back to the OS.

:func:`mark`, where a process's memory goes, stage by stage (``bench/index_build.py``):

With ``CROSSFOLD_MEMORY_TRACE=FILE`` in the environment, :func:`mark` appends one JSON line per call to ``FILE``:
the stage's name, seconds since the first mark, this process's resident memory now (``rss_mib``, Linux
``VmRSS``) and its peak since the previous mark (``peak_mib``: ``VmHWM``, reset after each mark through
``/proc/self/clear_refs``), and the resident memory of its child processes (``children_mib``: decode workers).
Without the variable :func:`mark` returns at once and nothing is read or written. Linux only (elsewhere the
figures are absent).

:func:`trim_heap` returns the free memory of the C heap to the OS (glibc's ``malloc_trim``: a model freed after
another one was built, fp32 weights replaced by int8 ones, stay resident otherwise), after a garbage collection;
:func:`trim_c_heap` only the trim (between the image batches of a CPU encoding); :func:`drop_file_pages` drops
the resident pages of a range of a private, never-written file mapping (``madvise(MADV_DONTNEED)``: a later read
faults the file's bytes in again). Both do nothing where the OS or C library lacks them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import mmap
import os
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any

import psutil

ENV = "CROSSFOLD_MEMORY_TRACE"
_start: list[float] = []
_MADV_DONTNEED = 4  # Linux


def enabled() -> bool:
    return bool(os.environ.get(ENV))


def mark(stage: str, **extra: Any) -> None:
    """Record ``stage`` (with ``extra`` JSON-ready fields) when tracing is on; never raises."""
    target = os.environ.get(ENV)
    if not target:
        return
    now = time.perf_counter()
    _start[:] = _start or [now]
    try:
        status = _status_kib()
        children = sum(c.memory_info().rss for c in psutil.Process().children(recursive=True)) / 2**20
        line = {"stage": stage, "t_s": round(now - _start[0], 2), "rss_mib": round(status.get("VmRSS", 0) / 1024, 1),
                "peak_mib": round(status.get("VmHWM", 0) / 1024, 1), "children_mib": round(children, 1), **extra}
        with Path(target).open("a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM from here on: the next stage's own peak
    except (OSError, psutil.Error):
        pass


def _status_kib() -> dict[str, int]:
    text = Path("/proc/self/status").read_text()
    return {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in text.splitlines())
            if k in ("VmRSS", "VmHWM")}


@cache
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


def trim_c_heap() -> None:
    """Give the C heap's free memory back to the OS (glibc's ``malloc_trim``; nothing elsewhere). Between the image
    batches of an encoding on the CPU: the buffers a batch freed, in the decode thread's heap and the main one,
    otherwise stay resident. Measured on ``bench/index_build.py``'s fast build (three builds each way, interleaved):
    peak RSS 1396-1406 MiB with it, 1445-1489 MiB without, about 2 s slower of 62."""
    libc = _libc()
    trim = getattr(libc, "malloc_trim", None) if libc is not None else None
    if trim is not None:
        trim(0)


def trim_heap() -> None:
    """Collect Python's garbage (modules swapped out of a model hold reference cycles), then give the C heap's free
    memory back to the OS (glibc; elsewhere only the collection)."""
    gc.collect()
    libc = _libc()
    trim = getattr(libc, "malloc_trim", None) if libc is not None else None
    if trim is not None:
        trim(0)


def drop_file_pages(address: int, length: int, path: str | os.PathLike[str]) -> None:
    """Drop the resident pages of ``[address, address + length)``, widened to whole pages, which must lie in a
    private mapping of the file ``path`` that nothing has written (its bytes then read again from the file when
    touched). A range not wholly inside a mapping of that file (memory of the heap, whose pages would read back as
    zeros) is left alone. Linux only; elsewhere nothing."""
    libc = _libc()
    if libc is None or length <= 0:
        return
    start = address - address % mmap.PAGESIZE
    end = address + length
    end += -end % mmap.PAGESIZE
    name = os.path.realpath(path)
    inside = [r for r in _FILE_RANGES.get(name, ()) if r[0] <= start and end <= r[1]]
    if not inside:  # a new mapping of the file (each load maps it anew): read the process's maps again
        _FILE_RANGES[name] = _mappings_of(name)
        inside = [r for r in _FILE_RANGES[name] if r[0] <= start and end <= r[1]]
    if inside:
        libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), _MADV_DONTNEED)


_FILE_RANGES: dict[str, list[tuple[int, int]]] = {}


def _mappings_of(name: str) -> list[tuple[int, int]]:
    """The address ranges of this process's private mappings of the file ``name`` (``/proc/self/maps``)."""
    ranges: list[tuple[int, int]] = []
    try:
        lines = Path("/proc/self/maps").read_text().splitlines()
    except OSError:
        return ranges
    for line in lines:
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5] == name and fields[1].endswith("p"):
            low, high = fields[0].split("-")
            ranges.append((int(low, 16), int(high, 16)))
    ranges.sort()
    merged: list[tuple[int, int]] = []  # adjacent mappings of one file (one load) as one range
    for low, high in ranges:
        if merged and merged[-1][1] == low:
            merged[-1] = (merged[-1][0], high)
        else:
            merged.append((low, high))
    return merged
