"""The items of a split a run can use, read from the catalogue, and the rule for whether they are enough to train
on. Torch-free: the app's run form checks a dataset with it (on a worker) without loading torch, and
:mod:`engine.data.multifold` (the batches) and the training loop use the same functions.

An item trains when it has a visual observation (a view or an image) and at least one caption. A folder imported
without caption files gives items without captions: they can be searched with pretrained weights, not trained on,
so a split with too few captioned items for one batch is refused in one line that says the way out
(:func:`too_few_captioned`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

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
    category: str = ""  # the catalogue's category ("" when the item has none)


@dataclass(frozen=True)
class SplitItems:
    """The items of one split a run can use (a visual observation and a caption each), and how many it cannot
    use for want of a caption (``uncaptioned``: items of the split without one, e.g. from a folder imported
    without caption files)."""

    kind: str
    items: list[ItemObservations]
    uncaptioned: int
    total: int  # items of the split
    modality: str  # "view" or "image": the visual observations an item needs


def split_items(catalog: Catalog, dataset: str, split: str | None, require_captions: bool = True) -> SplitItems:
    """Items of one split that have at least one visual observation and one caption (perhaps no item); with
    ``require_captions=False`` (by-category evaluation, a split without captions) those without a caption too."""
    ds = catalog.require_dataset(dataset)
    modality = "view" if ds.kind == "shape-text" else "image"
    visuals: dict[int, list[str]] = defaultdict(list)
    captions: dict[int, list[str]] = defaultdict(list)
    for _, item_id, path, _ in catalog.observations(ds.id, modality, split):
        visuals[item_id].append(path)
    for _, item_id, text, _ in catalog.observations(ds.id, "text", split):
        captions[item_id].append(text)
    rows = {i.id: (i.key, i.category or "") for i in catalog.items(ds.id, split=split)}
    keys = {item_id: key for item_id, (key, _) in rows.items()}
    items = [
        ItemObservations(item_id, keys[item_id], tuple(visuals[item_id]), tuple(captions[item_id]), rows[item_id][1])
        for item_id in sorted(visuals)
        if (captions.get(item_id) or not require_captions) and item_id in keys
    ]
    uncaptioned = sum(1 for item_id in keys if not captions.get(item_id))
    return SplitItems(ds.kind, items, uncaptioned, len(keys), modality)


def load_items(catalog: Catalog, dataset: str, split: str | None) -> tuple[str, list[ItemObservations]]:
    """Items of one split that have at least one visual observation and one caption; EmptySplitError if none."""
    found = split_items(catalog, dataset, split)
    if not found.items:
        raise EmptySplitError(no_items_message(dataset, split, found))
    return found.kind, found.items


def no_items_message(dataset: str, split: str | None, found: SplitItems) -> str:
    """Why a split has no usable items: nothing captioned, or nothing rendered."""
    if found.uncaptioned and found.uncaptioned == found.total:
        return (f"dataset {dataset!r} has no {split or 'any'} items with captions ({found.uncaptioned} without); "
                "its items can be searched with pretrained weights (`trainer index --pretrained`), not trained on")
    hint = " (render it first: `trainer render`)" if found.modality == "view" else ""
    return f"dataset {dataset!r} has no {split or 'any'} items with {found.modality}s and captions{hint}"


def too_few_captioned(dataset: str, captioned: int, uncaptioned: int, batch: int, model: str,
                      pretrained: str | None) -> str | None:
    """The one-line refusal when items without captions leave fewer captioned training items than one batch
    (``batch``: items per optimiser step, over every process), naming the counts and the ways out (captions, or
    search with pretrained weights); None when training can go ahead. ``trainer train`` and the app's run form
    both ask it."""
    if not uncaptioned or captioned >= batch:
        return None
    return (f"dataset {dataset!r} has {captioned} training items with captions ({uncaptioned} without), fewer "
            f"than one batch of {batch}: give its items captions (a folder import: a same-stem .txt beside each "
            "file, then import again), or search it without training: "
            f"trainer index --model {model} --pretrained {pretrained or 'TAG|FILE'} --dataset {dataset}")
