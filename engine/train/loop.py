"""The training loop: AdamW + warmup/cosine, clipping, autocast, checkpoints, resume, cancel, events."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from engine.catalog import Catalog
from engine.data.feed import BatchFeed
from engine.data.images import model_image_size
from engine.data.multifold import MultifoldBatchSampler, MultifoldDataset, RunBatchSampler, collate, load_items
from engine.data.packed import choose_store
from engine.data.rendering import views_at_size
from engine.errors import CrossfoldError
from engine.evaluate.split import remap_views
from engine.losses import build_loss
from engine.models import build_encoder
from engine.models.checkpoint_io import clip_state_dict, preprocess_cfg
from engine.models.lock import lock_towers
from engine.models.weights_fit import checkpoint_part, load_fitting
from engine.names import check_name
from engine.run import checkpoint as ckpt
from engine.run import events as ev
from engine.run.config import ConfigError, TrainConfig, save_config
from engine.run.device import autocast_for, describe, effective_precision, pick_device
from engine.run.events import EventWriter
from engine.threads import ThreadPlan, job_cores, plan_training, register_job, user_thread_cap
from engine.train.distributed import DistEnv, all_reduce_mean, init_distributed
from engine.train.objective import TrainModule, param_groups
from engine.train.schedule import cosine_lr
from engine.workspace import Workspace

KEEP_CHECKPOINTS = 3
THREADS_RECHECK_S = 15.0  # how often a run re-reads its share of the cores (other jobs start and end)

log = logging.getLogger(__name__)


class TrainingDiverged(CrossfoldError):
    pass


@dataclass
class RunResult:
    name: str
    run_dir: Path
    status: str  # done | cancelled
    step: int
    metrics: dict[str, Any]


class _StopFlag:
    """SIGTERM (and SIGINT) ask the loop to finish the step, checkpoint and exit cleanly."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, signum: int, frame: Any) -> None:  # noqa: ARG002
        self.requested = True

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def default_run_name(config: TrainConfig) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{config.dataset}-{config.loss}-{stamp}"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def train(
    config: TrainConfig,
    workspace: Workspace,
    events_stdout: bool = False,
    on_event: Callable[[ev.RunEvent], None] | None = None,
) -> RunResult:
    """Run (or resume) one training run to its end; returns how it ended."""
    config.validate()
    device = pick_device(config.device)
    env = init_distributed(device.type)
    if device.type == "cuda" and env.distributed:
        device = torch.device("cuda", env.local_rank)
        torch.cuda.set_device(device)
    name = check_name("run", config.name or default_run_name(config))
    catalog = workspace.catalog()
    config.name = name
    ds = catalog.require_dataset(config.dataset)
    _check_views(config, catalog, ds)
    run_dir = workspace.runs / name
    checkpoints = run_dir / "checkpoints"

    resume_path = _resume_path(config, checkpoints)
    if resume_path is None and checkpoints.exists() and ckpt.latest(checkpoints) is not None:
        raise ConfigError(f"run {name!r} already has checkpoints in {checkpoints}; "
                          "continue it with --resume latest or choose another --name")
    if env.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, run_dir / "config.yaml")
    events = EventWriter(run_dir / "events.jsonl", stdout=events_stdout, enabled=env.is_main, listener=on_event)
    if env.is_main:
        catalog.upsert_run(name, loss=config.loss, dataset_id=ds.id, config=config.as_dict(), status="running",
                           pid=os.getpid(), run_dir=str(run_dir))
    try:
        with register_job(workspace.root, "train"):
            result = _train(config, workspace, catalog, env, device, run_dir, checkpoints, resume_path, events)
    except BaseException as exc:
        message = str(exc) if isinstance(exc, CrossfoldError) else f"{type(exc).__name__}: {exc}"
        events.emit(ev.Failed(error=message))
        if env.is_main:
            catalog.upsert_run(name, status="failed", pid=None)
        raise
    finally:
        events.close()
    if env.is_main:
        catalog.upsert_run(name, status=result.status, pid=None)
    return result


def _check_views(config: TrainConfig, catalog: Catalog, ds: Any) -> None:
    """Refuse, before anything starts, more views per item than any item of a shape dataset has."""
    if ds.kind != "shape-text":
        return
    most = catalog.most_views(ds.id)
    if most and config.views_per_item > most:
        raise ConfigError(f"--views-per-item {config.views_per_item} is more than the {most} views the items of "
                          f"{ds.name} have")


def _resume_path(config: TrainConfig, checkpoints: Path) -> Path | None:
    if not config.resume:
        return None
    if config.resume == "latest":
        found = ckpt.latest(checkpoints)
        if found is None:
            raise ConfigError(f"--resume latest: no checkpoint in {checkpoints}")
        return found
    path = Path(config.resume)
    if not path.is_file():
        raise ConfigError(f"--resume {path}: no such checkpoint file")
    return path


def _train(
    config: TrainConfig,
    workspace: Workspace,
    catalog: Catalog,
    env: DistEnv,
    device: torch.device,
    run_dir: Path,
    checkpoints: Path,
    resume_path: Path | None,
    events: EventWriter,
) -> RunResult:
    seed_everything(config.seed)
    kind, items = load_items(catalog, config.dataset, "train")
    shapes = kind == "shape-text"
    encoder, _, preprocess, tokenizer = build_encoder(
        config.model, pretrained=config.pretrained, pooling=config.pooling, device=str(device),
        precision=effective_precision(config.precision, device), grad_checkpointing=config.grad_checkpointing,
    )
    if encoder.model_name and encoder.model_name != config.model:  # e.g. a QuickGELU tag chose <model>-quickgelu
        config.model = encoder.model_name
        if env.is_main:
            save_config(config, run_dir / "config.yaml")
            catalog.upsert_run(config.name or "", config=config.as_dict())
    lock_towers(encoder.clip, lock_image=config.lock_image,
                lock_image_unlocked_groups=config.lock_image_unlocked_groups,
                lock_image_freeze_bn_stats=config.lock_image_freeze_bn_stats, lock_text=config.lock_text,
                lock_text_unlocked_layers=config.lock_text_unlocked_layers,
                lock_text_freeze_layer_norm=config.lock_text_freeze_layer_norm)
    view_map = views_at_size(catalog, workspace, config.dataset, model_image_size(encoder)) if shapes else {}
    if view_map:  # the shapes rendered at the model's input size
        items = remap_views(items, view_map)
    loss = _build_objective(config, encoder, shapes)
    module = TrainModule(encoder, loss, shapes).to(device)
    module.env = env
    module.gather_with_grad = config.gather_with_grad
    fused = device.type == "cuda"
    optimizer = torch.optim.AdamW(
        param_groups(module, config.wd), lr=config.lr, betas=(config.beta1, config.beta2), eps=config.eps,
        fused=fused,
    )
    scaler = torch.amp.GradScaler("cuda") if (config.precision == "amp" and device.type == "cuda") else None

    # ---- input pipeline: pixels (packed store or files), threads, one loader for the whole run ----
    notes: list[str] = []  # for people: said in the started event (the CLI prints it, the app logs it)
    store, normalize = choose_store(config.store, catalog, workspace.renders, config.dataset, config.model, preprocess,
                                    [p for item in items for p in item.visuals], on_note=notes.append)
    plan = _apply_thread_plan(config, decode=store is None)
    if config.channels_last:
        module = module.to(memory_format=torch.channels_last)
    dataset = MultifoldDataset(items, config.views_per_item, config.captions_per_item, preprocess, tokenizer,
                               seed=config.seed, store=store, decode_size=model_image_size(encoder))
    step_batch = config.batch_size * config.accum_freq  # items per process per optimiser step
    sampler = MultifoldBatchSampler(len(dataset), step_batch, seed=config.seed, rank=env.rank,
                                    world_size=env.world_size)
    steps_per_epoch = len(dataset) // (step_batch * env.world_size)
    total = config.max_steps if config.max_steps is not None else int(config.epochs or 1) * steps_per_epoch

    step = 0
    best: dict[str, Any] = {}
    if resume_path is not None:
        state = ckpt.load(resume_path)
        load_fitting(encoder.clip, checkpoint_part(state, resume_path), resume_path, config.model)
        resumable = _resumable(state, resume_path)
        load_fitting(encoder.pool, resumable["pool"], resume_path, f"{config.model} (view pool)")
        load_fitting(loss, resumable["loss"], resume_path, f"loss {config.loss}")
        try:
            optimizer.load_state_dict(resumable["optimizer"])
        except (ValueError, KeyError, RuntimeError) as exc:
            raise ckpt.CheckpointError(f"{resume_path}: its optimizer state does not fit this run ({exc})") from None
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(resumable["rng"]["torch"])
        step = int(resumable["step"])
        best = dict(state.get("best") or {})
        events.emit(ev.Resumed(step=step, path=str(resume_path)))

    train_module: torch.nn.Module = module
    if env.distributed:
        train_module = DistributedDataParallel(
            module, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=config.loss == "sspc",
        )
    forward = torch.compile(train_module) if config.torchcompile else train_module
    autocast = autocast_for(config.precision, device)
    global_batch = step_batch * env.world_size

    # one loader iterator over every remaining step (workers persist; its own generator leaves torch's RNG alone)
    loader = DataLoader(dataset, batch_sampler=RunBatchSampler(sampler, step, total), num_workers=plan.workers,
                        collate_fn=collate, pin_memory=device.type == "cuda" and plan.workers > 0,
                        generator=torch.Generator().manual_seed(config.seed))
    feed = BatchFeed(loader, device, normalize=normalize, background=plan.workers == 0,
                     channels_last=config.channels_last)
    events.emit(ev.Started(run=config.name or "", total=total, step=step, device=describe(device),
                           world_size=env.world_size, precision=effective_precision(config.precision, device),
                           dataset=config.dataset, loss=config.loss, model=config.model, items=len(dataset),
                           store="packed" if store is not None else "files", threads=plan.threads,
                           workers=plan.workers, note="; ".join(notes)))

    status = "done"
    t_start, step_at_start = time.perf_counter(), step
    t_threads = time.monotonic()
    with _StopFlag() as stop, contextlib.closing(feed):
        while step < total and not stop.requested:
            epoch, start_batch = divmod(step, steps_per_epoch)
            for batch in feed.take(steps_per_epoch - start_batch):
                lr = cosine_lr(config.lr, config.warmup, total, step)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                images, tokens, item_ids = batch["images"], batch["tokens"], batch["item"]
                if time.monotonic() - t_threads > THREADS_RECHECK_S:  # another job may have started or ended
                    plan = _apply_thread_plan(config, decode=store is None, workers=plan.workers)
                    t_threads = time.monotonic()
                module.train()
                optimizer.zero_grad(set_to_none=True)
                out = _forward_backward(forward, module, images, tokens, item_ids, config.accum_freq, autocast,
                                        scaler, step + 1)
                if scaler is not None:
                    scaler.unscale_(optimizer)
                if config.grad_clip_norm:
                    torch.nn.utils.clip_grad_norm_(module.parameters(), config.grad_clip_norm)
                if scaler is not None:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                _check_weights(module, step + 1, out, lr)
                with torch.no_grad():
                    encoder.clip.logit_scale.clamp_(0, math.log(100))
                step += 1

                elapsed = time.perf_counter() - t_start
                rate = (step - step_at_start) * global_batch / max(elapsed, 1e-9)
                parts = {k: all_reduce_mean(v, env) for k, v in out.detached().items()}
                events.emit(ev.Progress(
                    step=step, total=total, epoch=epoch, loss=parts.pop("loss"), parts=parts, lr=lr,
                    logit_scale=float(encoder.logit_scale.detach()), samples_per_second=rate,
                    samples_per_second_per_gpu=rate / env.world_size,
                    eta_s=(total - step) * global_batch / max(rate, 1e-9),
                ))
                last = step >= total
                if (step % config.val_frequency == 0 or last) and env.is_main:
                    improved = _validate(config, catalog, encoder, preprocess, tokenizer, device, events, step,
                                         best, checkpoints, view_map)
                    if improved:
                        state = _state(config, step, epoch, encoder, loss, optimizer, scaler, best)
                        ckpt.save_atomic(state, checkpoints / "best.pt")
                        events.emit(ev.Best(step=step, path=str(checkpoints / "best.pt"),
                                            score=best["best_score"]))
                if (step % config.save_frequency == 0 or last or stop.requested) and env.is_main:
                    path = ckpt.save_atomic(_state(config, step, epoch, encoder, loss, optimizer, scaler, best),
                                            ckpt.step_path(checkpoints, step))
                    ckpt.prune(checkpoints, KEEP_CHECKPOINTS, {path})
                    events.emit(ev.Checkpoint(step=step, path=str(path)))
                if last or stop.requested:
                    break
            if feed.exhausted:
                break
    if stop.requested and step < total:
        status = "cancelled"
        events.emit(ev.Cancelled(step=step, total=total))
        return RunResult(config.name or "", run_dir, status, step, best)

    metrics = dict(best)
    if env.is_main:
        test = _evaluate(config, catalog, encoder, preprocess, tokenizer, device, "test", view_map)
        if test:
            metrics["test"] = test
            events.emit(ev.Eval(step=step, split="test", metrics=test))
        catalog.merge_run_metrics(config.name or "", metrics)
    events.emit(ev.Done(step=step, total=total, metrics=metrics))
    return RunResult(config.name or "", run_dir, status, step, metrics)


def _resumable(state: dict[str, Any], path: Path) -> dict[str, Any]:
    """The parts a resume needs, checked: a weights-only file (open_clip's) cannot be resumed from."""
    missing = [k for k in ("pool", "loss", "optimizer", "rng", "step") if k not in state]
    if missing:
        raise ckpt.CheckpointError(f"{path}: not a Crossfold training checkpoint (no {', '.join(missing)}); "
                                   "use it as --pretrained to start from its weights")
    rng = state["rng"]
    if not isinstance(rng, dict) or not isinstance(rng.get("torch"), torch.Tensor):
        raise ckpt.CheckpointError(f"{path}: not a Crossfold training checkpoint (no random state)")
    try:
        int(state["step"])
    except (TypeError, ValueError):
        raise ckpt.CheckpointError(f"{path}: not a Crossfold training checkpoint (step is not a number)") from None
    for key in ("pool", "loss", "optimizer"):
        if not isinstance(state[key], dict):
            raise ckpt.CheckpointError(f"{path}: not a Crossfold training checkpoint ({key} is not a state)")
    return state


def _apply_thread_plan(config: TrainConfig, decode: bool, workers: int | None = None) -> ThreadPlan:
    """torch's intra-op threads from this job's share of the cores (re-read while the run goes on); the loader's
    workers are fixed when it starts (``workers``)."""
    plan = plan_training(job_cores(), config.workers, decode, cap=user_thread_cap())
    if workers is not None:
        plan = ThreadPlan(plan.cores, plan.threads, workers)
    if torch.get_num_threads() != plan.threads:
        torch.set_num_threads(plan.threads)
    return plan


def _build_objective(config: TrainConfig, encoder: torch.nn.Module, shapes: bool):  # noqa: ANN202
    options = dict(config.loss_options)
    if config.loss == "sspc":
        options.setdefault("base", "mxm")
        return build_loss("sspc", dims=encoder.raw_dims, embed_dim=encoder.embed_dim, **options)
    return build_loss(config.loss, **options)


def _forward_backward(forward, module, images, tokens, items, accum, autocast, scaler, step):  # noqa: ANN001, ANN202
    """Loss and gradients of one optimiser step.

    With ``accum > 1`` (open_clip's ``--accum-freq``): embeddings of all micro-batches are computed
    without gradient first; then each micro-batch is re-encoded with gradient and the loss runs over
    all of them together (the others as constants), so the contrastive batch is ``accum`` times larger
    while activations are kept for one micro-batch at a time. Gradients add up to those of the loss on
    the whole batch.
    """

    def backward(loss: torch.Tensor) -> None:
        (scaler.scale(loss) if scaler is not None else loss).backward()

    if accum == 1:
        with autocast():
            out = forward(images, tokens, items)
        _check_finite(out, step)
        backward(out.total)
        return out
    chunks = list(zip(images.chunk(accum), tokens.chunk(accum), items.chunk(accum), strict=True))
    with torch.no_grad(), autocast():
        cached = [module.embed(*chunk) for chunk in chunks]
    out = None
    for j, chunk in enumerate(chunks):
        sync = j == accum - 1 or not hasattr(forward, "no_sync")
        with contextlib.nullcontext() if sync else forward.no_sync():
            with autocast():
                out = forward(*chunk, cached=cached, position=j)
            _check_finite(out, step)
            backward(out.total)
    return out


def _check_finite(out: Any, step: int) -> None:
    for name, value in {"loss": out.total, **out.parts}.items():
        if not bool(torch.isfinite(value.detach()).all()):
            bad = [k for k, v in out.parts.items() if not bool(torch.isfinite(v.detach()).all())]
            part = bad[0] if bad else name
            shown = float(out.parts[part].detach().float().mean()) if part in out.parts else float(value.detach())
            raise TrainingDiverged(f"training diverged at step {step}: loss part {part!r} is {shown}; "
                                   "lower --lr or check the data")


def _check_weights(module: torch.nn.Module, step: int, out: Any, lr: float) -> None:
    """After an update: weights made non-finite by it (a huge --lr) stop the run naming step and loss parts."""
    with torch.no_grad():
        params = [p for p in module.parameters() if p.requires_grad]
        if not params or bool(torch.stack([p.detach().float().abs().amax() for p in params]).isfinite().all()):
            return
    values = {"loss": out.total, **out.parts}
    parts = ", ".join(f"{k} {float(v.detach().float().mean()):.4g}" for k, v in values.items())
    raise TrainingDiverged(f"training diverged at step {step}: the update made the weights non-finite (loss parts "
                           f"before it: {parts}; lr {lr:g}); lower --lr or check the data")


def _evaluate(config, catalog, encoder, preprocess, tokenizer, device, split, view_map=None):  # noqa: ANN001, ANN202
    from engine.evaluate.split import evaluate_split

    return evaluate_split(encoder, catalog, config.dataset, split, preprocess, tokenizer, device, view_map=view_map)


def _validate(config, catalog, encoder, preprocess, tokenizer, device, events, step, best, checkpoints,  # noqa: ANN001
              view_map=None) -> bool:  # noqa: ANN001
    """Evaluate on the validation split; update ``best`` in place; True when this step is the new best."""
    metrics = _evaluate(config, catalog, encoder, preprocess, tokenizer, device, config.val_split, view_map)
    if not metrics:
        return False
    events.emit(ev.Eval(step=step, split=config.val_split, metrics=metrics))
    score = _selection_metric(metrics)
    catalog.merge_run_metrics(config.name or "", {"val": metrics, "val_step": step})
    if best and score <= best.get("best_score", -1.0):
        return False
    best.clear()
    best.update({"best_score": score, "best_step": step, "best_checkpoint": str(checkpoints / "best.pt"),
                 "val": metrics})
    return True


def _selection_metric(metrics: dict[str, float]) -> float:
    """Mean R@1 over the directions evaluated (fused ones included)."""
    r1 = [v for k, v in metrics.items() if k.endswith("_R@1") and not k.startswith("mean")]
    return float(sum(r1) / len(r1)) if r1 else 0.0


def _state(config, step, epoch, encoder, loss, optimizer, scaler, best) -> dict[str, Any]:  # noqa: ANN001
    """Everything a resume needs, as tensors and plain values (``weights_only=True`` loads it)."""
    return {
        "name": config.name,
        "model": config.model,
        "step": step,
        "epoch": epoch,
        "state_dict": clip_state_dict(encoder.clip),
        "pool": encoder.pool.state_dict(),
        "model_name": encoder.model_name or config.model,
        "pooling": config.pooling,
        "preprocess_cfg": preprocess_cfg(encoder.clip),
        "loss": loss.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else {},
        "rng": {"torch": torch.get_rng_state()},
        "config": config.as_dict(),
        "best": dict(best),
    }
