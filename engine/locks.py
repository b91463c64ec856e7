"""Name locks: a run, an index build or an import holds its name while it writes, so a second job on the same
name is refused at once, naming the live process, instead of writing into the first one's files.

A lock is ``flock`` on a small file (the run's folder owns a run's, :class:`engine.run.folder.RunFolder`; the
workspace owns those of datasets and indexes, :meth:`engine.workspace.Workspace.name_lock`): the OS drops it when
the process ends, however it ends, so a SIGKILL never leaves a stale lock. The holder writes who it is (pid, what
it does, since when) into the file, which the refusal and the app's run form read. The file stays (removing a
lock file races another process opening it); only the ``flock`` on it counts.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from engine.errors import CrossfoldError

try:
    import fcntl
except ImportError:  # Windows: no name locks
    fcntl = None  # type: ignore[assignment]


class NameInUse(CrossfoldError):
    """Another live process holds the name (the message names it: pid, what it does, since when)."""


@dataclass(frozen=True)
class Holder:
    pid: int | None
    doing: str
    since: str

    def describe(self) -> str:
        who = f"process {self.pid}" if self.pid is not None else "another process"
        return f"{who} ({self.doing}{', since ' + self.since if self.since else ''})"


def in_use(what: str, found: Holder) -> str:
    """The one line that refuses a second job on a name (the CLI's exit 2, the app's run form)."""
    return f"{what} is in use by {found.describe()}; wait for it to end or choose another name"


def _read_holder(fd: int) -> Holder:
    """What the holder wrote into the lock file (a file being written or garbled: "another process")."""
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        data = {}
    data = data if isinstance(data, dict) else {}
    pid = data.get("pid")
    return Holder(pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
                  str(data.get("doing") or "writing"), str(data.get("since") or ""))


def holder(path: Path) -> Holder | None:
    """Who holds the lock at ``path`` now (None: nobody, or no such file); creates nothing, takes nothing."""
    if fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return _read_holder(fd)
    finally:
        os.close(fd)  # closing drops the shared lock taken, if it was
    return None


def _take(fd: int, tries: int = 5) -> bool:
    """``LOCK_EX`` without waiting for a holder, tried a few times 20 ms apart: a :func:`holder` probe (the app's
    form) holds a shared lock for a moment, never long enough to refuse a job."""
    for attempt in range(tries):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            if attempt + 1 < tries:
                time.sleep(0.02)
    return False


@contextmanager
def holding(path: Path, what: str, doing: str) -> Iterator[None]:
    """Hold the lock at ``path`` for ``what`` (``run 'r1'``), recording ``doing`` (``training it``), or raise
    :class:`NameInUse` at once, before anything is written, when a live process holds it."""
    if fcntl is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _take(fd):
            raise NameInUse(in_use(what, _read_holder(fd)))
        os.ftruncate(fd, 0)
        record = {"pid": os.getpid(), "doing": doing, "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.pwrite(fd, json.dumps(record).encode(), 0)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
