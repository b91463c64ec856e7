"""Training throughput: OUR training step against a plain open_clip loop, same model, batch and precision, one process.

    .venv/bin/python bench/train_throughput.py                                  # CPU: cf-vit-tiny-64, batch 32, all losses
    .venv/bin/python bench/train_throughput.py --data shapes-demo --workspace /tmp/wfull   # + the real data loader
    .venv/bin/python bench/train_throughput.py --device cuda                    # GPU: ViT-B-32, batch 256, amp_bf16
    .venv/bin/python bench/train_throughput.py --device cuda --loss mxm --compile --channels-last

Rows (each a model, optimizer and inputs of its own, built once; all from the same seed):

* ``plain``: the baseline — ``open_clip.create_model(name)`` + ``open_clip.loss.ClipLoss`` + ``torch.optim.AdamW``
  (torch's default implementation; ``--plain-fused`` for the fused one), one image and one caption per item, eager,
  autocast as ``--precision`` asks (GradScaler for ``amp``), ``logit_scale`` clamped after the step as open_clip
  does. Weight decay split as open_clip's ``main.py`` (gains/biases/logit scale excluded). No gradient clipping
  (open_clip's default).
* ``ours``: the step of ``engine/train/loop.py``: ``TrainModule`` (``build_encoder`` + the objective
  ``_build_objective`` builds for the run, ``loss_options`` of ``engine/resources/configs/shapes-demo-{loss}.yaml``), AdamW
  over ``param_groups`` with ``fused=True`` on CUDA, ``autocast_for`` (bf16/fp16 autocast on CUDA, plain fp32 on
  the CPU whatever was asked — so the plain loop runs in fp32 on the CPU too), GradScaler for ``amp``, the
  per-step lr from ``cosine_lr``, ``_check_finite``, gradient clipping at ``--grad-clip-norm`` (the config's 1.0),
  the clamp, and the per-step host reads the loop makes for its progress event (``out.detached()``,
  ``float(logit_scale)``). ``--compile`` wraps the module in ``torch.compile`` exactly as ``torchcompile: true``.
  One row per loss with ``--views``/``--captions`` per item (multifold; shape batches: views mean-pooled), and
  one per loss with V=1, C=1 on an image batch — the apples-to-apples comparison with ``plain``.
* ``ours+data`` (``--data DATASET``): the first ``--loss`` fed by the loop's input pipeline (``MultifoldDataset``
  + ``RunBatchSampler`` + ``DataLoader`` + ``BatchFeed``: prefetch, pinned non-blocking copies and normalisation
  on the device), one row from the PNG files (decoded by worker processes, at most half the cores) and one
  from the packed store (``--store``; no decoding, a thread gathers the next batch); its time includes waiting
  for batches and the host-to-device copy; ``wait`` is that share.

Fairness: all rows live in memory together and run interleaved in ``--rounds`` rounds; in each round every row
runs ``--steps / --rounds`` steps back to back, timed as one block between ``torch.cuda.synchronize()`` calls
(CUDA) — so a machine slowing down or speeding up touches all rows alike. ``--warmup`` steps per row (more with
``--compile``; SSPC rows until its queue is full, so its term is on) run first and are not timed. The data row
runs one epoch (``--data-steps`` steps) per round from a fresh loader (the loop has one per run: this counts its
start-up once per round), so its background workers never prefetch while other rows run. Synthetic inputs are random pixels and random token ids already on the device.

A *sample* is one item: a multifold row encodes V images and C captions per sample, so images/s and
captions/s are printed too, and ``×plain`` is given per sample and per observation (images+captions).
Writes JSON (``--json``, default ``bench/results/train_throughput.json``) with the machine and every round.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe, machine  # noqa: E402

from engine.losses.names import LOSS_NAMES as LOSSES  # noqa: E402
from engine.models.names import TRAINING_CONFIGS_DIR  # noqa: E402

# ------------------------------------------------------------------------------------------------- helpers


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_autocast(precision: str, device: torch.device) -> Callable[[], contextlib.AbstractContextManager]:
    """open_clip's ``get_autocast``: bf16/fp16 autocast for the amp precisions, nothing otherwise."""
    if precision in ("amp_bf16", "amp_bfloat16"):
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    if precision == "amp":
        return lambda: torch.autocast(device.type, dtype=torch.float16)
    return contextlib.nullcontext


def open_clip_param_groups(model: torch.nn.Module, wd: float) -> list[dict]:
    """open_clip ``main.py``: no decay for gains/biases/norms/logit scale and 1-d tensors."""
    exclude = lambda n, p: p.ndim < 2 or "bn" in n or "ln" in n or "bias" in n or "logit_scale" in n  # noqa: E731
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    return [
        {"params": [p for n, p in named if exclude(n, p)], "weight_decay": 0.0},
        {"params": [p for n, p in named if not exclude(n, p)], "weight_decay": wd},
    ]


def to_channels_last(images: torch.Tensor) -> torch.Tensor:
    """``[..., 3, H, W]`` -> the same values with channels-last strides per image (a 5-D batch stays viewable)."""
    shape = images.shape
    flat = images.reshape(-1, *shape[-3:]).contiguous(memory_format=torch.channels_last)
    return flat.view(shape)


# ------------------------------------------------------------------------------------------------- rows


@dataclass
class Row:
    name: str
    kind: str  # plain | ours | ours+data
    loss: str
    views: int
    captions: int
    batch: int
    step: Callable[[], None] = field(repr=False)
    block: Callable[[int], tuple[float, float]] | None = field(default=None, repr=False)  # data rows: own timing
    rounds: list[dict[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warmup_steps: int = 0

    def result(self) -> dict[str, Any]:
        steps = sum(r["steps"] for r in self.rounds)
        seconds = sum(r["seconds"] for r in self.rounds)
        rate = steps * self.batch / seconds if seconds > 0 else float("nan")
        per_round = [r["steps"] * self.batch / r["seconds"] for r in self.rounds if r["seconds"] > 0]
        wait = sum(r.get("wait", 0.0) for r in self.rounds)
        return {
            "row": self.name, "kind": self.kind, "loss": self.loss, "views": self.views, "captions": self.captions,
            "batch": self.batch, "timed_steps": steps, "seconds": seconds, "warmup_steps": self.warmup_steps,
            "samples_per_s": rate, "images_per_s": rate * self.views, "captions_per_s": rate * self.captions,
            "ms_per_step": 1000 * seconds / steps if steps else float("nan"),
            "round_samples_per_s": per_round,
            "round_spread_pct": 100 * statistics.pstdev(per_round) / statistics.fmean(per_round)
            if len(per_round) > 1 else 0.0,
            "loader_wait_share": wait / seconds if self.kind == "ours+data" and seconds else None,
            "step_peak_gib": max((r["step_peak_gib"] for r in self.rounds if "step_peak_gib" in r), default=None),
            "notes": self.notes,
        }


def build_plain(args: argparse.Namespace, device: torch.device, precision: str) -> Row:
    import open_clip

    from engine.models.configs import register_model_configs

    register_model_configs()
    torch.manual_seed(args.seed)
    model = open_clip.create_model(args.model, precision=precision, device=device)
    model.train()
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    loss_fn = open_clip.loss.ClipLoss()
    kwargs: dict[str, Any] = {"fused": True} if args.plain_fused and device.type == "cuda" else {}
    opt = torch.optim.AdamW(open_clip_param_groups(model, args.wd), lr=args.lr, betas=(0.9, 0.98), eps=1e-6, **kwargs)
    scaler = torch.amp.GradScaler("cuda") if precision == "amp" and device.type == "cuda" else None
    autocast = plain_autocast(precision, device)
    size = model.visual.image_size
    h, w = (size, size) if isinstance(size, int) else size
    ctx = model.context_length
    vocab = model.vocab_size
    g = torch.Generator().manual_seed(args.seed + 1)
    dtype = torch.bfloat16 if precision in ("bf16", "pure_bf16") else torch.float16 if precision in ("fp16", "pure_fp16") else torch.float32
    images = torch.randn(args.batch_size, 3, h, w, generator=g).to(device=device, dtype=dtype)
    if args.channels_last:
        images = to_channels_last(images)
    tokens = torch.randint(1, vocab, (args.batch_size, ctx), generator=g).to(device)

    def step() -> None:
        with autocast():
            img, txt, scale = model(images, tokens)[:3]
            loss = loss_fn(img, txt, scale)
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))

    name = "plain open_clip" + (" (fused AdamW)" if kwargs else "")
    return Row(name, "plain", "ClipLoss", 1, 1, args.batch_size, step)


class OurStep:
    """The body of ``engine.train.loop._train``'s step loop, on given batches."""

    def __init__(self, args: argparse.Namespace, device: torch.device, loss_name: str, shapes: bool) -> None:
        from engine.models import build_encoder
        from engine.run.config import TrainConfig
        from engine.run.device import autocast_for, effective_precision
        from engine.train.loop import _build_objective
        from engine.train.objective import TrainModule, param_groups

        self.device = device
        torch.manual_seed(args.seed)
        options = dict(loss_options(loss_name))
        options.update(args.loss_options.get(loss_name, {}) if isinstance(args.loss_options, dict) else {})
        self.config = TrainConfig(dataset="bench", loss=loss_name, model=args.model, batch_size=args.batch_size,
                                  lr=args.lr, wd=args.wd, precision=args.precision, grad_clip_norm=args.grad_clip_norm,
                                  torchcompile=args.compile, max_steps=10**6, warmup=args.lr_warmup,
                                  loss_options=options)
        precision = effective_precision(args.precision, device)
        encoder, _, self.preprocess, self.tokenizer = build_encoder(args.model, device=str(device), precision=precision)
        self.encoder = encoder
        loss = _build_objective(self.config, encoder, shapes)
        self.module = TrainModule(encoder, loss, shapes).to(device)
        if args.channels_last:
            self.module = self.module.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.AdamW(
            param_groups(self.module, self.config.wd), lr=self.config.lr,
            betas=(self.config.beta1, self.config.beta2), eps=self.config.eps, fused=device.type == "cuda",
        )
        self.scaler = torch.amp.GradScaler("cuda") if (args.precision == "amp" and device.type == "cuda") else None
        self.forward = torch.compile(self.module, backend=args.compile_backend) if args.compile else self.module
        self.autocast = autocast_for(args.precision, device)
        self.input_dtype = getattr(encoder, "_input_dtype", None) or torch.float32
        self.step_count = 0
        self.last_parts: dict[str, float] = {}

    def __call__(self, images: torch.Tensor, tokens: torch.Tensor, items: torch.Tensor) -> None:
        import engine.train.loop as loop
        from engine.train.schedule import cosine_lr

        config, module, optimizer, scaler = self.config, self.module, self.optimizer, self.scaler
        lr = cosine_lr(config.lr, config.warmup, config.max_steps, self.step_count)
        for group in optimizer.param_groups:
            group["lr"] = lr
        module.train()
        with self.autocast():
            out = self.forward(images, tokens, items)
        loop._check_finite(out, self.step_count + 1)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(out.total).backward()
            scaler.unscale_(optimizer)
        else:
            out.total.backward()
        if config.grad_clip_norm:
            torch.nn.utils.clip_grad_norm_(module.parameters(), config.grad_clip_norm)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        with torch.no_grad():
            self.encoder.clip.logit_scale.clamp_(0, math.log(100))
        self.step_count += 1
        # what the loop reads back for its progress event, every step
        self.last_parts = out.detached()
        float(self.encoder.logit_scale.detach())


def loss_options(loss: str) -> dict[str, Any]:
    from engine.run.config import load_config_file

    path = TRAINING_CONFIGS_DIR / f"shapes-demo-{loss}.yaml"
    return dict(load_config_file(path).get("loss_options") or {}) if path.is_file() else {}


def synthetic_inputs(ours: OurStep, args: argparse.Namespace, views: int, captions: int, device: torch.device):  # noqa: ANN201
    h, w = ours.encoder.image_size
    g = torch.Generator().manual_seed(args.seed + 1)
    images = torch.randn(args.batch_size, views, 3, h, w, generator=g).to(device=device, dtype=ours.input_dtype)
    if args.channels_last:
        images = to_channels_last(images)
    vocab = int(ours.encoder.clip.vocab_size)
    tokens = torch.randint(1, vocab, (args.batch_size, captions, ours.encoder.context_length), generator=g).to(device)
    items = torch.arange(args.batch_size, device=device)
    return images, tokens, items


def build_ours(args: argparse.Namespace, device: torch.device, loss: str, views: int, captions: int,
               shapes: bool) -> Row:
    ours = OurStep(args, device, loss, shapes)
    images, tokens, items = synthetic_inputs(ours, args, views, captions, device)
    tag = f"V={views} C={captions}" + (" shapes" if shapes else " images")
    row = Row(f"ours {loss} {tag}" + (" compiled" if args.compile else ""), "ours", loss, views, captions,
              args.batch_size, lambda: ours(images, tokens, items))
    row.ours = ours  # type: ignore[attr-defined]
    return row


def build_data_row(args: argparse.Namespace, device: torch.device, loss: str, store_mode: str) -> Row:
    """Our step fed by the loop's input pipeline, from the image files or the packed store."""
    from torch.utils.data import DataLoader

    from engine.data.feed import BatchFeed
    from engine.data.images import model_image_size
    from engine.data.multifold import MultifoldBatchSampler, MultifoldDataset, RunBatchSampler, collate, load_items
    from engine.data.packed import choose_store
    from engine.threads import job_cores, plan_training
    from engine.workspace import Workspace

    ws = Workspace.open(args.workspace, create=False)
    catalog = ws.catalog()
    kind, items = load_items(catalog, args.data, "train")
    shapes = kind == "shape-text"
    views = args.views if shapes else 1
    ours = OurStep(args, device, loss, shapes)
    store, normalize = choose_store(store_mode, catalog, ws.packed, args.data, args.model, ours.preprocess,
                                    [p for i in items for p in i.visuals])
    plan = plan_training(job_cores(), args.workers, decode=store is None)
    dataset = MultifoldDataset(items, views, args.captions, ours.preprocess, ours.tokenizer, seed=args.seed,
                               store=store, decode_size=model_image_size(ours.encoder))
    sampler = MultifoldBatchSampler(len(dataset), args.batch_size, seed=args.seed)
    per_epoch = len(dataset) // args.batch_size
    state = {"step": 0}

    def feed(n: int) -> BatchFeed:
        """A loader over the next ``n`` steps of the run, as the loop builds its one loader for a whole run."""
        start = state["step"]
        state["step"] += n
        loader = DataLoader(dataset, batch_sampler=RunBatchSampler(sampler, start, start + n),
                            num_workers=plan.workers, collate_fn=collate,
                            pin_memory=device.type == "cuda" and plan.workers > 0,
                            generator=torch.Generator().manual_seed(args.seed))
        return BatchFeed(loader, device, normalize=normalize, background=plan.workers == 0,
                         channels_last=args.channels_last)

    def run(n: int) -> tuple[float, float]:
        """``n`` steps from a fresh loader; (seconds, seconds waiting for data incl. the copy to the device)."""
        wait = 0.0
        sync(device)
        t0 = time.perf_counter()
        batches = feed(n)
        try:
            while True:
                tw = time.perf_counter()
                batch = next(batches, None)
                if batch is None:
                    break
                wait += time.perf_counter() - tw
                ours(batch["images"], batch["tokens"], batch["item"])
        finally:
            batches.close()
        sync(device)
        return time.perf_counter() - t0, wait

    steps = min(args.data_steps or per_epoch, per_epoch)
    source = "packed store" if store is not None else "PNG files"
    row = Row(f"ours+data {loss} {args.data} V={views} C={args.captions} {source} w={plan.workers}", "ours+data",
              loss, views, args.captions, args.batch_size, step=lambda: run(1), block=lambda n: run(steps))
    row.ours = ours  # type: ignore[attr-defined]
    row.warm = run  # type: ignore[attr-defined]
    row.data_steps = steps  # type: ignore[attr-defined]
    row.notes.append(f"{steps} steps per round from a fresh loader ({per_epoch} steps per epoch), {source}, "
                     f"{plan.workers} worker processes" + (", batches built by a thread" if not plan.workers else ""))
    if store_mode != "files" and store is None:
        row.notes.append("the packed store could not be used: pixels decoded from the files")
    return row


# ------------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", help="auto (cuda when available) | cpu | cuda")
    p.add_argument("--model", default=None, help="default: cf-vit-tiny-64 on the CPU, ViT-B-32 on CUDA")
    p.add_argument("--batch-size", type=int, default=None, help="items per step (default 32 CPU, 256 CUDA)")
    p.add_argument("--views", type=int, default=2, help="views per item in the multifold rows (shipped configs: 2)")
    p.add_argument("--captions", type=int, default=3, help="captions per item in the multifold rows (configs: 3)")
    p.add_argument("--loss", nargs="+", choices=[*LOSSES, "all"], default=["all"])
    p.add_argument("--precision", default="amp_bf16",
                   help="open_clip name (fp32, amp, amp_bf16, bf16, pure_bf16...); our loop runs fp32 on the CPU, "
                        "so does the plain loop there")
    p.add_argument("--steps", type=int, default=20, help="timed steps per row (split over the rounds)")
    p.add_argument("--rounds", type=int, default=5, help="interleaving rounds")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps per row first (default 5; 15 with --compile)")
    p.add_argument("--compile", action="store_true", help="torch.compile our step's module (as torchcompile: true)")
    p.add_argument("--compile-backend", default="inductor",
                   help="torch.compile backend (default inductor, as the loop; 'eager' checks tracing only, fast)")
    p.add_argument("--channels-last", action="store_true", help="channels_last model and images (both loops)")
    p.add_argument("--plain-fused", action="store_true", help="also give the plain loop the fused AdamW (CUDA)")
    p.add_argument("--no-multifold", action="store_true", help="skip the V/C rows (only V=1 C=1 and plain)")
    p.add_argument("--no-single", action="store_true", help="skip the V=1 C=1 rows of our step")
    p.add_argument("--data", default=None, metavar="DATASET", help="add a row fed by the real data loader")
    p.add_argument("--workspace", default=None, help="workspace holding --data")
    p.add_argument("--workers", type=int, default=2,
                   help="data loader workers for --data from files (config default 2; at most half the cores)")
    p.add_argument("--store", choices=("both", "files", "packed"), default="both",
                   help="--data rows: from the PNG files, the packed store (packed first if needed), or both")
    p.add_argument("--data-steps", type=int, default=None, help="data-row steps per round (default: one epoch)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-warmup", type=int, default=20, help="our loop's lr warmup steps (cosine_lr)")
    p.add_argument("--wd", type=float, default=0.1)
    p.add_argument("--grad-clip-norm", type=float, default=1.0, help="our step's clipping (config default 1.0; 0 = off)")
    p.add_argument("--loss-options", type=json.loads, default={}, metavar="JSON",
                   help='per loss, e.g. \'{"sspc": {"queue_size": 5500}}\' (default: the shipped configs\')')
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=str(ROOT / "bench" / "results" / "train_throughput.json"), metavar="PATH")
    args = p.parse_args(argv)
    if args.data and not args.workspace:
        p.error("--data needs --workspace")
    return args


@dataclass
class Setup:
    """What ``main`` settles before building rows: the device and the settings its defaults depend on."""

    device: torch.device
    precision: str  # the precision the step runs as on this device
    warmup: int
    losses: list[str]

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"


def settle(args: argparse.Namespace) -> Setup:
    """Threads, device, the device-dependent defaults (model, batch) and TF32 on CUDA."""
    from engine.run.device import effective_precision, pick_device

    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    args.model = args.model or ("ViT-B-32" if device.type == "cuda" else "cf-vit-tiny-64")
    args.batch_size = args.batch_size or (256 if device.type == "cuda" else 32)
    warmup = args.warmup if args.warmup is not None else (15 if args.compile else 5)
    losses = list(LOSSES) if "all" in args.loss else list(dict.fromkeys(args.loss))
    precision = effective_precision(args.precision, device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return Setup(device, precision, warmup, losses)


def build_rows(args: argparse.Namespace, setup: Setup) -> list[Row]:
    """The plain row, then per loss our V=1 C=1 and multifold rows, then the data rows."""
    device = setup.device
    t_build = time.perf_counter()
    rows: list[Row] = [build_plain(args, device, setup.precision)]
    for loss in setup.losses:
        if not args.no_single:
            rows.append(build_ours(args, device, loss, 1, 1, shapes=False))
        if not args.no_multifold:
            rows.append(build_ours(args, device, loss, args.views, args.captions, shapes=True))
    if args.data:
        for store_mode in (("files", "packed") if args.store == "both" else (args.store,)):
            rows.append(build_data_row(args, device, setup.losses[0], store_mode))
    print(f"built {len(rows)} rows in {time.perf_counter() - t_build:.1f} s; warming up ...", flush=True)
    return rows


def fill_sspc_queue(row: Row) -> int:
    """SSPC rows step on until its queue is full and the term is on (at most 500 steps); the extra steps."""
    ours = getattr(row, "ours", None)
    if ours is None or ours.config.loss != "sspc":
        return 0
    extra = 0
    while ours.last_parts.get("queue_fill", 1.0) < 1.0 and extra < 500:
        row.step()
        extra += 1
    if ours.last_parts.get("queue_fill", 1.0) < 1.0:
        row.notes.append("SSPC queue still not full after warm-up: its term is off in the timing")
    return extra


def warm_up(rows: list[Row], warmup: int, device: torch.device) -> None:
    """``warmup`` untimed steps per row (interleaved too); SSPC rows until their queue is full."""
    for row in rows:
        t0 = time.perf_counter()
        if row.block is not None:
            row.warm(warmup)  # type: ignore[attr-defined]  # one loader, ``warmup`` batches
        else:
            for _ in range(warmup):
                row.step()
        n = warmup + fill_sspc_queue(row)
        row.warmup_steps = n
        sync(device)
        print(f"  warm-up {row.name}: {n} steps, {time.perf_counter() - t0:.1f} s", flush=True)


def time_block(row: Row, per_round: int, device: torch.device) -> dict[str, float]:
    """One round of one row: its data block, or ``per_round`` steps timed between syncs."""
    if row.block is not None:
        seconds, wait = row.block(per_round)
        return {"steps": row.data_steps, "seconds": seconds, "wait": wait}  # type: ignore[attr-defined]
    sync(device)
    t0 = time.perf_counter()
    for _ in range(per_round):
        row.step()
    sync(device)
    return {"steps": per_round, "seconds": time.perf_counter() - t0}


def time_rounds(rows: list[Row], args: argparse.Namespace, device: torch.device) -> None:
    """``--rounds`` rounds, every row a block of ``--steps / --rounds`` steps in each (and its step peak on CUDA)."""
    per_round = max(1, args.steps // args.rounds)
    cuda = device.type == "cuda"
    for r in range(args.rounds):
        for row in rows:
            if cuda:  # the row's step peak: memory allocated above what was held when its block started
                sync(device)
                held = torch.cuda.memory_allocated(device)
                torch.cuda.reset_peak_memory_stats(device)
            row.rounds.append(time_block(row, per_round, device))
            if cuda:
                row.rounds[-1]["step_peak_gib"] = (torch.cuda.max_memory_allocated(device) - held) / 2**30
        print(f"  round {r + 1}/{args.rounds} done", flush=True)


def relative_to_plain(results: list[dict[str, Any]]) -> None:
    """``x_plain_samples`` and ``x_plain_observations`` of every row, against the first (plain) row."""
    plain = results[0]
    for res in results:
        res["x_plain_samples"] = res["samples_per_s"] / plain["samples_per_s"]
        obs = res["samples_per_s"] * (res["views"] + res["captions"])
        res["x_plain_observations"] = obs / (plain["samples_per_s"] * 2)


def print_table(results: list[dict[str, Any]], args: argparse.Namespace, setup: Setup, info: dict) -> None:
    print()
    print(f"machine: {describe(info)}")
    print(f"model {args.model}, batch {args.batch_size}, {setup.precision}, {args.steps} timed steps per row "
          f"({args.rounds} interleaved rounds), warm-up excluded. sample = one item.")
    headers = ["row", "samples/s", "images/s", "captions/s", "ms/step", "±round", "×plain", "×plain obs"]
    table = [[r["row"], f"{r['samples_per_s']:.1f}", f"{r['images_per_s']:.1f}", f"{r['captions_per_s']:.1f}",
              f"{r['ms_per_step']:.1f}", f"{r['round_spread_pct']:.0f}%", f"{r['x_plain_samples']:.2f}",
              f"{r['x_plain_observations']:.2f}"] for r in results]
    if setup.cuda:
        headers.append("step peak GiB")
        for t, r in zip(table, results, strict=True):
            t.append(f"{r['step_peak_gib']:.2f}" if r["step_peak_gib"] is not None else "-")
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(headers)]
    fmt = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    print(fmt(headers))
    print(fmt(["-" * w for w in widths]))
    for t in table:
        print(fmt(t))
    for r in results:
        if r["loader_wait_share"] is not None:
            print(f"{r['row']}: {100 * r['loader_wait_share']:.0f}% of its time waiting for batches")
        for note in r["notes"]:
            print(f"{r['row']}: {note}")
    print("×plain obs = (images+captions)/s relative to the plain loop's (1 image + 1 caption per sample).")


def write_json(args: argparse.Namespace, setup: Setup, info: dict, results: list[dict[str, Any]]) -> None:
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in vars(args).items() if k != "json"}
    settings.update(warmup=setup.warmup, effective_precision=setup.precision, losses=setup.losses)
    out.write_text(json.dumps({"benchmark": "train_throughput", "machine": info, "settings": settings,
                               "rows": results}, indent=1))
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup = settle(args)
    info = machine(str(setup.device))
    print(f"machine: {describe(info)}")
    print(f"model {args.model}, batch {args.batch_size}, precision {args.precision} (runs as {setup.precision}), "
          f"{args.steps} timed steps per row in {args.rounds} rounds after {setup.warmup} warm-up steps"
          + (", torch.compile (ours)" if args.compile else "") + (", channels_last" if args.channels_last else ""),
          flush=True)

    rows = build_rows(args, setup)
    warm_up(rows, setup.warmup, setup.device)
    time_rounds(rows, args, setup.device)

    results = [row.result() for row in rows]
    relative_to_plain(results)
    if setup.cuda:
        info["max_memory_allocated_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    print_table(results, args, setup, info)
    write_json(args, setup, info, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
