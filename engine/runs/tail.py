"""Tailing a run's files: the complete lines appended to ``events.jsonl`` (as typed events) or ``trainer.log`` (as
text) since the offset a reader stopped at.

Contract: a read never blocks on a writer and never raises for a missing or unreadable file (it reads as empty).
A half-written last line waits for its end. A file that was replaced (another inode), truncated, or rewritten in
place (its first bytes changed) is read again from the start, with ``reset`` set. An events line that is not a
known, well-formed event (:func:`engine.run.events.parse_line`) is skipped and counted in ``skipped``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from engine.run.events import RunEvent, parse_line

#: Most bytes of one file read per call (a huge file is loaded over several calls, a GUI stays live).
READ_CHUNK = 2 << 20
HEAD_BYTES = 64
#: A log is shown from this many bytes before its end (its first lines rarely matter).
LOG_FIRST_BYTES = 256 << 10


@dataclass
class TailPos:
    """Where a reader of one file stopped."""

    path: str
    inode: int = 0
    offset: int = 0
    head: bytes = b""  # the file's first bytes: a file rewritten in place (same inode) reads as new


@dataclass
class TailRead:
    path: str
    inode: int
    head: bytes
    start: int  # the offset this read started from (a follower ignores a read that no longer fits)
    offset: int  # where the next read starts
    events: list[RunEvent]
    reset: bool  # the file was replaced or truncated: everything known from it is void
    more: bool  # bytes left to read
    lines: list[str] = field(default_factory=list)  # the text lines read (a log; events files give events)
    skipped: int = 0  # events lines that were not a known, well-formed event

    def next_pos(self) -> TailPos:
        """Where the next read starts (the head kept is only bytes of lines already read)."""
        return TailPos(self.path, self.inode, self.offset, self.head[: min(len(self.head), self.offset)])


def _read_new(pos: TailPos, limit: int, first: int | None = None) -> tuple[TailRead, bytes]:
    """The complete lines appended to ``pos.path`` since ``pos.offset``, as bytes (a half-written last line
    waits). ``first``: on a first read, start this many bytes before the end (at a line start)."""
    path = Path(pos.path)
    try:
        st = path.stat()
        f = path.open("rb")
    except OSError:
        return TailRead(pos.path, 0, b"", pos.offset, 0, [], reset=pos.offset > 0, more=False), b""
    with f:
        head = f.read(HEAD_BYTES)
        reset = bool(pos.offset) and (
            (bool(pos.inode) and st.st_ino != pos.inode) or st.st_size < pos.offset
            or head[: len(pos.head)] != pos.head
        )
        start = 0 if reset else pos.offset
        skip_partial = False
        if first is not None and not pos.offset and not pos.inode and st.st_size > first:
            start, skip_partial = st.st_size - first, True
        if st.st_size <= start:
            return TailRead(pos.path, st.st_ino, head, pos.offset, start, [], reset, False), b""
        f.seek(start)
        data = f.read(min(limit, st.st_size - start))
    if skip_partial:
        cut = data.find(b"\n") + 1
        start, data = start + cut, data[cut:] if cut else b""
    end = data.rfind(b"\n")
    if end < 0:
        return TailRead(pos.path, st.st_ino, head, pos.offset, start, [], reset, len(data) >= limit), b""
    offset = start + end + 1
    return TailRead(pos.path, st.st_ino, head, pos.offset, offset, [], reset, offset < st.st_size), data[: end + 1]


def read_tail(pos: TailPos, limit: int = READ_CHUNK) -> TailRead:
    """The events of the complete lines appended to an events file since ``pos`` (blank lines are not counted)."""
    read, data = _read_new(pos, limit)
    for line in data.splitlines():
        if not line.strip():
            continue
        event = parse_line(line)
        if event is None:
            read.skipped += 1
        else:
            read.events.append(event)
    return read


def read_log(pos: TailPos, limit: int = READ_CHUNK) -> TailRead:
    """The new non-empty text lines of a log (``trainer.log``); a first read takes its last
    :data:`LOG_FIRST_BYTES` only."""
    read, data = _read_new(pos, limit, first=LOG_FIRST_BYTES)
    text = data.decode("utf-8", errors="replace")
    read.lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    return read
