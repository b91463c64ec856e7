"""The event protocol (docs/EVENTS.md): what the typed writers put on disk and what parse_event accepts."""

from __future__ import annotations

import io
import json
from pathlib import Path

from engine.job_events import JobDone, JobProgress, JobStage, parse_job_event, write_job_event
from engine.run.events import (
    KINDS,
    Best,
    Cancelled,
    CategoryEval,
    CategoryMiss,
    Checkpoint,
    Done,
    Eval,
    EventWriter,
    Failed,
    Progress,
    Resumed,
    Started,
    parse_event,
)

EVERY_KIND = [
    Started(run="r", total=8, step=0, device="CPU", world_size=1, precision="fp32", dataset="d", loss="mxm",
            model="m", items=16, store="files", threads=2, workers=0, note="", uncaptioned_items=3),
    Progress(step=1, total=8, epoch=0, loss=2.5, parts={"hard": 1.5, "soft": 1.0}, lr=1e-3, logit_scale=2.6,
             samples_per_second=40.0, samples_per_second_per_gpu=40.0, eta_s=3.5),
    Resumed(step=4, path="/r/checkpoints/step_00000004.pt"),
    Eval(step=4, split="val", metrics={"mean_R@1": 0.5}),
    CategoryEval(step=8, split="test", dataset="d", metrics={"top1": 0.75, "top5": 1.0, "mean_class_top1": 0.7},
                 per_category={"chair": {"count": 3, "top1": 1.0, "top5": 1.0}}, confusions={"lamp": {"table": 2}},
                 prompts="", checkpoint="/r/checkpoints/best.pt",
                 wrong=[CategoryMiss(item=7, key="lamp/l_03", true="lamp", predicted="table", rank=3)], num_wrong=2),
    Best(step=4, path="/r/checkpoints/best.pt", score=0.5),
    Checkpoint(step=4, path="/r/checkpoints/step_00000004.pt"),
    Done(step=8, total=8, metrics={"best_step": 4, "test": {"mean_R@1": 0.4}}),
    Failed(error="loss is nan at step 3"),
    Cancelled(step=5, total=8),
]

#: The keys each kind had on disk before the events were typed, in the order they were written.
KEYS = {
    # started: the last five were added since (readers ignore unknown keys)
    "started": ["run", "total", "step", "device", "world_size", "precision", "dataset", "loss", "model", "items",
                "store", "threads", "workers", "note", "uncaptioned_items", "deterministic", "torch_version",
                "repeatability"],
    "progress": ["step", "total", "epoch", "loss", "parts", "lr", "logit_scale", "samples_per_second",
                 "samples_per_second_per_gpu", "eta_s"],
    "resumed": ["step", "path"],
    "eval": ["step", "split", "metrics"],
    "eval_categories": ["step", "split", "dataset", "metrics", "per_category", "confusions", "prompts", "checkpoint",
                        "wrong", "num_wrong"],
    "best": ["step", "path", "score"],
    "checkpoint": ["step", "path"],
    "done": ["step", "total", "metrics"],
    "failed": ["error"],
    "cancelled": ["step", "total"],
}


def test_every_kind_is_written_with_the_keys_it_always_had_and_reads_back(tmp_path: Path) -> None:
    assert set(KINDS) == set(KEYS) == {e.kind for e in EVERY_KIND}
    path = tmp_path / "events.jsonl"
    writer = EventWriter(path)
    written = [writer.emit(event) for event in EVERY_KIND]
    writer.close()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for event, record in zip(EVERY_KIND, records, strict=True):
        assert list(record) == ["event", "time", *KEYS[event.kind]]
        assert record["event"] == event.kind and isinstance(record["time"], float)
    assert [parse_event(r) for r in records] == written


def test_trainer_eval_adds_its_dataset_and_checkpoint_only_when_given() -> None:
    full = Eval(step=3, split="test", metrics={"mean_R@1": 0.5}, dataset="other", checkpoint="/c/best.pt")
    assert list(full.to_record()) == ["event", "step", "split", "metrics", "dataset", "checkpoint"]
    assert parse_event({**full.to_record(), "time": 1.0}).dataset == "other"


def test_a_by_category_eval_with_a_malformed_table_is_skipped() -> None:
    good = {"event": "eval_categories", "step": 1, "split": "test", "dataset": "d", "metrics": {"top1": 1}}
    old = parse_event(good)  # written before the wrong items were recorded: none listed, their count unknown
    assert old == CategoryEval(step=1, split="test", dataset="d", metrics={"top1": 1.0})
    assert (old.wrong, old.num_wrong) == ([], None)
    miss = {"item": 4, "key": "a/b", "true": "lamp", "predicted": "chair", "rank": 2}
    listed = parse_event({**good, "wrong": [miss, {**miss, "item": 5, "extra": 1}], "num_wrong": 9})
    assert listed.wrong == [CategoryMiss(**miss), CategoryMiss(**{**miss, "item": 5})] and listed.num_wrong == 9
    for bad in ({"per_category": {"chair": {"top1": "high"}}}, {"confusions": {"lamp": {"table": 1.5}}},
                {"confusions": {"lamp": 2}}, {"metrics": None}, {"wrong": {"item": 4}}, {"wrong": [miss, 3]},
                {"wrong": [{**miss, "rank": "2"}]}, {"wrong": [{**miss, "item": True}]},
                {"wrong": [{k: v for k, v in miss.items() if k != "predicted"}]}, {"num_wrong": 1.5}):
        assert parse_event({**good, **bad}) is None


def test_old_lines_read_with_defaults_and_bad_ones_do_not() -> None:
    assert parse_event({"event": "done", "time": 400.0}) == Done(time=400.0)  # an old, short line
    assert parse_event({"event": "progress", "step": 2, "new_field": [1]}) == Progress(step=2)
    assert parse_event({"event": "progress", "step": 2, "loss": 3}).loss == 3.0  # an int is a float
    bad = [{"event": "progress"}, {"event": "progress", "step": True}, {"event": "eval", "step": 1, "split": "val",
           "metrics": {"a": "high"}}, {"event": "best", "step": 1}, {"event": "failed", "error": None},
           {"event": "whatever"}, {"step": 1}, [1], "progress", None]
    assert [parse_event(b) for b in bad] == [None] * len(bad)


def test_job_events_keep_their_lines_and_parse_back() -> None:
    out = io.StringIO()
    for event in (JobProgress(stage="import", done=3, total=None), JobStage(stage="data", message="demo data…"),
                  JobDone(result={"dataset": "d", "items_added": 2})):
        write_job_event(event, out)
    lines = out.getvalue().splitlines()
    assert json.loads(lines[0]) == {"event": "progress", "stage": "import", "done": 3, "total": None}
    assert json.loads(lines[2]) == {"event": "done", "dataset": "d", "items_added": 2}
    parsed = [parse_job_event(json.loads(line)) for line in lines]
    assert parsed == [JobProgress(stage="import", done=3, total=None), JobStage(stage="data", message="demo data…"),
                      JobDone(result={"dataset": "d", "items_added": 2})]
    assert parse_job_event({"event": "progress", "step": 1, "total": 4}) is None  # a run's progress, not a job's
    assert parse_job_event({"event": "stage"}) is None


def test_a_line_nested_too_deep_to_decode_is_skipped(tmp_path: Path) -> None:
    from engine.run.events import parse_line, read_events

    deep = "[" * 100_000 + "]" * 100_000  # json raises RecursionError for it, not ValueError
    assert parse_line(deep) is None and parse_line(deep.encode()) is None
    path = tmp_path / "events.jsonl"
    path.write_text(deep + "\n" + '{"event": "done", "step": 1, "total": 1, "metrics": {}}\n')
    assert [e["event"] for e in read_events(path)] == ["done"]
