"""Calibrated confidence of image, mesh and item queries (the same treatment as text: :mod:`engine.index.calibration`).

What is measurable for a picture as the query: the dataset's own items, each one a query by its vector as the
run's indexes hold it (an image query: one view or image of an item, from the ``image`` index; a mesh or item
query: the item's pooled shape, from the ``shape`` index, or its image where the dataset has no shapes), scored
against the target index with **the query's own item left out**. Its true matches are the items of the **same
category**, its non-matches those of other categories (items without a category are left out: nothing is known of
them). So an image query's confidence says how likely a hit is of the query's kind, measured as the text one is:
two distributions, their quantiles, the same widening by their uncertainty and the same minimum evidence. Query
items come only from the splits the run did not train on (:func:`engine.index.calibration.measured_splits`).

Without two categories nothing is measurable (a picture has no caption to match): :class:`NotCalibrated`, said so.
Fused queries (a picture with text) are not calibrated: no pairs of that kind exist to measure. Measuring needs
no encoder (every vector is in the indexes) and takes milliseconds: a search measures it on first use and keeps it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.index.ann import AnnIndex
from engine.index.calibration import (
    MAX_ITEMS,
    MAX_QUERIES,
    PICTURE_QUERIES,
    SEED,
    SHAPE_QUERIES,
    SPLITS,
    Calibration,
    NotCalibrated,
    distributions,
    has_id,
    split_label,
)

FUSED_REASON = "a picture with text (a fused query) is not calibrated: no pairs of that kind can be measured"


def measure_pictures(
    catalog: Any, dataset_id: int, target_modality: str, target: AnnIndex, queries: AnnIndex, query_modality: str,
    visual: str, splits: Sequence[str] = SPLITS, max_queries: int = MAX_QUERIES, max_items: int = MAX_ITEMS,
) -> Calibration | NotCalibrated:
    """Same-category vs other-category scores of the dataset's items as picture queries (module docstring).

    ``queries`` is the index the query vectors come from and ``query_modality`` its kind: ``shape`` (labels are
    items) or the visual observation modality ``view``/``image`` (one observation per item, its first);
    ``target_modality`` the target index's (``shape``, ``image`` or ``text``)."""
    categories = {i: c for c in catalog.categories(dataset_id) if c for i in catalog.item_ids(dataset_id, category=c)}
    if len(set(categories.values())) < 2:
        return NotCalibrated("picture queries are calibrated on the items' categories: "
                             + ("no categories" if not categories else "one category only"))
    rng = np.random.default_rng(SEED)
    untrained = {i for sp in splits for i in catalog.item_ids(dataset_id, sp)}
    q_labels, q_items = _labels(catalog, dataset_id, query_modality, queries, first_only=True)
    keep = np.array([int(i) in untrained and int(i) in categories for i in q_items], dtype=bool)
    q_labels, q_items = q_labels[keep], q_items[keep]
    if len(q_labels) == 0:
        return NotCalibrated(f"no items with a category in {split_label(splits)} to measure picture queries with")
    if len(q_labels) > max_queries:
        pick = np.sort(rng.choice(len(q_labels), max_queries, replace=False))
        q_labels, q_items = q_labels[pick], q_items[pick]

    labels, owners = _labels(catalog, dataset_id, "text" if target_modality == "text" else
                             ("shape" if target_modality == "shape" else visual), target, first_only=False)
    keep = np.array([int(i) in categories for i in owners], dtype=bool)
    labels, owners = labels[keep], owners[keep]
    others = np.setdiff1d(np.unique(owners), q_items)
    if len(others) > max_items:
        chosen = np.union1d(q_items, np.sort(rng.choice(others, max_items, replace=False)))
        keep = np.isin(owners, chosen)
        labels, owners = labels[keep], owners[keep]
    if len(labels) == 0:
        return NotCalibrated("no indexed items with a category")
    order = np.argsort(owners, kind="stable")
    labels, owners = labels[order], owners[order]
    scores = queries.vectors(q_labels) @ target.vectors(labels).T  # [q, labels]
    starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
    col_items = owners[starts]
    per_item = np.maximum.reduceat(scores, starts, axis=1)  # an item scores as its best observation
    per_item[q_items[:, None] == col_items[None, :]] = -np.inf  # the query's own item proves nothing
    q_cat = np.array([categories[int(i)] for i in q_items], dtype=object)
    col_cat = np.array([categories[int(i)] for i in col_items], dtype=object)
    source = SHAPE_QUERIES if query_modality == "shape" else PICTURE_QUERIES
    measured = distributions(per_item, q_cat[:, None] == col_cat[None, :], split_label(splits), len(q_labels),
                              source)
    if measured is None:
        return NotCalibrated("picture queries: no item has another of its category to match")
    short = measured.shortfall()
    return NotCalibrated(f"too few items with categories for picture queries: {short}") if short else measured


def _labels(catalog: Any, dataset_id: int, modality: str, index: AnnIndex,
            first_only: bool) -> tuple[np.ndarray, np.ndarray]:
    """An index's labels present in it and the item of each (a ``shape`` index's labels are items); with
    ``first_only`` one label per item (its first observation)."""
    present = index.ids()
    if modality == "shape":
        return present, present
    rows = [r for r in catalog.observations(dataset_id, modality) if has_id(present, r[0])]
    if first_only:  # rows come by item, then view: an item's first row is its first observation
        rows = [r for k, r in enumerate(rows) if k == 0 or rows[k - 1][1] != r[1]]
    return (np.array([r[0] for r in rows], dtype=np.int64), np.array([r[1] for r in rows], dtype=np.int64))

