"""Encode every observation of a dataset split with a trained encoder (batched, no gradient).

Gives per-modality L2-normalised embeddings with their item ids:

* ``text``: every caption; ``text_ids``: observation ids of the captions;
* ``image``: every image or view; ``image_ids``: their observation ids;
* ``shape`` (shape datasets): one pooled embedding per item, from all its views.

The same function feeds evaluation and the search indexes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from engine.data.images import model_image_size, open_rgb
from engine.data.multifold import ItemObservations
from engine.errors import CrossfoldError
from engine.memory import mark, trim_c_heap

T = TypeVar("T")
_END = object()


@dataclass
class EncodedSplit:
    emb: dict[str, Tensor]
    items: dict[str, Tensor]


class _Images(Dataset):
    """Preprocessed images by position, with the reason a file could not be read ("" when it could)."""

    def __init__(self, paths: Sequence[str], preprocess: Callable[[Image.Image], Tensor], size: int) -> None:
        self.paths, self.preprocess, self.size = list(paths), preprocess, size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[Tensor | None, str]:
        try:
            return self.preprocess(open_rgb(self.paths[i], self.size)), ""
        except (OSError, ValueError, Image.DecompressionBombError) as exc:  # said in one line by the caller
            return None, f"{self.paths[i]}: cannot read the image ({exc})"


def _stack(samples: list[tuple[Tensor | None, str]]) -> tuple[Tensor | None, list[int], list[str]]:
    """(the readable images stacked, their positions in the batch, one line per unreadable file)."""
    good = [i for i, (t, _) in enumerate(samples) if t is not None]
    images = torch.stack([samples[i][0] for i in good]) if good else None  # type: ignore[misc]
    return images, good, [e for _, e in samples if e]


def decode_workers(n_images: int, batch_size: int) -> int:
    """Worker processes that decode while the model encodes: this job's share of the cores, halved (as training
    plans them), for sets of four batches or more; none for fewer (starting a worker costs more than it saves)."""
    if n_images < 4 * batch_size:
        return 0
    from engine.threads import job_cores, plan_training

    return plan_training(job_cores(), requested_workers=job_cores(), decode=True).workers


@torch.no_grad()
def encode_image_files(
    encoder: torch.nn.Module, paths: Sequence[str], preprocess: Callable, device: torch.device,
    batch_size: int = 256, workers: int | None = None, on_progress: Callable[[int, int], None] | None = None,
) -> tuple[Tensor, list[int], list[str]]:
    """L2-normalised embeddings of the readable images at ``paths``, their positions in ``paths``, and one line
    per file that could not be read (``<path>: cannot read the image (<why>)``).

    Files are decoded at the model's input size (:func:`engine.data.images.open_rgb`), by ``workers`` processes
    (None: :func:`decode_workers`; 0: a thread of this process) while the model encodes the previous batch.
    """
    workers = decode_workers(len(paths), batch_size) if workers is None else workers
    loader = DataLoader(_Images(paths, preprocess, model_image_size(encoder)), batch_size=batch_size,
                        num_workers=workers, collate_fn=_stack, pin_memory=device.type == "cuda")
    out: list[Tensor] = []
    kept: list[int] = []
    problems: list[str] = []
    done = 0
    batches = _prefetched(iter(loader)) if workers == 0 and len(paths) > batch_size else loader
    for start, (batch, good, errors) in zip(range(0, len(paths), batch_size), batches, strict=False):
        if batch is not None:
            out.append(encoder.encode_images(batch.to(device))[1].float().cpu())
            kept += [start + i for i in good]
        problems += errors
        done = min(done + batch_size, len(paths))
        if device.type == "cpu":
            trim_c_heap()
        mark("encode images (batch)", done=done, workers=workers)
        if on_progress:
            on_progress(done, len(paths))
    return (torch.cat(out) if out else torch.empty(0, encoder.embed_dim)), kept, problems


def _prefetched(batches: Iterator[T]) -> Iterator[T]:
    """``batches``, the next one made by a thread while the caller works on this one (Pillow's decoding and
    resizing and torch's kernels release the GIL)."""
    with ThreadPoolExecutor(1, thread_name_prefix="crossfold-decode") as pool:
        ahead = pool.submit(next, batches, _END)
        while (item := ahead.result()) is not _END:
            ahead = pool.submit(next, batches, _END)
            yield item  # type: ignore[misc]


def encode_images(
    encoder: torch.nn.Module, paths: Sequence[str], preprocess: Callable, device: torch.device,
    batch_size: int = 256, workers: int | None = None, on_progress: Callable[[int, int], None] | None = None,
) -> Tensor:
    """L2-normalised embeddings of every image at ``paths``, in order (:func:`encode_image_files`); a file that
    cannot be read raises :class:`CrossfoldError` naming it (evaluation needs every observation)."""
    emb, _, problems = encode_image_files(encoder, paths, preprocess, device, batch_size, workers, on_progress)
    if problems:
        raise CrossfoldError(problems[0])
    return emb


@torch.no_grad()
def encode_texts(
    encoder: torch.nn.Module, texts: Sequence[str], tokenizer: Callable, device: torch.device,
    batch_size: int = 512, on_progress: Callable[[int, int], None] | None = None,
) -> Tensor:
    out = []
    for start in range(0, len(texts), batch_size):
        tokens = tokenizer(list(texts[start : start + batch_size])).to(device)
        out.append(encoder.encode_texts(tokens)[1].float().cpu())
        mark("encode texts (batch)", done=min(start + batch_size, len(texts)))
        if on_progress:
            on_progress(min(start + batch_size, len(texts)), len(texts))
    return torch.cat(out) if out else torch.empty(0, encoder.embed_dim)


@torch.no_grad()
def pool_shapes(encoder: torch.nn.Module, view_emb: Tensor, view_items: Tensor) -> tuple[Tensor, Tensor]:
    """One embedding per item from all its views (items grouped by view count for the pooling)."""
    by_item: dict[int, list[int]] = defaultdict(list)
    for row, item in enumerate(view_items.tolist()):
        by_item[item].append(row)
    order = sorted(by_item)
    pooled = torch.empty(len(order), view_emb.shape[1])
    by_count: dict[int, list[int]] = defaultdict(list)
    for pos, item in enumerate(order):
        by_count[len(by_item[item])].append(pos)
    device = next(encoder.parameters()).device
    for _, positions in by_count.items():
        rows = torch.tensor([by_item[order[p]] for p in positions])
        pooled[positions] = encoder.pool_views(view_emb[rows].to(device)).float().cpu()
    return pooled, torch.tensor(order)


def encode_items(
    encoder: torch.nn.Module, kind: str, items: Sequence[ItemObservations], preprocess: Callable,
    tokenizer: Callable, device: torch.device, batch_size: int = 256,
) -> EncodedSplit:
    was_training = encoder.training
    encoder.eval()
    try:
        paths = [p for it in items for p in it.visuals]
        path_items = torch.tensor([it.item_id for it in items for _ in it.visuals])
        texts = [c for it in items for c in it.captions]
        text_items = torch.tensor([it.item_id for it in items for _ in it.captions])
        emb = {"image": encode_images(encoder, paths, preprocess, device, batch_size),
               "text": encode_texts(encoder, texts, tokenizer, device, batch_size * 2)}
        ids = {"image": path_items, "text": text_items}
        if kind == "shape-text":
            emb["shape"], ids["shape"] = pool_shapes(encoder, emb["image"], path_items)
        return EncodedSplit(emb, ids)
    finally:
        encoder.train(was_training)
