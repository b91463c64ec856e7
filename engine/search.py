"""A query in, ranked items with metadata out.

Queries: text, an image file, a mesh file (rendered with the view spec of the run's dataset through the
workspace's render cache, its views pooled by the run's model as the shape index pools a dataset's
shapes), an item of the catalogue (its shape or image), or a fused visual+text query (image, mesh or
item with text), whose embedding is ``fuse(visual, text)`` as GCL trains it. Targets: ``shapes``
(the item-level shape index), ``images`` (the image index) and ``captions`` (the caption index).
Observation hits are folded into items (an item scores as its best observation) after asking the
index for enough neighbours; split and category filters are SQLite id sets given to the index query
(over-fetch + ``np.isin``), never Python callbacks. Same input, same order.

Confidence: every query kind's hits carry ``confidence`` (0-1, the cautious end of its band) beside the raw
``score``, and the result ``confident`` (is the top hit better than a typical non-match?), each kind from its own
measured pairs: a text query from the calibration measured beside the index on captions or category prompts
(:mod:`engine.index.calibration`; measured here on first use for an index built before it existed); an image,
mesh or item query from the dataset's items as picture queries, same category a match, own item left out
(:mod:`engine.index.calibration_pictures`, measured on first use and kept by the searcher). Fused queries (a
picture with text) have nothing of their kind to measure. A query that is not calibrated (fused, or a dataset
without enough captions or categories: :class:`engine.index.calibration.NotCalibrated`) is said to be so:
``calibrated`` is False, ``not_calibrated`` the reason, every hit's ``confidence`` None; never a made-up one.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from engine.catalog import Catalog, Dataset, Item
from engine.data.images import model_image_size, open_rgb
from engine.data.roots import relocate_command
from engine.errors import CrossfoldError
from engine.evaluate.categories import default_templates, fill
from engine.evaluate.encode import encode_texts
from engine.index import calibration as calib
from engine.index import registry
from engine.index.ann import AnnIndex
from engine.index.calibration_pictures import FUSED_REASON, measure_pictures
from engine.index.errors import MissingIndexError, StaleIndexError
from engine.metric_keys import validation_score
from engine.models import inference as inference_path
from engine.models.fusion import fuse
from engine.models.inference import InferencePath
from engine.run.device import pick_device
from engine.run.restore import RestoredRun, restore_run
from engine.workspace import Workspace

if TYPE_CHECKING:
    from engine.render.spec import ViewSpec

TEXT_CACHE_SIZE = 256  # text query embeddings kept per searcher
TARGETS = {"shapes": ("shape-text", "shape"), "images": ("image-text", "image"), "captions": (None, "text")}


class SearchError(CrossfoldError):
    pass


@dataclass
class Hit:
    rank: int
    score: float
    item_id: int
    key: str
    dataset: str
    split: str
    category: str
    matched_observation: int | None  # the caption or image that matched (None for item-level shapes)
    matched_text: str | None
    thumbnails: list[str]  # views in order, or the image
    captions: list[str]
    meta: dict[str, Any] = field(default_factory=dict)
    confidence: float | None = None  # calibrated P(match | score) in 0-1; None: not calibrated

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class SearchResult:
    run: str
    dataset: str
    target: str
    query: dict[str, Any]
    hits: list[Hit]
    timings_ms: dict[str, float]
    confident: bool | None = None  # the top hit beats a typical non-match; None: not calibrated
    calibration: dict[str, Any] | None = None  # source, split, evidence and threshold of the calibration used
    not_calibrated: str | None = None  # why the hits carry no confidence
    missing: str | None = None  # why hits were left out: their files are missing (a dataset root moved or gone)
    query_kind: str = "text"  # text, image, mesh, item or fused: what a calibration must have been measured for

    @property
    def calibrated(self) -> bool:
        return self.calibration is not None

    @property
    def dataset_not_calibrated(self) -> bool:
        """The run has no calibration for this kind of query on this dataset: the page says so."""
        return self.not_calibrated is not None

    def as_dict(self) -> dict[str, Any]:
        return {"run": self.run, "dataset": self.dataset, "target": self.target, "query": self.query,
                "query_kind": self.query_kind, "hits": [h.as_dict() for h in self.hits],
                "timings_ms": self.timings_ms, "calibrated": self.calibrated, "not_calibrated": self.not_calibrated,
                "confident": self.confident, "calibration": self.calibration, "missing": self.missing}

    def not_calibrated_line(self) -> str:
        kind = "" if self.query_kind == "text" else f" for {self.query_kind} queries on"
        return f"run {self.run} is not calibrated{kind or ' for'} dataset {self.dataset}: {self.not_calibrated}"

    def measured_line(self) -> str | None:
        """How the calibration used was measured (None when not calibrated)."""
        return calib.measured_line(self.calibration) if self.calibration is not None else None

    @property
    def not_confident(self) -> bool:
        """Calibrated and not confident (``confident`` is False, not None)."""
        return self.confident is False

    def banner(self) -> str:
        return f"no confident match for this query with run {self.run}"


def default_run(catalog: Catalog, target: str, dataset: str | None = None) -> str:
    """The best finished run on one dataset for ``target``: of the runs with an index of it for the target's
    modality, the best validation score (:func:`engine.metric_keys.validation_score`; unscored runs last, the
    newest first among equals). The dataset is ``dataset``, else the one of the target's kind indexed last."""
    kind, modality = TARGETS[target]
    kinds = {d.id: d.kind for d in catalog.datasets()}
    runs = [run for run in reversed(catalog.runs()) if run.status == "done"]  # newest first
    indexed = {run.id: {row.dataset_id for row in registry.rows(catalog, run_id=run.id)
                        if row.modality == modality and (kind is None or kinds.get(row.dataset_id) == kind)}
               for run in runs}
    wanted = catalog.require_dataset(dataset).id if dataset else next(
        (run.dataset_id if run.dataset_id in ids else min(ids) for run in runs if (ids := indexed[run.id])), None)
    candidates = [run for run in runs if wanted in indexed[run.id]]
    if not candidates:
        where = f" of {dataset}" if dataset else ""
        raise SearchError(f"no finished run has a {target} index{where} yet; run `trainer demo` or "
                          "`trainer index --run R`")
    scores = [validation_score(run.metrics) for run in candidates]
    best = max(range(len(candidates)), key=lambda i: (scores[i] if scores[i] is not None else float("-inf"), -i))
    return candidates[best].name


class Searcher:
    """Holds one run's encoder and its opened indexes; ``search`` may be called many times."""

    def __init__(self, workspace: Workspace, run: str, device: str = "auto", catalog: Catalog | None = None,
                 inference: InferencePath | None = None) -> None:
        """``inference``: the path queries encode on (:mod:`engine.models.inference`); None: the path of the first
        index searched (an index on another path is then stale: its rebuild is named)."""
        self.workspace = workspace
        self.catalog = catalog or workspace.catalog()
        self.run_name = run
        self.run_row = self.catalog.require_run(run)
        self._restored: RestoredRun | None = None
        self._device = device
        self._indexes: dict[tuple[int, str], AnnIndex] = {}
        self._calibrations: dict[tuple[int, str], calib.Calibration | calib.NotCalibrated] = {}
        self._picture_calibrations: dict[tuple[int, str, str], calib.Calibration | calib.NotCalibrated] = {}
        self._inference = inference
        self._text_cache: OrderedDict[str, np.ndarray] = OrderedDict()  # repeated queries (typing, A/B): LRU

    @property
    def restored(self) -> RestoredRun:
        if self._restored is None:
            path = self._inference or inference_path.choose(pick_device(self._device, mps=True).type)
            self._restored = restore_run(self.catalog, self.run_name, "best",
                                         inference_path.query_device(path, self._device), path)
        return self._restored

    # ---- datasets and indexes -----------------------------------------------------------------
    def dataset_for(self, target: str, dataset: str | None) -> Dataset:
        kind, modality = TARGETS[target]
        if dataset:
            ds = self.catalog.require_dataset(dataset)
            if kind is not None and ds.kind != kind:
                raise SearchError(f"dataset {ds.name!r} holds {ds.kind} items; --target {target} needs {kind}")
            return ds
        indexed = {row.dataset_id for row in registry.rows(self.catalog, run_id=self.run_row.id)
                   if row.modality == modality}
        candidates = [d for d in self.catalog.datasets() if d.id in indexed and (kind is None or d.kind == kind)]
        preferred = [d for d in candidates if d.id == self.run_row.dataset_id]
        if preferred or candidates:
            return (preferred or candidates)[0]
        raise SearchError(f"run {self.run_name!r} has no {modality} index; build it with "
                          f"`trainer index --run {self.run_name}`")

    def index(self, dataset: Dataset, modality: str) -> AnnIndex:
        key = (dataset.id, modality)
        if key not in self._indexes:
            row = registry.find(self.catalog, self.run_row.id, dataset.id, modality)
            if row is None:
                raise MissingIndexError(None, f"run {self.run_name!r} has no {modality} index of {dataset.name!r}",
                                        self.run_name)
            if self._inference is None and self._restored is None:  # queries encode as the index was built
                self._inference = inference_path.split_stamp(row.checkpoint_sha256 or "")[1]
            self._indexes[key] = registry.open_index(self.catalog, self.run_row.id, dataset.id, modality,
                                                     self.restored.index_stamp)
        return self._indexes[key]

    def calibration(self, dataset: Dataset, modality: str) -> calib.Calibration | calib.NotCalibrated:
        """The calibration of the run's ``modality`` index of ``dataset`` (stored, or measured now: on captions,
        else on category prompts), or why there is none."""
        key = (dataset.id, modality)
        if key not in self._calibrations:
            target = self.index(dataset, modality)
            try:
                text = target if modality == "text" else self.index(dataset, "text")
            except (MissingIndexError, StaleIndexError):  # no usable caption index: no captions to measure with
                text = None
            self._calibrations[key] = calib.calibrate(
                self.catalog, self.run_row.id, dataset.id, modality, self._visual(dataset),
                self.restored.index_stamp, target=target, text=text, prompts=self._prompts(dataset))
        return self._calibrations[key]

    def picture_calibration(self, dataset: Dataset, modality: str,
                            pooled: bool) -> calib.Calibration | calib.NotCalibrated:
        """The calibration of picture queries against the run's ``modality`` index of ``dataset``: single pictures
        (an image query), or ``pooled`` shapes (a mesh or item query), measured once per searcher."""
        query = "shape" if pooled and dataset.kind == "shape-text" else "image"
        key = (dataset.id, modality, query)
        if key not in self._picture_calibrations:
            try:
                queries = self.index(dataset, query)
            except (MissingIndexError, StaleIndexError):
                return calib.NotCalibrated(f"no usable {query} index to measure picture queries with")
            visual = self._visual(dataset)
            self._picture_calibrations[key] = measure_pictures(
                self.catalog, dataset.id, modality, self.index(dataset, modality), queries,
                "shape" if query == "shape" else visual, visual,
                calib.measured_splits(self.catalog, self.run_row.id, dataset.id))
        return self._picture_calibrations[key]

    def _prompts(self, dataset: Dataset) -> calib.CategoryPrompts:
        """The dataset kind's default category prompts, encoded (only if measuring needs them) by the run's model."""

        def embed(texts: list[str]) -> np.ndarray:
            r = self.restored
            v = encode_texts(r.encoder, texts, r.tokenizer, r.device).numpy()
            return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)

        return calib.category_prompt_source(default_templates(dataset.kind), fill, embed)

    # ---- query embeddings ---------------------------------------------------------------------
    @torch.no_grad()
    def embed_text(self, text: str) -> np.ndarray:
        cached = self._text_cache.get(text)
        if cached is None:
            r = self.restored
            cached = r.encoder.encode_texts(r.tokenizer([text]).to(r.device))[1].float().cpu().numpy()[0]
            self._text_cache[text] = cached
            if len(self._text_cache) > TEXT_CACHE_SIZE:
                self._text_cache.popitem(last=False)
        else:
            self._text_cache.move_to_end(text)
        return cached.copy()

    @torch.no_grad()
    def embed_images(self, paths: list[str]) -> np.ndarray:
        r = self.restored
        batch, size = [], model_image_size(r.encoder)
        for p in paths:
            try:
                batch.append(r.preprocess(open_rgb(p, size)))
            except (OSError, ValueError, Image.DecompressionBombError) as exc:
                raise SearchError(f"{p}: cannot read the image ({exc})") from None
        return r.encoder.encode_images(torch.stack(batch).to(r.device))[1].float().cpu().numpy()

    @torch.no_grad()
    def embed_item(self, item: Item) -> np.ndarray:
        views = [o.path for o in sorted(item.observations, key=lambda o: (o.view_index or 0, o.id))
                 if o.modality in ("view", "image") and o.path]
        if not views:
            raise SearchError(f"item {item.key!r} has no image or views to search with")
        return self.pool_views(views)

    @torch.no_grad()
    def pool_views(self, views: list[str]) -> np.ndarray:
        """One embedding of a shape from its view images, pooled as the shape index pools them."""
        emb = torch.from_numpy(self.embed_images(views))
        pooled = self.restored.encoder.pool_views(emb.unsqueeze(0).to(self.restored.device))
        return pooled.float().cpu().numpy()[0]

    def mesh_view_spec(self, up_axis: str | None = None) -> ViewSpec:
        """How a query mesh is rendered: as the run's dataset's meshes were (its stored render spec, else
        the default spec with its up axis), with ``up_axis`` in place of the dataset's if given."""
        from engine.data.rendering import dataset_view_spec
        from engine.render.spec import ViewSpec

        dataset = next((d for d in self.catalog.datasets() if d.id == self.run_row.dataset_id), None)
        spec = dataset_view_spec(dataset) if dataset is not None and dataset.kind == "shape-text" else ViewSpec()
        return replace(spec, up_axis=up_axis) if up_axis else spec

    def mesh_views(self, mesh: str | Path, up_axis: str | None = None) -> list[str]:
        """The mesh's views with :meth:`mesh_view_spec`, rendered into the workspace's render cache (keyed by
        the file's content) by a render process, so that a mesh that crashes its loader cannot take the
        caller down. Raises :class:`SearchError` naming the file and the problem when it cannot be rendered."""
        from engine.render import render_many

        outcome = render_many([Path(mesh)], self.mesh_view_spec(up_axis), self.workspace.renders, workers=1)[0]
        if outcome.error is not None:
            raise SearchError(outcome.error.splitlines()[0])
        return [str(p) for p in outcome.views]

    def embed_mesh(self, mesh: str | Path, up_axis: str | None = None) -> np.ndarray:
        """A mesh file's shape embedding: its views (see :meth:`mesh_views`) pooled by the run's model."""
        return self.pool_views(self.mesh_views(mesh, up_axis))

    def query_vector(self, text: str | None, image: str | Path | None, item: Item | None,
                     mesh: str | Path | None = None, up_axis: str | None = None) -> np.ndarray:
        if sum(x is not None for x in (image, item, mesh)) > 1:
            raise SearchError("give one of --image, --mesh and --item (with --text, if you like, to fuse them)")
        parts = []
        if image is not None:
            parts.append(self.embed_images([str(image)])[0])
        if mesh is not None:
            parts.append(self.embed_mesh(mesh, up_axis))
        if item is not None:
            parts.append(self.embed_item(item))
        if text:
            parts.append(self.embed_text(text))
        if not parts:
            raise SearchError("give a query: --text, --image, --mesh or --item (text with one of the others is "
                              "fused)")
        if len(parts) == 1:
            return parts[0]
        return fuse(torch.from_numpy(parts[0]), torch.from_numpy(parts[1])).numpy()

    # ---- search -------------------------------------------------------------------------------
    def search(
        self,
        *,
        text: str | None = None,
        image: str | Path | None = None,
        mesh: str | Path | None = None,
        up_axis: str | None = None,
        item_key: str | None = None,
        item_dataset: str | None = None,
        target: str = "shapes",
        dataset: str | None = None,
        k: int = 10,
        split: str | None = None,
        category: str | None = None,
    ) -> SearchResult:
        if target not in TARGETS:
            raise SearchError(f"--target must be one of {', '.join(TARGETS)}, not {target!r}")
        if k < 1:
            raise SearchError("k must be at least 1")
        timings: dict[str, float] = {}
        t = time.perf_counter()
        ds = self.dataset_for(target, dataset)
        if category:
            known = self.catalog.categories(ds.id)
            if category not in known:
                shown = ", ".join(c for c in known[:30] if c) or "none"
                raise SearchError(f"no category {category!r} in dataset {ds.name!r} (known: {shown})")
        item = None
        if item_key is not None:
            source = self.catalog.require_dataset(item_dataset) if item_dataset else ds
            item = self.catalog.item_by_key(source.id, item_key)
            if item is None:
                raise SearchError(f"no item {item_key!r} in dataset {source.name!r}")
        modality = TARGETS[target][1]
        index = self.index(ds, modality)
        timings["open"] = (time.perf_counter() - t) * 1e3

        t = time.perf_counter()
        vector = self.query_vector(text, image, item, mesh, up_axis)
        timings["encode"] = (time.perf_counter() - t) * 1e3

        t = time.perf_counter()
        allowed = self._allowed(ds, modality, split, category)
        hits, missing = self._present_hits(ds, index, vector, k, allowed, modality == "shape", timings, t)
        query = {"text": text, "image": str(image) if image else None, "item": item_key}
        if mesh is not None:
            query["mesh"] = str(mesh)
        result = SearchResult(self.run_name, ds.name, target, query, hits, timings, missing=missing_line(ds, missing))
        kinds = [k for k, v in (("image", image), ("mesh", mesh), ("item", item)) if v is not None]
        result.query_kind = "fused" if kinds and text else (kinds[0] if kinds else "text")
        t = time.perf_counter()
        if result.query_kind == "text":
            self._calibrate(result, self.calibration(ds, modality))
        elif result.query_kind == "fused":
            result.not_calibrated = FUSED_REASON
        else:
            self._calibrate(result, self.picture_calibration(ds, modality, pooled=result.query_kind != "image"))
        timings["calibration"] = (time.perf_counter() - t) * 1e3
        return result

    @staticmethod
    def _calibrate(result: SearchResult, calibration: calib.Calibration | calib.NotCalibrated) -> None:
        if isinstance(calibration, calib.NotCalibrated):
            result.not_calibrated = calibration.reason
            return
        confidences = calibration.confidence([h.score for h in result.hits])
        for hit, c in zip(result.hits, confidences, strict=True):
            hit.confidence = round(float(c), 4)
        result.confident = bool(result.hits) and calibration.confident(result.hits[0].score)
        result.calibration = calibration.summary()

    def _allowed(self, ds: Dataset, modality: str, split: str | None, category: str | None) -> np.ndarray | None:
        if not split and not category:
            return None
        if modality == "shape":
            ids = self.catalog.item_ids(ds.id, split, category)
        else:
            ids = self.catalog.observation_ids(ds.id, "text" if modality == "text" else self._visual(ds),
                                               split, category)
        return np.asarray(ids, dtype=np.int64)

    @staticmethod
    def _visual(ds: Dataset) -> str:
        return "view" if ds.kind == "shape-text" else "image"

    def _ranked_items(
        self, index: AnnIndex, vector: np.ndarray, k: int, allowed: np.ndarray | None, item_level: bool
    ) -> list[tuple[int, float, int | None]]:
        """(item id, score, matched observation id) for the best k items."""
        if item_level:
            labels, scores = index.query(vector[None, :], k, allowed=allowed)
            return [(int(lab), float(sc), None) for lab, sc in zip(labels[0], scores[0], strict=True) if lab >= 0]
        fold = 8
        total = index.count if allowed is None else len(allowed)
        while True:
            want = min(k * fold, total)
            labels, scores = index.query(vector[None, :], want, allowed=allowed)
            pairs = [(int(lab), float(sc)) for lab, sc in zip(labels[0], scores[0], strict=True) if lab >= 0]
            owners = self.catalog.observation_items([lab for lab, _ in pairs])
            best: dict[int, tuple[float, int]] = {}
            for lab, sc in pairs:  # hits come best first: the first one of an item is its best
                item_id = owners.get(lab)
                if item_id is not None and item_id not in best:
                    best[item_id] = (sc, lab)
            if len(best) >= k or want >= total:
                ordered = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))[:k]
                return [(item_id, sc, lab) for item_id, (sc, lab) in ordered]
            fold *= 4

    def _present_hits(
        self, ds: Dataset, index: AnnIndex, vector: np.ndarray, k: int, allowed: np.ndarray | None,
        item_level: bool, timings: dict[str, float], started: float,
    ) -> tuple[list[Hit], int]:
        """The best k hits whose item is still in the catalogue with its file on disk: an item removed from the
        dataset, or whose file was deleted since (before a rescan and ``trainer index``), is never a hit; the
        index is asked for more neighbours until k are left or it has no more. Also: how many of the items
        ranked were left out because their files are missing."""
        want, catalogue_s = k, 0.0
        while True:
            ranked = self._ranked_items(index, vector, want, allowed, item_level)
            t = time.perf_counter()
            hits, missing = self._hits(ds, ranked)
            catalogue_s += time.perf_counter() - t
            if len(hits) >= k or len(ranked) < want or want >= index.count:
                break
            want = min(want * 4, index.count)
        timings["query"] = (time.perf_counter() - started - catalogue_s) * 1e3  # the id filters' queries too
        timings["catalogue"] = catalogue_s * 1e3
        for rank, hit in enumerate(hits[:k], start=1):
            hit.rank = rank
        return hits[:k], missing

    def _hits(self, ds: Dataset, ranked: list[tuple[int, float, int | None]]) -> tuple[list[Hit], int]:
        items = self.catalog.items_with_observations([item_id for item_id, _, _ in ranked])
        hits, missing = [], 0
        for rank, (item_id, score, matched) in enumerate(ranked, start=1):
            item = items.get(item_id)
            if item is None:  # removed since indexed
                continue
            if not _file_present(item, ds.root):  # its file deleted, or its dataset's root moved, since indexed
                missing += 1
                continue
            obs = sorted(item.observations, key=lambda o: (o.view_index or 0, o.id))
            matched_text = next((o.text if o.modality == "text" else o.path for o in obs if o.id == matched), None)
            hits.append(Hit(
                rank=rank, score=score, item_id=item.id, key=item.key, dataset=ds.name, split=item.split,
                category=item.category, matched_observation=matched, matched_text=matched_text,
                thumbnails=[o.path for o in obs if o.modality in ("view", "image") and o.path],
                captions=[o.text for o in obs if o.modality == "text" and o.text], meta=dict(item.meta or {}),
            ))
        return hits, missing


def missing_line(ds: Dataset, missing: int) -> str | None:
    """One line on hits left out for their missing files: the dataset's root and how to point it at its new place
    when the root itself is gone (never 0 hits in silence); None when none was left out."""
    if not missing:
        return None
    what = (f"{missing} hit{'s' if missing != 1 else ''} of dataset {ds.name} left out: "
            f"{'its' if missing == 1 else 'their'} files are missing")
    if ds.root and not Path(ds.root).is_dir():
        return f"{what} (its root {ds.root} is gone; if the data moved: {relocate_command(ds.name)})"
    return f"{what} (deleted since indexed: 'trainer import' the folder again, then 'trainer index')"


def _file_present(item: Item, root: str) -> bool:
    """Whether the file the item was imported from is still there: its mesh, else its images (a path relative to
    the dataset's root, as rendering reads it; an item whose only files are views has nothing to lose)."""
    paths = [item.asset_path] if item.asset_path else [o.path for o in item.observations
                                                       if o.modality == "image" and o.path]
    base = Path(root) if root else None
    return all((base / p if base is not None and not Path(p).is_absolute() else Path(p)).is_file() for p in paths)
