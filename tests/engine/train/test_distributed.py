"""Two gloo processes on CPU give the loss and gradients of one process on the same global batch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from engine.losses import build_loss
from engine.models import build_encoder
from engine.train.distributed import DistEnv
from engine.train.objective import TrainModule

CASES = [("clip", {}, False), ("mxm", {}, False), ("gcl", {}, False), ("mxm", {}, True),
         ("sspc", {"queue_size": 8, "num_anchors": 4, "base": "mxm"}, False)]
B, V, C, WORLD = 4, 2, 2, 2


def _batch(step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(100 + step)
    images = torch.randn(B, V, 3, 64, 64, generator=g)
    tokens = torch.randint(1, 1000, (B, C, 32), generator=g)
    items = torch.arange(B) + 10 * (step + 1)
    return images, tokens, items


def _module(loss: str, options: dict) -> TrainModule:
    torch.manual_seed(0)
    encoder = build_encoder("cf-vit-tiny-64")[0]
    if loss == "sspc":
        objective = build_loss("sspc", dims=encoder.raw_dims, embed_dim=encoder.embed_dim, **options)
    else:
        objective = build_loss(loss, **options)
    return TrainModule(encoder, objective, shapes=True)


def _run(module: torch.nn.Module, inner: TrainModule, rank: int, world: int, with_grad: bool) -> tuple[float, dict]:
    lo, hi = rank * B // world, (rank + 1) * B // world
    images, tokens, items = _batch(0)
    inner(images[lo:hi], tokens[lo:hi], items[lo:hi])  # fills an SSPC queue; no backward
    images, tokens, items = _batch(1)
    out = module(images[lo:hi], tokens[lo:hi], items[lo:hi])
    out.total.backward()
    grads = {n: p.grad.detach().clone() for n, p in inner.named_parameters() if p.grad is not None}
    return float(out.total.detach()), grads


def _worker(rank: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    results = {}
    for i, (loss, options, with_grad) in enumerate(CASES):
        inner = _module(loss, options)
        inner.env = DistEnv(rank=rank, world_size=WORLD, local_rank=rank)
        inner.gather_with_grad = with_grad
        ddp = DistributedDataParallel(inner, find_unused_parameters=True)
        results[i] = _run(ddp, inner, rank, WORLD, with_grad)
    torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    dist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_processes_equal_one_process(tmp_path: Path) -> None:
    mp.spawn(_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    torch.set_num_threads(1)
    for i, (loss, options, with_grad) in enumerate(CASES):
        single = _module(loss, options)
        want_loss, want_grads = _run(single, single, 0, 1, with_grad)
        for r in range(WORLD):
            got_loss, got_grads = ranks[r][i]
            assert got_loss == pytest.approx(want_loss, rel=1e-5, abs=1e-6), (loss, r)
            assert set(got_grads) == set(want_grads), loss
            for name, want in want_grads.items():
                torch.testing.assert_close(got_grads[name], want, rtol=1e-4, atol=2e-6, msg=f"{loss} {name}")
        if loss == "sspc":
            assert want_loss > 0


@pytest.mark.slow
def test_torchrun_two_processes_trains_and_reports_world_size(toy_workspace) -> None:
    import shutil
    import subprocess
    import sys

    from engine.run.events import read_events
    from tests.engine.train.conftest import ROOT, TRAIN_ARGS, child_env

    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    assert torchrun is not None
    args = [a if a != "4" else "2" for a in TRAIN_ARGS]  # batch 2 per process
    done = subprocess.run(
        [torchrun, "--nproc_per_node", "2", "-m", "trainer", "train", "--workspace", str(toy_workspace.root), *args,
         "--loss", "mxm", "--max-steps", "2", "--name", "ddp"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=child_env(),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    events = read_events(toy_workspace.runs / "ddp" / "events.jsonl")
    assert events[0]["event"] == "started" and events[0]["world_size"] == 2
    assert events[-1]["event"] == "done"
    assert done.stdout.count("run ddp: done") == 1
