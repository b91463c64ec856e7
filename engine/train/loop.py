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
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from engine.catalog import Catalog
from engine.data.feed import BatchFeed
from engine.data.images import model_image_size
from engine.data.items import EmptySplitError, SplitItems, no_items_message, split_items, too_few_captioned
from engine.data.multifold import MultifoldBatchSampler, MultifoldDataset, RunBatchSampler, collate
from engine.data.packed import choose_store
from engine.data.rendering import views_at_size
from engine.errors import CrossfoldError
from engine.evaluate.split import remap_views
from engine.losses import build_loss
from engine.metric_keys import selection_score
from engine.models import build_encoder
from engine.models.checkpoint_io import clip_state_dict, preprocess_cfg
from engine.models.lock import lock_towers
from engine.models.weights_fit import checkpoint_part, load_fitting
from engine.names import check_name, default_run_name
from engine.run import checkpoint as ckpt
from engine.run import events as ev
from engine.run.config import ConfigError, TrainConfig, save_config
from engine.run.device import autocast_for, describe, effective_precision, pick_device
from engine.run.events import EventWriter
from engine.run.folder import RunFolder
from engine.run.repeatable import SHARE_NOTE, deterministic, fixed_threads
from engine.threads import ThreadPlan, job_cores, plan_training, register_job, user_thread_cap
from engine.train import tensorboard_log
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

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


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
    name = check_name("run", config.name or default_run_name(config.dataset, config.loss))
    catalog = workspace.catalog()
    config.name = name
    ds = catalog.require_dataset(config.dataset)
    _check_views(config, catalog, ds)
    found = _training_items(config, catalog, env)
    folder = RunFolder.of(workspace, name)
    run_dir = folder.path

    resume_path = _resume_path(config, folder)
    board = tensorboard_log.for_run(config, folder.tensorboard) if env.is_main else None
    if config.deterministic:  # fixed before the config is saved: config.yaml records the threads
        config.threads = fixed_threads(config.threads)
    with folder.holding(f"training it: trainer train --name {name}") if env.is_main else contextlib.nullcontext():
        if resume_path is None and folder.latest_checkpoint() is not None:
            raise ConfigError(f"run {name!r} already has checkpoints in {folder.checkpoints}; "
                              "continue it with --resume latest or choose another --name")
        if env.is_main:
            folder.remove_stale_temp()  # of a write killed in an earlier start of this run
            run_dir.mkdir(parents=True, exist_ok=True)
            save_config(config, folder.config)
        events = EventWriter(folder.events, stdout=events_stdout, enabled=env.is_main,
                             listener=tensorboard_log.chained(on_event, board))
        if env.is_main:
            catalog.upsert_run(name, loss=config.loss, dataset_id=ds.id, config=config.as_dict(), status="running",
                               pid=os.getpid(), run_dir=str(run_dir))
        try:
            repeatable = deterministic(config.threads or 1) if config.deterministic else contextlib.nullcontext()
            with register_job(workspace.jobs, "train"), repeatable:
                result = _train(config, workspace, catalog, env, device, folder, resume_path, events, found)
        except BaseException as exc:
            message = str(exc) if isinstance(exc, CrossfoldError) else f"{type(exc).__name__}: {exc}"
            events.emit(ev.Failed(error=message))
            if env.is_main:
                catalog.upsert_run(name, status="failed", pid=None)
            raise
        finally:
            events.close()
            if board is not None:
                board.close()
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


def _training_items(config: TrainConfig, catalog: Catalog, env: DistEnv) -> SplitItems:
    """The train split's items with captions; refused, before anything is written, when items without captions
    leave too few to fill one batch (the way out: captions, or search with pretrained weights)."""
    found = split_items(catalog, config.dataset, "train")
    problem = too_few_captioned(config.dataset, len(found.items), found.uncaptioned,
                                config.batch_size * config.accum_freq * env.world_size, config.model,
                                config.pretrained)
    if problem:
        raise EmptySplitError(problem)
    return found


def _resume_path(config: TrainConfig, folder: RunFolder) -> Path | None:
    if not config.resume:
        return None
    if config.resume == "latest":
        found = folder.latest_checkpoint()
        if found is None:
            raise ConfigError(f"--resume latest: no checkpoint in {folder.checkpoints}")
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
    folder: RunFolder,
    resume_path: Path | None,
    events: EventWriter,
    found: SplitItems,
) -> RunResult:
    seed_everything(config.seed)
    if not found.items:
        raise EmptySplitError(no_items_message(config.dataset, "train", found))
    items = found.items
    shapes = found.kind == "shape-text"
    encoder, preprocess, tokenizer = _build_encoder(config, catalog, env, device, folder)
    view_map = views_at_size(catalog, workspace, config.dataset, model_image_size(encoder)) if shapes else {}
    if view_map:  # the shapes rendered at the model's input size
        items = remap_views(items, view_map)
    model = _build_model(config, encoder, preprocess, tokenizer, shapes, env, device)
    inputs = _input_pipeline(config, catalog, workspace, env, model, items)
    if config.channels_last:
        model.module = model.module.to(memory_format=torch.channels_last)
    step, best = _resume(config, resume_path, model, events) if resume_path is not None else (0, {})
    training = _Training(config, catalog, env, device, folder, events, model, inputs, view_map,
                         forward=_parallel(config, env, device, model.module),
                         autocast=autocast_for(config.precision, device), step=step, best=best)
    feed = _feed(config, inputs, device, step)
    events.emit(_started(config, env, device, inputs, step, found.uncaptioned))
    with _StopFlag() as stop, contextlib.closing(feed):
        training.run(feed, stop)
    if stop.requested and training.step < inputs.total:
        return training.cancelled()
    return training.finish()


@dataclass
class _Model:
    """What a run trains: the encoder with its preprocessing and tokenizer, the objective, the module that joins
    them, the optimiser and (amp on CUDA) the gradient scaler."""

    encoder: Any
    preprocess: Any
    tokenizer: Any
    loss: torch.nn.Module
    module: TrainModule
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler | None


@dataclass
class _Inputs:
    """A run's input pipeline: pixels (the packed store, else image files), the thread plan, the dataset and its
    sampler, and how many steps the run takes."""

    store: Any
    normalize: Any
    plan: ThreadPlan
    notes: list[str]  # for people: said in the started event (the CLI prints it, the app logs it)
    dataset: MultifoldDataset
    sampler: MultifoldBatchSampler
    step_batch: int  # items per process per optimiser step
    steps_per_epoch: int
    total: int


def _build_encoder(config: TrainConfig, catalog: Catalog, env: DistEnv, device: torch.device, folder: RunFolder
                   ) -> tuple[Any, Any, Any]:
    """The run's encoder, its towers locked as asked, with its preprocessing and tokenizer. A model name the
    pretrained weights resolve to (e.g. a QuickGELU tag: <model>-quickgelu) is written back to the run's config."""
    encoder, _, preprocess, tokenizer = build_encoder(
        config.model, pretrained=config.pretrained, pooling=config.pooling, device=str(device),
        precision=effective_precision(config.precision, device), grad_checkpointing=config.grad_checkpointing,
    )
    if encoder.model_name and encoder.model_name != config.model:  # e.g. a QuickGELU tag chose <model>-quickgelu
        config.model = encoder.model_name
        if env.is_main:
            save_config(config, folder.config)
            catalog.upsert_run(config.name or "", config=config.as_dict())
    lock_towers(encoder.clip, lock_image=config.lock_image,
                lock_image_unlocked_groups=config.lock_image_unlocked_groups,
                lock_image_freeze_bn_stats=config.lock_image_freeze_bn_stats, lock_text=config.lock_text,
                lock_text_unlocked_layers=config.lock_text_unlocked_layers,
                lock_text_freeze_layer_norm=config.lock_text_freeze_layer_norm)
    return encoder, preprocess, tokenizer


def _build_model(config: TrainConfig, encoder: Any, preprocess: Any, tokenizer: Any, shapes: bool, env: DistEnv,
                 device: torch.device) -> _Model:
    """The objective, the module that trains it with the encoder, AdamW over both, and the scaler."""
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
    return _Model(encoder, preprocess, tokenizer, loss, module, optimizer, scaler)


def _input_pipeline(config: TrainConfig, catalog: Catalog, workspace: Workspace, env: DistEnv, model: _Model,
                    items: list[Any]) -> _Inputs:
    """Pixels (packed store or files), threads, the dataset, its sampler and the run's length in steps."""
    notes: list[str] = []
    store, normalize = choose_store(config.store, catalog, workspace.packed, config.dataset, config.model,
                                    model.preprocess, [p for item in items for p in item.visuals],
                                    on_note=notes.append)
    plan = _apply_thread_plan(config, decode=store is None)
    dataset = MultifoldDataset(items, config.views_per_item, config.captions_per_item, model.preprocess,
                               model.tokenizer, seed=config.seed, store=store,
                               decode_size=model_image_size(model.encoder))
    step_batch = config.batch_size * config.accum_freq  # items per process per optimiser step
    sampler = MultifoldBatchSampler(len(dataset), step_batch, seed=config.seed, rank=env.rank,
                                    world_size=env.world_size)
    steps_per_epoch = len(dataset) // (step_batch * env.world_size)
    total = config.max_steps if config.max_steps is not None else int(config.epochs or 1) * steps_per_epoch
    return _Inputs(store, normalize, plan, notes, dataset, sampler, step_batch, steps_per_epoch, total)


def _resume(config: TrainConfig, resume_path: Path, model: _Model, events: EventWriter) -> tuple[int, dict[str, Any]]:
    """Weights, optimiser, scaler and random state from a checkpoint; the step and best so far."""
    state = ckpt.load(resume_path)
    load_fitting(model.encoder.clip, checkpoint_part(state, resume_path), resume_path, config.model)
    resumable = _resumable(state, resume_path)
    load_fitting(model.encoder.pool, resumable["pool"], resume_path, f"{config.model} (view pool)")
    load_fitting(model.loss, resumable["loss"], resume_path, f"loss {config.loss}")
    try:
        model.optimizer.load_state_dict(resumable["optimizer"])
    except (ValueError, KeyError, RuntimeError) as exc:
        raise ckpt.CheckpointError(f"{resume_path}: its optimizer state does not fit this run ({exc})") from None
    if model.scaler is not None and state.get("scaler"):
        model.scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(resumable["rng"]["torch"])
    step = int(resumable["step"])
    best = dict(state.get("best") or {})
    events.emit(ev.Resumed(step=step, path=str(resume_path)))
    return step, best


def _parallel(config: TrainConfig, env: DistEnv, device: torch.device, module: torch.nn.Module) -> Any:
    """What a step calls forward: the module, wrapped for DDP across processes, compiled if asked."""
    train_module: torch.nn.Module = module
    if env.distributed:
        train_module = DistributedDataParallel(
            module, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=config.loss == "sspc",
        )
    return torch.compile(train_module) if config.torchcompile else train_module


def _feed(config: TrainConfig, inputs: _Inputs, device: torch.device, step: int) -> BatchFeed:
    """One loader iterator over every remaining step (workers persist; its own generator leaves torch's RNG
    alone), feeding batches to the device."""
    plan = inputs.plan
    loader = DataLoader(inputs.dataset, batch_sampler=RunBatchSampler(inputs.sampler, step, inputs.total),
                        num_workers=plan.workers, collate_fn=collate,
                        pin_memory=device.type == "cuda" and plan.workers > 0,
                        generator=torch.Generator().manual_seed(config.seed))
    return BatchFeed(loader, device, normalize=inputs.normalize, background=plan.workers == 0,
                     channels_last=config.channels_last)


def _started(config: TrainConfig, env: DistEnv, device: torch.device, inputs: _Inputs, step: int,
             uncaptioned: int) -> ev.Started:
    left_out = [f"left out {uncaptioned} training items without captions"] if uncaptioned else []
    return ev.Started(run=config.name or "", total=inputs.total, step=step, device=describe(device),
                      world_size=env.world_size, precision=effective_precision(config.precision, device),
                      dataset=config.dataset, loss=config.loss, model=config.model, items=len(inputs.dataset),
                      store="packed" if inputs.store is not None else "files", threads=inputs.plan.threads,
                      workers=inputs.plan.workers, uncaptioned_items=uncaptioned,
                      deterministic=config.deterministic, torch_version=str(torch.__version__),
                      repeatability="" if config.threads else SHARE_NOTE,
                      note="; ".join([*left_out, *inputs.notes]))


@dataclass
class _Training:
    """One process's part of a run from its first step to its end: the steps, their progress events,
    validation with the best checkpoint, periodic checkpoints, and the closing test evaluation."""

    config: TrainConfig
    catalog: Catalog
    env: DistEnv
    device: torch.device
    folder: RunFolder
    events: EventWriter
    model: _Model
    inputs: _Inputs
    view_map: dict[str, str]
    forward: Any
    autocast: Callable[[], Any]
    step: int
    best: dict[str, Any]

    def run(self, feed: BatchFeed, stop: _StopFlag) -> None:
        """Steps until the run's total, the end of the data, or a stop request (after a checkpoint)."""
        config, inputs = self.config, self.inputs
        t_start, step_at_start = time.perf_counter(), self.step
        t_threads = time.monotonic()
        while self.step < inputs.total and not stop.requested:
            epoch, start_batch = divmod(self.step, inputs.steps_per_epoch)
            for batch in feed.take(inputs.steps_per_epoch - start_batch):
                lr = cosine_lr(config.lr, config.warmup, inputs.total, self.step)
                for group in self.model.optimizer.param_groups:
                    group["lr"] = lr
                if not config.threads and time.monotonic() - t_threads > THREADS_RECHECK_S:  # a job came or went
                    inputs.plan = _apply_thread_plan(config, decode=inputs.store is None, workers=inputs.plan.workers)
                    t_threads = time.monotonic()
                out = self._optimizer_step(batch, lr)
                elapsed = time.perf_counter() - t_start
                self._progress(out, lr, epoch, (self.step - step_at_start) * self.global_batch / max(elapsed, 1e-9))
                last = self.step >= inputs.total
                if (self.step % config.val_frequency == 0 or last) and self.env.is_main:
                    self._validate_and_keep_best(epoch)
                if (self.step % config.save_frequency == 0 or last or stop.requested) and self.env.is_main:
                    self._checkpoint(epoch)
                if last or stop.requested:
                    break
            if feed.exhausted:
                break

    def _optimizer_step(self, batch: dict[str, Any], lr: float) -> Any:
        """Forward, backward (accumulated over micro-batches), clip, update; checks the loss and the weights."""
        config, model = self.config, self.model
        images, tokens, item_ids = batch["images"], batch["tokens"], batch["item"]
        model.module.train()
        model.optimizer.zero_grad(set_to_none=True)
        out = _forward_backward(self.forward, model.module, images, tokens, item_ids, config.accum_freq,
                                self.autocast, model.scaler, self.step + 1)
        if model.scaler is not None:
            model.scaler.unscale_(model.optimizer)
        if config.grad_clip_norm:
            torch.nn.utils.clip_grad_norm_(model.module.parameters(), config.grad_clip_norm)
        if model.scaler is not None:
            model.scaler.step(model.optimizer)
            model.scaler.update()
        else:
            model.optimizer.step()
        _check_weights(model.module, self.step + 1, out, lr)
        with torch.no_grad():
            model.encoder.clip.logit_scale.clamp_(0, math.log(100))
        self.step += 1
        return out

    @property
    def global_batch(self) -> int:
        """Items per optimiser step across all processes."""
        return self.inputs.step_batch * self.env.world_size

    def _progress(self, out: Any, lr: float, epoch: int, rate: float) -> None:
        """The progress event of the step just taken (``rate``: samples per second across processes)."""
        parts = {k: all_reduce_mean(v, self.env) for k, v in out.detached().items()}
        self.events.emit(ev.Progress(
            step=self.step, total=self.inputs.total, epoch=epoch, loss=parts.pop("loss"), parts=parts, lr=lr,
            logit_scale=float(self.model.encoder.logit_scale.detach()), samples_per_second=rate,
            samples_per_second_per_gpu=rate / self.env.world_size,
            eta_s=(self.inputs.total - self.step) * self.global_batch / max(rate, 1e-9),
        ))

    def _validate_and_keep_best(self, epoch: int) -> None:
        """Evaluate on the validation split; a new best is saved as the best checkpoint."""
        model, folder = self.model, self.folder
        improved = _validate(self.config, self.catalog, model.encoder, model.preprocess, model.tokenizer,
                             self.device, self.events, self.step, self.best, folder.best, self.view_map)
        if improved:
            ckpt.save_atomic(self._state(epoch), folder.best)
            self.events.emit(ev.Best(step=self.step, path=str(folder.best), score=self.best["best_score"]))

    def _checkpoint(self, epoch: int) -> None:
        path = ckpt.save_atomic(self._state(epoch), self.folder.step_checkpoint(self.step))
        self.folder.prune_checkpoints(KEEP_CHECKPOINTS, {path})
        self.events.emit(ev.Checkpoint(step=self.step, path=str(path)))

    def _state(self, epoch: int) -> dict[str, Any]:
        model = self.model
        return _state(self.config, self.step, epoch, model.encoder, model.loss, model.optimizer, model.scaler,
                      self.best)

    def cancelled(self) -> RunResult:
        self.events.emit(ev.Cancelled(step=self.step, total=self.inputs.total))
        return RunResult(self.config.name or "", self.folder.path, "cancelled", self.step, self.best)

    def finish(self) -> RunResult:
        """The test split evaluated (main process), the metrics recorded, and the done event."""
        config, model = self.config, self.model
        metrics = dict(self.best)
        if self.env.is_main:
            test = _evaluate(config, self.catalog, model.encoder, model.preprocess, model.tokenizer, self.device,
                             "test", self.view_map)
            if test:
                metrics["test"] = test
                self.events.emit(ev.Eval(step=self.step, split="test", metrics=test))
            self.catalog.merge_run_metrics(config.name or "", metrics)
        self.events.emit(ev.Done(step=self.step, total=self.inputs.total, metrics=metrics))
        return RunResult(config.name or "", self.folder.path, "done", self.step, metrics)


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
    """torch's intra-op threads from this job's share of the cores (re-read while the run goes on), or the fixed
    ``--threads`` (``--deterministic`` fixes them); the loader's workers are fixed when it starts (``workers``)."""
    fixed = config.threads
    plan = plan_training(fixed or job_cores(), config.workers, decode, cap=None if fixed else user_thread_cap())
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


def _validate(config, catalog, encoder, preprocess, tokenizer, device, events, step, best, best_path,  # noqa: ANN001
              view_map=None) -> bool:  # noqa: ANN001
    """Evaluate on the validation split; update ``best`` in place; True when this step is the new best."""
    metrics = _evaluate(config, catalog, encoder, preprocess, tokenizer, device, config.val_split, view_map)
    if not metrics:
        return False
    events.emit(ev.Eval(step=step, split=config.val_split, metrics=metrics))
    score = selection_score(metrics)  # mean R@1 over the directions evaluated
    catalog.merge_run_metrics(config.name or "", {"val": metrics, "val_step": step})
    if best and score <= best.get("best_score", -1.0):
        return False
    best.clear()
    best.update({"best_score": score, "best_step": step, "best_checkpoint": str(best_path),
                 "val": metrics})
    return True


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
