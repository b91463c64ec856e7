"""Tailing events.jsonl and trainer.log on real files: complete lines only, resets, bad lines counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.run.events import EventWriter, Failed, Progress, Started
from engine.runs.tail import TailPos, read_log, read_tail


def _event(kind: str, **fields) -> str:
    return json.dumps({"event": kind, "time": 0.0, **fields}) + "\n"


def test_tail_reads_complete_lines_only(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(_event("progress", step=1) + '{"event": "prog')
    first = read_tail(TailPos(str(path)))
    assert [e.step for e in first.events] == [1] and not first.reset
    again = read_tail(TailPos(str(path), first.inode, first.offset, first.head))
    assert again.events == [] and again.offset == first.offset and not again.reset
    path.write_text(_event("progress", step=9))  # rewritten in place, as long as what was read
    replaced = read_tail(TailPos(str(path), first.inode, first.offset, first.head))
    assert replaced.reset and [e.step for e in replaced.events] == [9]
    path.write_text("")  # truncated
    assert read_tail(TailPos(str(path), replaced.inode, replaced.offset, replaced.head)).reset


def test_log_tail_reads_new_lines_and_starts_near_the_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "trainer.log"
    path.write_text("$ trainer train --name x\nwarning: slow\n\npartial")
    first = read_log(TailPos(str(path)))
    assert first.lines == ["$ trainer train --name x", "warning: slow"] and first.events == []
    with path.open("a") as f:
        f.write(" line\nrun x: done at step 4\n")
    again = read_log(TailPos(str(path), first.inode, first.offset, first.head))
    assert again.lines == ["partial line", "run x: done at step 4"]
    monkeypatch.setattr("engine.runs.tail.LOG_FIRST_BYTES", 30)  # a long log is shown from its end, at a line start
    path.write_text("".join(f"line {i:03d}\n" for i in range(100)))
    assert read_log(TailPos(str(path))).lines == ["line 097", "line 098", "line 099"]


def test_unknown_and_malformed_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(
        _event("progress", step=1, loss=2.0)
        + "not json at all\n"
        + "\n"  # blank: not an event, not counted
        + _event("teleported", step=2)  # a kind this reader does not know
        + _event("progress", step="three")  # a field of the wrong type
        + "[1, 2]\n"  # JSON, but not an object
        + _event("progress", step=4, loss=1.0, future_field={"x": 1})  # unknown fields are ignored
    )
    read = read_tail(TailPos(str(path)))
    assert [(type(e), e.step) for e in read.events] == [(Progress, 1), (Progress, 4)]
    assert read.skipped == 4
    assert read.offset == path.stat().st_size and not read.more


def test_events_written_by_the_writer_read_back_as_the_same_events(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    writer = EventWriter(path)
    started = writer.emit(Started(run="r", total=3, step=0, device="CPU", dataset="d", loss="clip", model="m", items=8))
    progress = writer.emit(Progress(step=1, total=3, loss=0.5, parts={"a": 0.25}, lr=1e-3))
    failed = writer.emit(Failed(error="CUDA out of memory"))
    writer.close()
    assert started.time is not None and failed.time is not None and failed.time >= started.time
    assert read_tail(TailPos(str(path))).events == [started, progress, failed]


def test_a_missing_file_reads_as_empty_and_a_chunk_limit_leaves_more(tmp_path: Path) -> None:
    missing = read_tail(TailPos(str(tmp_path / "nope.jsonl")))
    assert missing.events == [] and not missing.reset and not missing.more
    path = tmp_path / "events.jsonl"
    path.write_text("".join(_event("progress", step=i) for i in range(1, 11)))
    first = read_tail(TailPos(str(path)), limit=100)
    assert first.more and 1 <= len(first.events) < 10
    rest = read_tail(first.next_pos())
    assert [e.step for e in first.events + rest.events] == list(range(1, 11)) and not rest.more
