"""Scanning a real workspace (SQLite catalogue, events files, live and dead pids) into run states."""

from __future__ import annotations

from engine.catalog.run_status import process_alive
from engine.run.events import Progress
from engine.runs.book import RunBook, load_runs
from engine.runs.columns import COLUMNS, cell
from engine.runs.scan import scan_runs
from engine.runs.state import RunState
from tests.engine.runs.sample import Runs, write_events


def test_load_runs_reduces_every_run_and_tells_live_from_gone_processes(runs: Runs) -> None:
    catalog = runs.ws.catalog()
    states = {s.name: s for s in load_runs(catalog, runs.ws)}
    assert list(states) == ["finished", "training", "broken", "orphan", "recycled"]  # catalogue order
    status = {n: s.display_status for n, s in states.items()}
    assert status == {"finished": "done", "training": "running", "broken": "failed", "orphan": "interrupted",
                      "recycled": "interrupted"}  # a live pid that is not a trainer is not the run's process
    assert states["training"].alive and not states["recycled"].alive
    assert not process_alive(runs.stranger.pid)  # `sleep` is no trainer
    done = states["finished"]
    assert (done.step, done.total, done.best, done.dataset) == (4, 4, (4, 0.5), "toy")
    assert [cell(done, c) for c in COLUMNS[:-1]] == ["finished", "clip", "toy", "done", "4/4", "★ 50.0% @4",
                                                      "50.0%", "25.0%", "50.0%", "40.0%"]
    assert cell(done, "Started") != ""
    assert states["training"].skipped_events == 2 and states["training"].step == 3
    assert states["broken"].error == "CUDA out of memory"
    catalog.close()


def test_a_book_follows_new_lines_new_runs_and_removed_runs(runs: Runs) -> None:
    catalog = runs.ws.catalog()
    book = RunBook(RunState)
    first = book.apply(scan_runs(catalog, runs.ws, *book.positions()))
    assert first.added and first.updated == set(book.order) and len(book.order) == 5
    nothing = book.apply(scan_runs(catalog, runs.ws, *book.positions()))
    assert not nothing.membership and nothing.updated == set()  # nothing new: nothing to repaint
    events = runs.ws.runs / "training" / "events.jsonl"
    with events.open("a") as f:
        f.write('{"event": "progress", "time": 1.0, "step": 4, "total": 10, "loss": 1.4}\n')
    moved = book.apply(scan_runs(catalog, runs.ws, *book.positions()))
    assert moved.updated == {"training"} and book.get("training").step == 4
    catalog.delete_run("orphan")
    catalog.delete_run("recycled")
    gone = book.apply(scan_runs(catalog, runs.ws, *book.positions()), keep=["recycled"])
    assert gone.removed and "orphan" not in book.order
    assert not book.get("recycled").in_catalog  # kept: a launcher still waits for its row
    catalog.close()


def test_a_huge_events_file_is_read_over_several_scans(runs: Runs) -> None:
    lines = [Progress(step=i, total=30000, loss=1.0) for i in range(1, 30001)]
    write_events(runs.ws, "training", lines)  # appended: about 2.8 MB, over one read chunk
    catalog = runs.ws.catalog()
    book = RunBook(RunState)
    first = scan_runs(catalog, runs.ws, *book.positions())
    book.apply(first)
    assert first.more and book.get("training").step < 30000
    (state,) = [s for s in load_runs(catalog, runs.ws) if s.name == "training"]
    assert state.step == 30000 and len(state.loss_points) == 30001  # every line, the earlier point too
    catalog.close()
