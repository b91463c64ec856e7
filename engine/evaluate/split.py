"""Evaluate an encoder on one split of a catalogue dataset with the papers' protocols.

Directions: text→V and V→text where V is ``shape`` (views pooled per item) for shape datasets and
``image`` otherwise, with every caption of an item a ground truth (multiple GT). Fused (GCL): the key
of item i is ``fuse(V_i, caption_i0)``; its queries are the item's *other* captions
(``text_to_V_text``), and a fused query ``fuse(V_i, caption_i0)`` retrieves other captions
(``V_text_to_text``); caption 0 is left out of both so no query contains its own key's text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch
from torch import Tensor

from engine.catalog import Catalog
from engine.data.multifold import EmptySplitError, ItemObservations, load_items, split_items
from engine.evaluate.encode import EncodedSplit, encode_items
from engine.evaluate.retrieval import evaluate_retrieval
from engine.metric_keys import direction_means, summary_metrics
from engine.models.fusion import fuse


def first_caption_mask(items: Tensor) -> Tensor:
    """True at the first caption row of every item (captions come grouped by item)."""
    mask = torch.ones_like(items, dtype=torch.bool)
    mask[1:] = items[1:] != items[:-1]
    return mask


def retrieval_metrics(encoded: EncodedSplit, visual: str) -> dict[str, float]:
    emb, ids = encoded.emb, encoded.items
    metrics = evaluate_retrieval(
        {"text": emb["text"], visual: emb[visual]}, {"text": ids["text"], visual: ids[visual]},
        directions=[("text", visual), (visual, "text")],
    )
    first = first_caption_mask(ids["text"])
    rest = ~first
    if rest.any():
        key_items = ids["text"][first]
        vis_rows = {int(i): r for r, i in enumerate(ids[visual].tolist())}
        v = emb[visual][[vis_rows[int(i)] for i in key_items.tolist()]]
        fused_name = f"{visual}_text"
        fused = {"text": emb["text"][rest], fused_name: fuse(v, emb["text"][first])}
        fused_ids = {"text": ids["text"][rest], fused_name: key_items}
        metrics.update(evaluate_retrieval(fused, fused_ids, directions=[("text", fused_name), (fused_name, "text")]))
    return with_means(metrics)


def with_means(metrics: dict[str, float]) -> dict[str, float]:
    """Recompute ``mean_<metric>`` over every direction present (the calls above each had their own)."""
    summary = summary_metrics(metrics)
    out = {k: v for k, v in metrics.items() if k not in summary}
    out.update(direction_means(out))
    return out


def remap_views(items: list[ItemObservations], view_map: dict[str, str]) -> list[ItemObservations]:
    """Items whose visuals are read from ``view_map``'s files where it has one."""
    return [replace(it, visuals=tuple(view_map.get(v, v) for v in it.visuals)) for it in items]


def evaluate_split(
    encoder: torch.nn.Module, catalog: Catalog, dataset: str, split: str, preprocess: Callable,
    tokenizer: Callable, device: torch.device, view_map: dict[str, str] | None = None,
) -> dict[str, float]:
    """Retrieval metrics of ``split``; ``view_map`` reads views from other files (the dataset's shapes rendered at
    the model's input size, :func:`engine.data.rendering.views_at_size`)."""
    kind, items = load_items(catalog, dataset, split)
    return _evaluate_items(encoder, kind, items, preprocess, tokenizer, device, view_map)


def _evaluate_items(
    encoder: torch.nn.Module, kind: str, items: list[ItemObservations], preprocess: Callable, tokenizer: Callable,
    device: torch.device, view_map: dict[str, str] | None,
) -> dict[str, float]:
    if view_map:
        items = remap_views(items, view_map)
    encoded = encode_items(encoder, kind, items, preprocess, tokenizer, device)
    return retrieval_metrics(encoded, "shape" if kind == "shape-text" else "image")


def visual_items(catalog: Catalog, dataset: str, split: str) -> tuple[str, list[ItemObservations]]:
    """The dataset's kind and the split's items with a visual observation, with or without captions;
    :class:`EmptySplitError` when there are none (a shape dataset not rendered yet)."""
    found = split_items(catalog, dataset, split, require_captions=False)
    if not found.items and not found.total:  # nothing rendered is not the reason: the split holds no item
        raise EmptySplitError(f"dataset {dataset!r} has no {split} items (each item's split is a hash of its key, "
                              "80/10/10): choose another split (`--split train`)")
    if not found.items:
        hint = " (render it first: `trainer render`)" if found.modality == "view" else ""
        raise EmptySplitError(f"dataset {dataset!r} has no {split} items with {found.modality}s{hint}")
    return found.kind, found.items


def evaluate_split_noted(
    encoder: torch.nn.Module, catalog: Catalog, dataset: str, split: str, preprocess: Callable,
    tokenizer: Callable, device: torch.device, view_map: dict[str, str] | None = None,
) -> tuple[dict[str, float], list[str]]:
    """:func:`evaluate_split` for ``trainer eval``, with notes for people: a split without captions has no
    caption-based direction to evaluate, so it gives no metrics and a note saying so (never a crash or a 0 %);
    items without captions are left out of the directions, and a note counts them."""
    kind, items = visual_items(catalog, dataset, split)
    captioned = [it for it in items if it.captions]
    if not captioned:
        return {}, [f"{dataset}/{split} has no captions: the caption directions (text <-> "
                    f"{'shape' if kind == 'shape-text' else 'image'}) are skipped; `trainer eval --by-category` "
                    "ranks items by their category instead"]
    notes = []
    if len(captioned) < len(items):
        notes.append(f"{len(items) - len(captioned)} of the {len(items)} {split} items have no captions: "
                     "left out of the caption directions")
    return _evaluate_items(encoder, kind, captioned, preprocess, tokenizer, device, view_map), notes
