"""The reducer: typed events in, a run's state out (plain data, no Qt)."""

from __future__ import annotations

import json
from pathlib import Path

from engine.run.events import (
    Best,
    Cancelled,
    CategoryEval,
    Checkpoint,
    Done,
    Eval,
    EventWriter,
    Failed,
    Progress,
    Resumed,
    Started,
)
from engine.runs.state import LOG_KEEP, RunState
from engine.runs.tail import TailPos, read_tail


def test_a_run_from_start_to_done() -> None:
    s = RunState("r", status="running", alive=True, config={"val_split": "val"})
    s.apply(Started(run="r", total=4, step=0, device="CPU", world_size=2, dataset="d", loss="mxm", model="m",
                    items=16))
    for step in (1, 2):
        s.apply(Progress(step=step, total=4, loss=2.0 / step, parts={"hard": 1.0 / step}, lr=1e-3,
                         samples_per_second=12.34))
    s.apply(Eval(step=2, split="val", metrics={"mean_R@1": 0.25, "mean_R@5": 0.5}))
    s.apply(Best(step=2, path="/r/checkpoints/best.pt", score=0.25))
    s.apply(Checkpoint(step=2, path="/r/checkpoints/step_00000002.pt"))
    s.apply(Eval(step=2, split="test", metrics={"mean_R@1": 0.3}))
    s.apply(Done(step=4, total=4, metrics={}))
    assert (s.step, s.total, s.fraction, s.device) == (2, 4, 0.5, "CPU")
    assert s.loss_points == [(1, 2.0), (2, 1.0)] and s.part_points == {"hard": [(1, 1.0), (2, 0.5)]}
    assert s.best == (2, 0.25) and s.best_path.endswith("best.pt") and s.last_checkpoint.endswith("2.pt")
    assert s.best_val_metrics() == {"mean_R@1": 0.25, "mean_R@5": 0.5}
    assert s.latest_metrics("test") == {"mean_R@1": 0.3}
    assert [e.split for e in s.val_evals()] == ["val"]
    assert s.ended == "done" and s.display_status == "running"  # its process is still there
    assert s.log[0] == "started: mxm on d (16 train items), model m, 4 steps, CPU, 2 processes"
    assert s.log[1] == "step 1/4  loss 2  lr 0.001  12.3 samples/s"
    assert "eval on val at step 2: mean R@1 25.0%, mean R@5 50.0%" in s.log
    assert "★ new best at step 2 (score 25.0%)" in s.log and s.log[-1] == "done at step 4"
    s.alive = False
    assert s.display_status == "done"  # the process is gone: the events say how it ended


def test_a_by_category_eval_is_kept_apart_from_the_retrieval_metrics() -> None:
    s = RunState("r", status="done")
    s.apply(Eval(step=8, split="test", metrics={"mean_R@1": 0.3}))
    first = CategoryEval(step=8, split="test", dataset="d", metrics={"top1": 0.75, "top5": 1.0,
                                                                     "mean_class_top1": 0.5})
    other = CategoryEval(step=8, split="test", dataset="photos", metrics={"top1": 0.25})
    s.apply(first)
    s.apply(other)
    assert s.latest_metrics("test") == {"mean_R@1": 0.3}  # the retrieval metrics stay what they were
    assert s.latest_category_eval() == other and s.latest_category_eval("test", "d") == first
    assert s.latest_category_eval("val") is None
    assert s.log[-2] == "by-category eval on d/test at step 8: top-1 75.0%, top-5 100.0%, mean per category 50.0%"
    s.apply(Resumed(step=4))
    assert s.category_evals == []
    s.apply(other)
    s.reset_events()
    assert s.category_evals == []


def test_resumed_drops_what_came_after_the_checkpoint() -> None:
    s = RunState("r")
    for step in range(1, 6):
        s.apply(Progress(step=step, total=10, loss=1.0, parts={"a": 1.0}))
    s.apply(Eval(step=2, split="val", metrics={}))
    s.apply(Eval(step=4, split="val", metrics={}))
    s.apply(Resumed(step=3, path="/r/checkpoints/step_00000003.pt"))
    assert [p[0] for p in s.loss_points] == [1, 2, 3] and [p[0] for p in s.part_points["a"]] == [1, 2, 3]
    assert [e.step for e in s.evals] == [2] and s.step == 3
    assert s.log[-1] == "resumed from step 3 (step_00000003.pt)"


def test_failed_and_cancelled_end_a_running_row_whose_process_is_gone() -> None:
    s = RunState("r", status="running", alive=False)
    assert s.display_status == "interrupted" and not s.live
    s.apply(Failed(error="CUDA out of memory"))
    assert (s.display_status, s.error, s.log[-1]) == ("failed", "CUDA out of memory", "failed: CUDA out of memory")
    s.apply(Started(total=5, step=3))  # started again: the failure is over
    assert (s.ended, s.error) == (None, "")
    s.apply(Cancelled(step=4, total=5))
    assert s.display_status == "cancelled" and s.log[-1] == "cancelled at step 4"
    assert RunState("x", status="done", alive=False).display_status == "done"


def test_the_log_keeps_its_last_lines() -> None:
    s = RunState("r")
    for i in range(2 * LOG_KEEP + 1):
        s.add_log(f"line {i}")
    assert len(s.log) == LOG_KEEP and s.log_dropped == LOG_KEEP + 1 and s.log_total == 2 * LOG_KEEP + 1
    assert s.log[-1] == f"line {2 * LOG_KEEP}"


def test_reads_apply_in_order_stale_ones_are_ignored_and_a_reset_voids_the_events(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    writer = EventWriter(path)
    writer.emit(Progress(step=1, total=3, loss=1.0))
    writer.emit(Progress(step=2, total=3, loss=0.9))
    writer.close()
    with path.open("a") as f:
        f.write('{"event": "progress", "step": "bad"}\n')
    s = RunState("r")
    first = read_tail(TailPos(str(path)))
    assert s.apply_read(first) and s.step == 2 and s.skipped_events == 1
    assert not s.apply_read(first)  # stale: it started where the state no longer is
    assert s.step == 2 and len(s.loss_points) == 2
    path.write_text(json.dumps({"event": "progress", "time": 1.0, "step": 7, "total": 9}) + "\n")  # replaced
    again = read_tail(s.tail)
    assert again.reset and s.apply_read(again)
    assert (s.step, s.total, s.loss_points, s.skipped_events) == (7, 9, [], 0)
