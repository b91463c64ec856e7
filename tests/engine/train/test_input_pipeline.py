"""Training on the packed store: the same run as on the image files; exact resume across epochs; a job record."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from engine.data.packed import pack_dataset
from engine.models import build_encoder
from engine.run import checkpoint as ckpt
from engine.run.config import TrainConfig
from engine.run.events import Checkpoint, RunEvent, Started, read_events
from engine.run.folder import RunFolder
from engine.train.loop import train
from engine.workspace import Workspace

MODEL = "cf-vit-tiny-64"


class Crash(Exception):
    pass


def _config(name: str, store: str, **kw: Any) -> TrainConfig:
    base = dict(dataset="toy-shapes", loss="mxm", model=MODEL, batch_size=4, views_per_item=2, captions_per_item=2,
                workers=0, warmup=2, lr=1e-3, device="cpu", max_steps=6, save_frequency=3, val_frequency=100,
                name=name, store=store)
    base.update(kw)
    return TrainConfig(**base)


def _weights(ws: Workspace, run: str, step: int) -> dict[str, torch.Tensor]:
    return ckpt.load(ws.runs / run / "checkpoints" / f"step_{step:08d}.pt")["state_dict"]


@pytest.fixture()
def packed_ws(toy_workspace: Workspace) -> Workspace:
    _, _, preprocess, _ = build_encoder(MODEL, device="cpu")
    pack_dataset(toy_workspace.catalog(), toy_workspace.packed, "toy-shapes", preprocess)
    torch.set_num_threads(2)
    return toy_workspace


def test_packed_run_equals_files_run_and_resumes_exactly(packed_ws: Workspace) -> None:
    ws = packed_ws
    seen: list[RunEvent] = []
    train(_config("files", "files"), ws)
    train(_config("packed", "packed"), ws, on_event=seen.append)
    started = next(e for e in seen if isinstance(e, Started))
    assert started.store == "packed" and started.workers == 0 and (started.threads or 0) >= 1
    assert not list(ws.jobs.glob("*.json"))  # the run's job record is gone with it
    files, packed = _weights(ws, "files", 6), _weights(ws, "packed", 6)
    for key, value in files.items():  # same batches, same arithmetic: the same weights
        torch.testing.assert_close(packed[key], value, rtol=0, atol=0, msg=key)

    # a run that dies after its step-3 checkpoint, resumed: 16 train items / batch 4 = 4 steps per epoch, so the
    # resumed part crosses into epoch 1
    def crash_after_checkpoint(event: RunEvent) -> None:
        if isinstance(event, Checkpoint) and event.step == 3:
            raise Crash

    with pytest.raises(Crash):
        train(_config("crashed", "packed"), ws, on_event=crash_after_checkpoint)
    assert RunFolder.of(ws, "crashed").latest_checkpoint().name == "step_00000003.pt"
    train(_config("crashed", "packed", resume="latest"), ws)
    assert any(e["event"] == "resumed" and e["step"] == 3 for e in read_events(ws.runs / "crashed" / "events.jsonl"))
    resumed = _weights(ws, "crashed", 6)
    for key, value in packed.items():
        torch.testing.assert_close(resumed[key], value, rtol=0, atol=0, msg=key)


def test_auto_store_falls_back_to_files_with_a_hint(toy_workspace: Workspace) -> None:
    seen: list[RunEvent] = []
    train(_config("auto", "auto", max_steps=1), toy_workspace, on_event=seen.append)
    started = next(e for e in seen if isinstance(e, Started))
    assert started.store == "files" and "trainer pack toy-shapes" in started.note  # the hint, said once
