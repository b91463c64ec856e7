"""Calibrated confidence of text-query scores, per run, dataset and target index.

A raw cosine means little by itself (its scale differs from run to run and target to target). When a run's index is
built we measure, with the run's own vectors, the score distribution of **true matches** (captions of the ``val``
split against their own item: see *Splits*) and of **non-matches** (the same captions against other items: all of
them, or a seeded sample of :data:`MAX_ITEMS`). Items score as their best observation, as searches fold them. For
the ``text`` target (captions), a caption never matches itself: its item's *other* captions are its true matches,
and captions of other items with the very same words are left out of the non-matches (they are not a confusion).

**Splits**: only captions of items the run did not train on are measured. A zero-shot run (kind ``pretrained``), or
a run trained on another dataset, trained on none of them: every split may be measured; a run trained on this
dataset only its ``val`` and ``test`` splits. The ``val`` split alone is measured when it holds at least
:data:`MIN_QUERIES` captions; where captions are fewer, every split the run may be measured on is pooled
(``split`` then reads ``val+test+train``), never its training split.

The two distributions are kept as :data:`LEVELS` quantiles in a JSON file beside the index
(``<index>.calibration.json``, written atomically), with the checksums of the two index files it was
measured on: a file whose checksums no longer match the catalogue is stale and is measured again.

Confidence of a score ``s``: with ``F_n`` the non-matches' CDF and ``F_m`` the matches' CDF,
``a = F_n(s)`` (non-matches below ``s``) and ``b = 1 - F_m(s)`` (matches above ``s``):

* ``a / (a + b)``, the score's position between the two distributions: 0 below every non-match, 1 above
  every match, 0.5 where the score is as unusual for a non-match as for a match;
* capped by ``g(F_b(s))``, with ``F_b`` the CDF of each measured caption's **best non-match** (the highest
  score among the items it does not describe) and ``g`` mapping its 5th percentile (:data:`CONFIDENT_QUANTILE`)
  to 0.5, linear on both sides. A search returns the best of many items, so a single non-match is the wrong
  yardstick for a top hit (the best of 600 unrelated items beats the 95th percentile of one nearly always); the
  right one is what a real caption's best *wrong* item scores;
* and capped by the same map of ``a`` at the single non-matches' 95th percentile (:data:`NONMATCH_QUANTILE`).

All parts rise with ``s``, so the confidence is monotone. A result is *confident* when its top hit scores above
both thresholds (the larger decides). The first says: a query whose best item scores lower than the best wrong
item of 95 % of real captions describes no item better than chance does (on the demo shapes run: nonsense
queries' top hits 0.54-0.67, that threshold 0.71, real captions' top hits 0.78-0.92); the second holds where few
captions were measured (a small val split).

**Uncertainty**: the quantiles rest on a finite number of pairs, so every CDF above is taken at the lower end of
its one-sided 95 % Wilson score interval (:mod:`engine.index.calibration_bands`), with ``n`` the matching pairs,
non-matching pairs and queries that distribution was measured on, and the two thresholds at the matching upper
ends of their quantiles. The confidence shown is thus the cautious end of what the evidence supports: fewer pairs,
a wider band, a lower confidence for the same score, and never 100 % from a handful of captions.

**Category prompts** stand in for captions where a dataset has too few of them (fewer than :data:`MIN_QUERIES`
in every split: a folder of photos or meshes as it comes) but its items have categories (at least two): each
category's prompt texts (the templates of :mod:`engine.evaluate.categories`, handed in by the caller as
:class:`CategoryPrompts`, since this package must not import ``evaluate``) are queries whose true matches are the
items of that category and whose non-matches are the items of the other categories (items without a category are
left out: nothing is known of them). The calibration records its ``source`` (``captions`` or ``category prompts``)
and how many queries, matching and non-matching pairs it rests on.

A confidence is given only where it rests on enough evidence: at least :data:`MIN_QUERIES` queries,
:data:`MIN_MATCH_PAIRS` matching and :data:`MIN_NONMATCH_PAIRS` non-matching pairs. Otherwise nothing is stored
and :func:`calibrate` answers :class:`NotCalibrated` with the reason in one line (``the dataset's items have no
captions and no categories``): hits carry no confidence, never a made-up one.

Indexes built before this existed have no calibration file: :func:`ensure` measures it on first use (a
search, on a worker: no encoder is needed for captions, their vectors come from the run's ``text`` index; category
prompts are encoded by the :class:`CategoryPrompts` the caller hands in).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from engine.atomic import write_atomic
from engine.catalog.models import PRETRAINED_RUN
from engine.index import registry
from engine.index.ann import AnnIndex
from engine.index.calibration_bands import BAND_LEVEL, cdf_low, level_high
from engine.index.errors import MissingIndexError, StaleIndexError

LEVELS = 101  # quantiles 0, 1, ..., 100 %
MAX_QUERIES = 256  # captions measured
MAX_ITEMS = 2048  # other items each caption is scored against (a seeded sample beyond this)
CONFIDENT_QUANTILE = 0.05  # a top hit above this quantile of the best non-matches is a confident result...
NONMATCH_QUANTILE = 0.95  # ... and above this quantile of single non-matches
SPLITS = ("val", "test", "train")  # in the order they are preferred
TRAIN_SPLIT = "train"  # the split a run trains on (never measured for a run trained on that dataset)
SUFFIX = ".calibration.json"
VERSION = 3  # 2: the best non-match per caption; 3: never the training split, few captions pooled
SEED = 0
MIN_QUERIES = 8  # the least evidence a calibration may rest on: queries measured...
MIN_MATCH_PAIRS = 8  # ... (query, matching item) pairs ...
MIN_NONMATCH_PAIRS = 100  # ... and (query, other item) pairs
CAPTIONS = "captions"  # the sources a calibration is measured on
CATEGORY_PROMPTS = "category prompts"
PICTURE_QUERIES = "item pictures"  # image queries (engine.index.calibration_pictures)
SHAPE_QUERIES = "item shapes"  # mesh and item queries: pooled views


def path_for(index_path: str | os.PathLike[str]) -> Path:
    p = Path(index_path)
    return p.with_name(p.name + SUFFIX)


@dataclass(frozen=True)
class Calibration:
    """Quantiles (``LEVELS`` of them, ascending) of true-match and non-match scores."""

    match: np.ndarray
    nonmatch: np.ndarray
    best_nonmatch: np.ndarray  # per measured caption, the highest score of an item it does not describe
    split: str
    queries: int
    nonmatch_pairs: int
    sources: dict[str, str]  # "target"/"text" -> the index file's sha256 it was measured on ("prompts": their hash)
    source: str = CAPTIONS  # what the queries were: the dataset's captions, or its category prompts
    match_pairs: int = 0  # (query, matching item) pairs measured

    @property
    def threshold(self) -> float:
        """The score a top hit must beat to be confident: the best non-matches' 5th percentile, and at least the
        single non-matches' 95th, each at the upper end of its band (module docstring)."""
        return max(_cautious_quantile(self.best_nonmatch, CONFIDENT_QUANTILE, self.queries),
                   _cautious_quantile(self.nonmatch, NONMATCH_QUANTILE, self.nonmatch_pairs))

    def confidence(self, scores: Any) -> np.ndarray:
        """P(match | score) from the two empirical CDFs (equal priors), each at the cautious end of its band, in
        [0, 1), monotone in the score."""
        s = np.asarray(scores, dtype=np.float64)
        a = cdf_low(_cdf(self.nonmatch, s), self.nonmatch_pairs)  # fewest non-matches below s
        b = 1.0 - cdf_low(_cdf(self.match, s), self.match_pairs)  # most matches above s
        total = a + b
        between = np.where(total > 0, a / np.where(total > 0, total, 1.0), 0.5)
        best = cdf_low(_cdf(self.best_nonmatch, s), self.queries)
        rarity = np.minimum(_half_at(best, CONFIDENT_QUANTILE), _half_at(a, NONMATCH_QUANTILE))  # 0.5 at threshold
        return np.clip(np.minimum(between, rarity), 0.0, 1.0)

    def confident(self, top_score: float | None) -> bool:
        return top_score is not None and float(top_score) > self.threshold

    def as_dict(self) -> dict[str, Any]:
        return {"version": VERSION, "split": self.split, "queries": self.queries,
                "nonmatch_pairs": self.nonmatch_pairs, "sources": self.sources, "source": self.source,
                "match_pairs": self.match_pairs,
                "match": [round(float(x), 6) for x in self.match],
                "nonmatch": [round(float(x), 6) for x in self.nonmatch],
                "best_nonmatch": [round(float(x), 6) for x in self.best_nonmatch]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibration:
        match = np.asarray(d["match"], dtype=np.float64)
        nonmatch = np.asarray(d["nonmatch"], dtype=np.float64)
        best = np.asarray(d["best_nonmatch"], dtype=np.float64)
        if int(d.get("version", 0)) != VERSION or {match.shape, nonmatch.shape, best.shape} != {(LEVELS,)}:
            raise ValueError("not a calibration of this version")
        return cls(match, nonmatch, best, str(d["split"]), int(d["queries"]), int(d["nonmatch_pairs"]),
                   dict(d.get("sources") or {}), str(d.get("source", CAPTIONS)), int(d.get("match_pairs", 0)))

    def summary(self) -> dict[str, Any]:
        """What a search result and an index report say of it: source, split, evidence, threshold."""
        threshold = self.threshold
        return {"source": self.source, "split": self.split, "queries": self.queries, "match_pairs": self.match_pairs,
                "nonmatch_pairs": self.nonmatch_pairs,
                "threshold": round(threshold, 4) if np.isfinite(threshold) else None}

    def shortfall(self) -> str | None:
        """Why this measurement is too little evidence for a confidence, or None when it is enough."""
        needs = ((self.queries, MIN_QUERIES, "queries"), (self.match_pairs, MIN_MATCH_PAIRS, "matching pairs"),
                 (self.nonmatch_pairs, MIN_NONMATCH_PAIRS, "non-matching pairs"))
        short = [f"{have} {what} ({need} needed)" for have, need, what in needs if have < need]
        return "only " + ", ".join(short) if short else None


@dataclass(frozen=True)
class NotCalibrated:
    """No calibration for an index: hits carry no confidence; ``reason`` says why in one line."""

    reason: str


@dataclass(frozen=True)
class CategoryPrompts:
    """Category prompts as calibration queries, from the layer above: ``texts(category)`` its prompt texts (the
    default templates of :mod:`engine.evaluate.categories` filled with its label), ``embed(texts)`` their vectors
    as the run's text index holds them (``[n, d]``, rows in order)."""

    texts: Callable[[str], list[str]]
    embed: Callable[[list[str]], np.ndarray]


def _cautious_quantile(quantiles: np.ndarray, p: float, n: int) -> float:
    """The score whose cautious CDF (:func:`cdf_low` on ``n`` pairs) reaches ``p``; infinite where even the highest
    score's does not (too few pairs to say)."""
    if float(cdf_low(np.array(1.0), n)) < p:
        return float("inf")
    return float(np.interp(level_high(p, n), _levels(), np.maximum.accumulate(quantiles)))


def _half_at(f: np.ndarray, p: float) -> np.ndarray:
    """A CDF value mapped to [0, 1] so that ``p`` becomes 0.5, linear on both sides."""
    return np.where(f <= p, 0.5 * f / p, 0.5 + 0.5 * (f - p) / (1.0 - p))


def _levels() -> np.ndarray:
    return np.linspace(0.0, 1.0, LEVELS)


def _cdf(quantiles: np.ndarray, s: np.ndarray) -> np.ndarray:
    """The empirical CDF through its quantiles (linear between them; 0 below the least, 1 above the most)."""
    q = np.maximum.accumulate(quantiles)
    return np.interp(s, q, _levels(), left=0.0, right=1.0)


# ---- measure --------------------------------------------------------------------------------------------------
def measured_splits(catalog: Any, run_id: int, dataset_id: int) -> tuple[str, ...]:
    """The splits of ``dataset_id`` a calibration of the run may measure: every split for a zero-shot run or a run
    trained on another dataset, all but the training split for a run trained on this one."""
    run = next((r for r in catalog.runs() if r.id == run_id), None)
    if run is None or run.kind == PRETRAINED_RUN or run.dataset_id != dataset_id:
        return SPLITS
    return tuple(s for s in SPLITS if s != TRAIN_SPLIT)


def query_splits(found: Sequence[tuple[str, list[Any]]]) -> tuple[str, list[Any]]:
    """Of the queries found per split (in :data:`SPLITS` order), those measured: the first split's alone when it
    holds :data:`MIN_QUERIES`, else all of them pooled; with the splits they come from (``val+test``)."""
    if not found:
        return "", []
    if len(found[0][1]) >= MIN_QUERIES:
        return found[0][0], list(found[0][1])
    pooled = [(sp, q) for sp, q in found if q]
    return "+".join(sp for sp, _ in pooled), [x for _, q in pooled for x in q]


def measure(
    catalog: Any, dataset_id: int, modality: str, target: AnnIndex, text: AnnIndex, visual: str,
    max_queries: int = MAX_QUERIES, max_items: int = MAX_ITEMS, splits: Sequence[str] = SPLITS,
) -> Calibration | None:
    """Score distributions of captions against the ``target`` index (``modality`` shape, image or text).

    ``text`` is the run's caption index (the query vectors); ``visual`` the observation modality behind an
    image index (``view`` or ``image``); ``splits`` those the run did not train on (:func:`measured_splits`). None
    when there are no captions to measure with."""
    rng = np.random.default_rng(SEED)
    in_text = text.ids()
    found = [(sp, [(r[0], r[1], r[2]) for r in catalog.observations(dataset_id, "text", sp) if has_id(in_text, r[0])])
             for sp in SPLITS if sp in splits]
    split, queries = query_splits(found)
    if not queries:
        return None
    if len(queries) > max_queries:
        pick = np.sort(rng.choice(len(queries), max_queries, replace=False))
        queries = [queries[i] for i in pick]
    q_obs = np.array([q[0] for q in queries], dtype=np.int64)
    q_item = np.array([q[1] for q in queries], dtype=np.int64)
    qv = text.vectors(q_obs)

    # target labels -> items
    if modality == "shape":
        labels = target.ids()
        owners = labels
    else:
        obs_modality = "text" if modality == "text" else visual
        present = target.ids()
        pairs = [r for r in catalog.observations(dataset_id, obs_modality) if has_id(present, r[0])]
        labels = np.array([r[0] for r in pairs], dtype=np.int64)
        owners = np.array([r[1] for r in pairs], dtype=np.int64)
        if modality == "text":  # caption text per label: a caption is no match or non-match of its own words
            words = {r[0]: r[2] for r in pairs}
    items = np.unique(owners)
    own = np.unique(q_item)
    others = np.setdiff1d(items, own)
    if len(others) > max_items:
        others = np.sort(rng.choice(others, max_items, replace=False))
    chosen = np.union1d(own, others)
    keep = np.isin(owners, chosen)
    labels, owners = labels[keep], owners[keep]
    order = np.argsort(owners, kind="stable")
    labels, owners = labels[order], owners[order]
    if len(labels) == 0:
        return None
    scores = qv @ target.vectors(labels).T  # [q, labels]
    if modality == "text":  # a caption (or another item's caption of the very same words) proves nothing
        codes: dict[str, int] = {}
        label_words = np.array([codes.setdefault(words[int(lab)], len(codes)) for lab in labels])
        query_words = np.array([codes.setdefault(q[2], len(codes)) for q in queries])
        scores[query_words[:, None] == label_words[None, :]] = -np.inf
    starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
    col_items = owners[starts]
    per_item = np.maximum.reduceat(scores, starts, axis=1)  # [q, items]: an item scores as its best observation
    return distributions(per_item, q_item[:, None] == col_items[None, :], split, len(queries), CAPTIONS)


def distributions(per_item: np.ndarray, is_own: np.ndarray, split: str, queries: int,
                   source: str) -> Calibration | None:
    """The calibration of item scores ``[q, items]`` whose true matches ``is_own`` marks (None when a side is
    empty)."""
    match = per_item[is_own]
    nonmatch = per_item[~is_own]
    best = np.where(is_own, -np.inf, per_item).max(axis=1)  # each query's best wrong item
    match, nonmatch, best = match[np.isfinite(match)], nonmatch[np.isfinite(nonmatch)], best[np.isfinite(best)]
    if len(match) == 0 or len(nonmatch) == 0 or len(best) == 0:
        return None
    return Calibration(np.quantile(match, _levels()), np.quantile(nonmatch, _levels()), np.quantile(best, _levels()),
                       split, queries, int(nonmatch.size), {}, source, int(match.size))


def _target_owners(catalog: Any, dataset_id: int, modality: str, target: AnnIndex,
                   visual: str) -> tuple[np.ndarray, np.ndarray]:
    """The target index's labels and the item of each (a shape index's labels are items)."""
    if modality == "shape":
        labels = target.ids()
        return labels, labels
    present = target.ids()
    pairs = [r for r in catalog.observations(dataset_id, visual) if has_id(present, r[0])]
    return (np.array([r[0] for r in pairs], dtype=np.int64), np.array([r[1] for r in pairs], dtype=np.int64))


def category_evidence(catalog: Any, dataset_id: int, templates: int) -> tuple[dict[int, str], str | None]:
    """The items with a category (item id -> category) and, when category prompts (``templates`` per category) could
    not give enough evidence, why (None when they could)."""
    categories = [c for c in catalog.categories(dataset_id) if c]
    if not categories:
        return {}, "no categories"
    if len(categories) < 2:
        return {}, f"one category ({categories[0]!r}): prompts need at least 2"
    labelled = {i: c for c in categories for i in catalog.item_ids(dataset_id, category=c)}
    sizes = [sum(1 for v in labelled.values() if v == c) for c in categories]
    queries = min(len(categories), max(1, MAX_QUERIES // max(templates, 1))) * templates
    matches = templates * sum(sizes)
    nonmatches = templates * sum(n * (len(labelled) - n) for n in sizes)
    short = [f"{have} {what} ({need} needed)" for have, need, what in (
        (queries, MIN_QUERIES, "category prompts"), (matches, MIN_MATCH_PAIRS, "matching pairs"),
        (nonmatches, MIN_NONMATCH_PAIRS, "non-matching pairs")) if have < need]
    return labelled, ("categories too small: " + ", ".join(short)) if short else None


def measure_categories(
    catalog: Any, dataset_id: int, modality: str, target: AnnIndex, visual: str, prompts: CategoryPrompts,
    max_queries: int = MAX_QUERIES, max_items: int = MAX_ITEMS, splits: Sequence[str] = SPLITS,
) -> Calibration | None:
    """Score distributions of category prompts against the ``target`` index (``shape`` or ``image``): each prompt
    text of a category is a query, the items of that category (in ``splits``: those the run did not train on) its
    true matches, those of other categories its non-matches. None for the ``text`` target or without two categories
    of items in the index."""
    if modality == "text":
        return None
    rng = np.random.default_rng(SEED)
    categories = sorted({c for c in catalog.categories(dataset_id) if c})
    per_category = [prompts.texts(c) for c in categories]
    templates = max((len(t) for t in per_category), default=0)
    labelled, _ = category_evidence(catalog, dataset_id, templates)
    if tuple(splits) != SPLITS:
        untrained = {i for sp in splits for i in catalog.item_ids(dataset_id, sp)}
        labelled = {i: c for i, c in labelled.items() if i in untrained}
    labels, owners = _target_owners(catalog, dataset_id, modality, target, visual)
    keep = np.isin(owners, np.fromiter(labelled, dtype=np.int64, count=len(labelled)))
    labels, owners = labels[keep], owners[keep]
    items = np.unique(owners)
    if len(items) > max_items:
        items = np.sort(rng.choice(items, max_items, replace=False))
        keep = np.isin(owners, items)
        labels, owners = labels[keep], owners[keep]
    present = sorted({labelled[int(i)] for i in items})
    if len(present) < 2:
        return None
    limit = max(1, max_queries // max(templates, 1))
    if len(present) > limit:  # a seeded sample of categories, all of each one's prompts
        present = [present[i] for i in np.sort(rng.choice(len(present), limit, replace=False))]
    texts = [(c, t) for c in present for t in prompts.texts(c)]
    qv = np.asarray(prompts.embed([t for _, t in texts]), dtype=np.float32)
    order = np.argsort(owners, kind="stable")
    labels, owners = labels[order], owners[order]
    scores = qv @ target.vectors(labels).T
    starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
    col_categories = np.array([labelled[int(i)] for i in owners[starts]], dtype=object)
    per_item = np.maximum.reduceat(scores, starts, axis=1)
    is_own = np.array([c for c, _ in texts], dtype=object)[:, None] == col_categories[None, :]
    return distributions(per_item, is_own.astype(bool), split_label(splits), len(texts), CATEGORY_PROMPTS)


def split_label(splits: Sequence[str]) -> str:
    """``all`` for every split, else the splits joined (``val+test``)."""
    return "all" if tuple(splits) == SPLITS else "+".join(splits)


def prompts_hash(catalog: Any, dataset_id: int, prompts: CategoryPrompts) -> str:
    """What a category calibration depends on besides the index: the categories, their prompts and items."""
    h = hashlib.sha256()
    for c in sorted(c for c in catalog.categories(dataset_id) if c):
        h.update(json.dumps([c, prompts.texts(c), catalog.item_ids(dataset_id, category=c)]).encode())
    return h.hexdigest()


def has_id(sorted_ids: np.ndarray, value: int) -> bool:
    i = int(np.searchsorted(sorted_ids, value))
    return i < len(sorted_ids) and int(sorted_ids[i]) == value


# ---- store ----------------------------------------------------------------------------------------------------
def save(calibration: Calibration, index_path: str | os.PathLike[str]) -> Path:
    """Write ``<index>.calibration.json`` atomically (temporary file in the same folder, then rename)."""
    return write_atomic(path_for(index_path), json.dumps(calibration.as_dict()))


def load(index_path: str | os.PathLike[str]) -> Calibration | None:
    """The stored calibration beside an index, or None (none, unreadable, or of another version)."""
    try:
        with open(path_for(index_path), encoding="utf-8") as f:
            return Calibration.from_dict(json.load(f))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _sha(row: Any) -> str:
    return str((row.params or {}).get("file_sha256", ""))


def calibrate(
    catalog: Any, run_id: int, dataset_id: int, modality: str, visual: str, checkpoint_sha256: str | None,
    target: AnnIndex | None = None, text: AnnIndex | None = None, prompts: CategoryPrompts | None = None,
    remeasure: bool = False,
) -> Calibration | NotCalibrated:
    """The calibration of (run, dataset, target modality): the stored one if it was measured on the current
    index files (and category prompts), else measured now (opening the indexes unless given) and stored: on the
    dataset's captions, else on its category ``prompts`` (module docstring); :class:`NotCalibrated` with the reason
    when neither gives enough evidence (a stored file that no longer holds is then removed)."""
    target_row = registry.find(catalog, run_id, dataset_id, modality)
    if target_row is None:
        return NotCalibrated(f"no {modality} index")
    text_row = registry.find(catalog, run_id, dataset_id, "text")
    splits = measured_splits(catalog, run_id, dataset_id)
    captions = {"target": _sha(target_row), "text": _sha(text_row) if text_row is not None else "",
                "splits": split_label(splits)}
    use_prompts = prompts is not None and modality != "text"

    def by_prompts() -> dict[str, str] | None:  # asked only where prompts matter (one catalogue query a category)
        return {**captions, "prompts": prompts_hash(catalog, dataset_id, prompts)} if use_prompts else None

    if not remeasure:
        stored = load(target_row.path)
        if stored is not None and stored.shortfall() is None and stored.sources == (
                captions if stored.source == CAPTIONS else by_prompts()):
            return stored  # (a file written before evidence was counted is measured again, once)
    reasons = []
    measured = None
    if text_row is not None:
        with contextlib.suppress(MissingIndexError, StaleIndexError):  # no usable caption index: no captions
            if target is None:
                target = registry.open_index(catalog, run_id, dataset_id, modality, checkpoint_sha256)
            if text is None:
                text = target if modality == "text" else registry.open_index(catalog, run_id, dataset_id, "text",
                                                                                checkpoint_sha256)
    if text is not None and target is not None and text.count:
        measured = measure(catalog, dataset_id, modality, target, text, visual, splits=splits)
    untrained = "" if splits == SPLITS else f" in {' or '.join(splits)} (the run trained on {TRAIN_SPLIT})"
    short = f"no captions{untrained}" if measured is None else measured.shortfall()
    sources: dict[str, str] | None = captions
    if short is not None:
        reasons.append(short if measured is None else f"too few captioned {measured.split} items: {short}")
        measured, sources = None, by_prompts()
        if use_prompts and prompts is not None:
            measured, why = _by_categories(catalog, run_id, dataset_id, modality, target, visual, prompts,
                                           checkpoint_sha256, splits)
            reasons.append(why or "")
    if measured is None or sources is None:
        with contextlib.suppress(OSError):
            path_for(target_row.path).unlink(missing_ok=True)
        return NotCalibrated(" and ".join(r for r in reasons if r))
    calibration = replace(measured, sources=sources)
    with contextlib.suppress(OSError):  # a read-only workspace: measured again next time
        save(calibration, target_row.path)
    return calibration


def _by_categories(
    catalog: Any, run_id: int, dataset_id: int, modality: str, target: AnnIndex | None, visual: str,
    prompts: CategoryPrompts, checkpoint_sha256: str | None, splits: Sequence[str] = SPLITS,
) -> tuple[Calibration | None, str | None]:
    """A calibration on category prompts, or None and why not."""
    categories = [c for c in catalog.categories(dataset_id) if c]
    templates = max((len(prompts.texts(c)) for c in categories), default=0)
    _, why = category_evidence(catalog, dataset_id, templates)
    if why is not None:
        return None, why
    if target is None:
        target = registry.open_index(catalog, run_id, dataset_id, modality, checkpoint_sha256)
    measured = measure_categories(catalog, dataset_id, modality, target, visual, prompts, splits=splits)
    if measured is None:
        return None, "no two categories of indexed items"
    short = measured.shortfall()
    return (None, f"categories too small: {short}") if short else (measured, None)


def ensure(
    catalog: Any, run_id: int, dataset_id: int, modality: str, visual: str, checkpoint_sha256: str | None,
    target: AnnIndex | None = None, text: AnnIndex | None = None, remeasure: bool = False,
    prompts: CategoryPrompts | None = None,
) -> Calibration | None:
    """:func:`calibrate`, None where it is not calibrated."""
    c = calibrate(catalog, run_id, dataset_id, modality, visual, checkpoint_sha256, target, text, prompts, remeasure)
    return c if isinstance(c, Calibration) else None


def category_prompt_source(templates: Sequence[str], fill: Callable[[str, str], str],
                           embed: Callable[[list[str]], np.ndarray]) -> CategoryPrompts:
    """:class:`CategoryPrompts` from prompt templates and the function that fills one with a category."""
    return CategoryPrompts(lambda category: [fill(t, category) for t in templates], embed)


def measured_line(summary: dict[str, Any]) -> str:
    """How a calibration (its :meth:`Calibration.summary`) was measured, in one line for a tooltip or the CLI."""
    split = summary.get("split") or ""
    splits = "every split" if split == "all" else f"the {split} split" if "+" not in split else f"splits {split}"
    queries = int(summary.get("queries") or 0)
    what = {CAPTIONS: f"{queries} captions of {splits}",
            CATEGORY_PROMPTS: f"{queries} category prompts against the items of {splits}"}.get(
        str(summary.get("source")),
        f"{queries} {summary.get('source')} of {splits} as queries, an item of the same category a match")
    return (f"measured on {what}: {int(summary.get('match_pairs') or 0):,} matching and "
            f"{int(summary.get('nonmatch_pairs') or 0):,} non-matching pairs; the lower end of its "
            f"{round(BAND_LEVEL * 100)} % band")


def band(confidence: float | None) -> str:
    """``high`` (≥ 0.75), ``medium`` (≥ 0.5), ``low``, or ``none`` (no calibration)."""
    if confidence is None:
        return "none"
    return "high" if confidence >= 0.75 else "medium" if confidence >= 0.5 else "low"
