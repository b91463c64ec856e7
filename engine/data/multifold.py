"""Multifold batches: ``B`` items, each with ``V`` views (or images) and ``C`` captions.

Views and captions are sampled without replacement (with replacement only when an item has fewer),
deterministically from ``(seed, epoch, item index)``, so a resumed run sees exactly the batches the
uninterrupted run would have seen. The item id of every observation travels with it.

Pixels come from the image files (decoded and preprocessed per view: float ``[V, 3, H, W]``) or from the
packed store (:mod:`engine.data.packed`: uint8 ``[V, H, W, 3]`` read from a memory map, normalised later by
the store's :class:`~engine.data.packed.PixelNormalizer`, on the training device). A training reads every
remaining batch of the run through one long-lived loader: :class:`RunBatchSampler` yields the batches of all
epochs from the resume step on, as ``(epoch, item index)`` keys, so worker processes need no epoch updates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler

from engine.data.images import open_rgb
from engine.data.items import EmptySplitError as EmptySplitError  # re-exported: the split's items live there
from engine.data.items import ItemObservations as ItemObservations
from engine.data.items import SplitItems as SplitItems
from engine.data.items import load_items as load_items
from engine.data.items import no_items_message as no_items_message
from engine.data.items import split_items as split_items
from engine.data.packed import PackedStore


def choose(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """``k`` indices out of ``n``: without replacement when possible."""
    if n >= k:
        return rng.choice(n, size=k, replace=False)
    return np.concatenate([rng.permutation(n), rng.choice(n, size=k - n, replace=True)])


class MultifoldDataset(Dataset):
    """One item per index: ``images [V,3,H,W]`` (float; uint8 ``[V,H,W,3]`` from a packed ``store``),
    ``tokens [C,L]``, ``item`` (catalogue id).

    An index is an item index (sampled with the epoch of :meth:`set_epoch`) or an ``(epoch, item index)`` pair.
    """

    def __init__(
        self,
        items: Sequence[ItemObservations],
        views_per_item: int,
        captions_per_item: int,
        preprocess: Callable[[Image.Image], torch.Tensor],
        tokenizer: Callable[[list[str]], torch.Tensor],
        seed: int = 0,
        store: PackedStore | None = None,
        decode_size: int | None = None,
    ) -> None:
        self.items = list(items)
        self.decode_size = decode_size  # the model's input size: JPEGs are decoded no larger than it needs
        self.store = store
        self.views = views_per_item
        self.captions = captions_per_item
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        item = self.items[index]
        rng = np.random.default_rng((self.seed, epoch, index))
        views = [item.visuals[i] for i in choose(rng, len(item.visuals), self.views)]
        caps = [item.captions[i] for i in choose(rng, len(item.captions), self.captions)]
        if self.store is not None:
            images = torch.from_numpy(self.store.read(views))
        else:
            images = torch.stack([self.preprocess(open_rgb(p, self.decode_size)) for p in views])
        return {"images": images, "tokens": self.tokenizer(caps), "item": torch.tensor(item.item_id)}


class MultifoldBatchSampler(Sampler[list[int]]):
    """Batches of ``batch_size`` distinct items; shuffled per epoch from the seed; sharded by rank.

    Every rank gets ``batch_size`` items of the same global batch of ``batch_size * world_size``
    items; ``start_batch`` skips batches already done (exact resume).
    """

    def __init__(
        self, n_items: int, batch_size: int, seed: int = 0, rank: int = 0, world_size: int = 1,
        shuffle: bool = True,
    ) -> None:
        global_batch = batch_size * world_size
        if n_items < global_batch:
            raise EmptySplitError(
                f"{n_items} items cannot fill one batch of {batch_size} x {world_size} processes; "
                "lower --batch-size"
            )
        self.n_items, self.batch_size, self.seed = n_items, batch_size, seed
        self.rank, self.world_size, self.shuffle = rank, world_size, shuffle
        self.epoch = 0
        self.start_batch = 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch, self.start_batch = epoch, start_batch

    def __len__(self) -> int:
        return self.n_items // (self.batch_size * self.world_size) - self.start_batch

    @property
    def batches_per_epoch(self) -> int:
        return self.n_items // (self.batch_size * self.world_size)

    def order(self, epoch: int) -> np.ndarray:
        if self.shuffle:
            return np.random.default_rng((self.seed, epoch, 7)).permutation(self.n_items)
        return np.arange(self.n_items)

    def batch(self, order: np.ndarray, b: int) -> list[int]:
        """This rank's share of global batch ``b`` of an epoch's ``order``."""
        g = self.batch_size * self.world_size
        chunk = order[b * g : (b + 1) * g]
        return chunk[self.rank * self.batch_size : (self.rank + 1) * self.batch_size].tolist()

    def __iter__(self) -> Iterator[list[int]]:
        order = self.order(self.epoch)
        for b in range(self.start_batch, self.batches_per_epoch):
            yield self.batch(order, b)


class RunBatchSampler(Sampler[list[tuple[int, int]]]):
    """The batches of steps ``start_step`` to ``total_steps`` of a run, across epochs: ``(epoch, item)`` keys.

    Step ``s`` is batch ``s % per_epoch`` of epoch ``s // per_epoch`` of ``epochs`` (a
    :class:`MultifoldBatchSampler`): the same batches as one fresh sampler per epoch, so a run resumed at any
    step continues exactly; one loader iterator serves the whole run (workers stay, prefetch crosses epochs).
    """

    def __init__(self, epochs: MultifoldBatchSampler, start_step: int, total_steps: int) -> None:
        self.epochs, self.start_step, self.total_steps = epochs, start_step, total_steps

    def __len__(self) -> int:
        return max(0, self.total_steps - self.start_step)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        per_epoch = self.epochs.batches_per_epoch
        epoch, order = -1, np.empty(0, dtype=np.int64)
        for step in range(self.start_step, self.total_steps):
            e, b = divmod(step, per_epoch)
            if e != epoch:
                epoch, order = e, self.epochs.order(e)
            yield [(e, i) for i in self.epochs.batch(order, b)]


def collate(samples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {
        "images": torch.stack([s["images"] for s in samples]),
        "tokens": torch.stack([s["tokens"] for s in samples]),
        "item": torch.stack([s["item"] for s in samples]),
    }
