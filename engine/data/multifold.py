"""Multifold batches: ``B`` items, each with ``V`` views (or images) and ``C`` captions.

Views and captions are sampled without replacement (with replacement only when an item has fewer),
deterministically from ``(seed, epoch, item index)``, so a resumed run sees exactly the batches the
uninterrupted run would have seen. The item id of every observation travels with it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler

from engine.catalog import Catalog
from engine.errors import CrossfoldError


class EmptySplitError(CrossfoldError):
    pass


@dataclass(frozen=True)
class ItemObservations:
    item_id: int
    key: str
    visuals: tuple[str, ...]  # view or image paths, in view order
    captions: tuple[str, ...]


def load_items(catalog: Catalog, dataset: str, split: str | None) -> tuple[str, list[ItemObservations]]:
    """Items of one split that have at least one visual observation and one caption."""
    ds = catalog.require_dataset(dataset)
    modality = "view" if ds.kind == "shape-text" else "image"
    visuals: dict[int, list[str]] = defaultdict(list)
    captions: dict[int, list[str]] = defaultdict(list)
    for _, item_id, path, _ in catalog.observations(ds.id, modality, split):
        visuals[item_id].append(path)
    for _, item_id, text, _ in catalog.observations(ds.id, "text", split):
        captions[item_id].append(text)
    keys = {i.id: i.key for i in catalog.items(ds.id, split=split)}
    items = [
        ItemObservations(item_id, keys[item_id], tuple(visuals[item_id]), tuple(captions[item_id]))
        for item_id in sorted(visuals)
        if captions.get(item_id) and item_id in keys
    ]
    if not items:
        hint = " (render it first: `trainer render`)" if modality == "view" else ""
        raise EmptySplitError(f"dataset {dataset!r} has no {split or 'any'} items with {modality}s and captions{hint}")
    return ds.kind, items


def choose(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """``k`` indices out of ``n``: without replacement when possible."""
    if n >= k:
        return rng.choice(n, size=k, replace=False)
    return np.concatenate([rng.permutation(n), rng.choice(n, size=k - n, replace=True)])


class MultifoldDataset(Dataset):
    """One item per index: ``images [V,3,H,W]``, ``tokens [C,L]``, ``item`` (catalogue id)."""

    def __init__(
        self,
        items: Sequence[ItemObservations],
        views_per_item: int,
        captions_per_item: int,
        preprocess: Callable[[Image.Image], torch.Tensor],
        tokenizer: Callable[[list[str]], torch.Tensor],
        seed: int = 0,
    ) -> None:
        self.items = list(items)
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

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = self.items[index]
        rng = np.random.default_rng((self.seed, self.epoch, index))
        views = [item.visuals[i] for i in choose(rng, len(item.visuals), self.views)]
        caps = [item.captions[i] for i in choose(rng, len(item.captions), self.captions)]
        images = torch.stack([self.preprocess(_open_rgb(p)) for p in views])
        return {"images": images, "tokens": self.tokenizer(caps), "item": torch.tensor(item.item_id)}


def _open_rgb(path: str) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


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

    def __iter__(self) -> Iterator[list[int]]:
        if self.shuffle:
            order = np.random.default_rng((self.seed, self.epoch, 7)).permutation(self.n_items)
        else:
            order = np.arange(self.n_items)
        g = self.batch_size * self.world_size
        for b in range(self.start_batch, self.n_items // g):
            chunk = order[b * g : (b + 1) * g]
            yield chunk[self.rank * self.batch_size : (self.rank + 1) * self.batch_size].tolist()


def collate(samples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {
        "images": torch.stack([s["images"] for s in samples]),
        "tokens": torch.stack([s["tokens"] for s in samples]),
        "item": torch.stack([s["item"] for s in samples]),
    }
