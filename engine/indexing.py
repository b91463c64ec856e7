"""Index a dataset with a run's checkpoint: encode every observation, build or grow the indexes.

Per (run, dataset): ``text`` (captions, labels = observation ids), ``image`` (images, or the rendered
views of shapes; labels = observation ids) and, for shape datasets, ``shape`` (views pooled per item;
labels = item ids). Shapes are seen at the model's input size: a mesh dataset rendered smaller is rendered
again at that size first (:func:`engine.data.rendering.views_at_size`). An index already built from the same
checkpoint grows by the new observations only; one from another checkpoint is rebuilt; an up-to-date one
is left alone. Entries whose observation or item is gone from the dataset, or whose item was added or changed at a
later dataset revision than the index holds (a folder rescan: ``engine/data/importers/sync.py``), are dropped: the
index is built again from the vectors it keeps plus the ones encoded now (action ``updated``).

Each index is then calibrated (:mod:`engine.index.calibration`): the score distributions of captions against
their own item and against other items (or, where captions are too few, of the category prompts of
:mod:`engine.evaluate.categories` against the items of their own and of other categories), stored beside it, give
search hits a confidence; an index that neither can calibrate says why in its report entry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from engine.catalog import Catalog, Dataset
from engine.catalog.models import PRETRAINED_RUN
from engine.catalog.records import dataset_revision
from engine.data.images import model_image_size
from engine.data.roots import require_root
from engine.errors import CrossfoldError
from engine.evaluate.categories import default_templates, fill
from engine.evaluate.encode import encode_image_files, encode_texts, pool_shapes
from engine.index import calibration as calib
from engine.index import registry
from engine.index.errors import StaleIndexError
from engine.index.params import IndexParams
from engine.locks import holding
from engine.memory import mark
from engine.models import inference
from engine.run.restore import RestoredRun, restore_run
from engine.workspace import Workspace

Progress = Callable[[str, int, int], None]
INDEX_NAMES = {"text": "captions", "image": "images", "shape": "shapes"}  # progress stage "index <name>"


@dataclass
class IndexReport:
    run: str
    dataset: str
    checkpoint: str
    modalities: dict[str, dict] = field(default_factory=dict)  # modality -> {action, count, added, removed, path}
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)  # one line per image file that could not be read
    inference: str = "exact"  # the inference path the vectors were encoded on (engine.models.inference)
    inference_note: str = ""  # why a CPU build took the exact path without --exact (inference.fast_cpu_unavailable)

    def as_dict(self) -> dict:
        return {"run": self.run, "dataset": self.dataset, "checkpoint": self.checkpoint,
                "modalities": self.modalities, "seconds": self.seconds, "skipped": self.skipped,
                "inference": self.inference, "inference_note": self.inference_note}


def index_modalities(kind: str) -> list[str]:
    return ["text", "image", "shape"] if kind == "shape-text" else ["text", "image"]


def index_run(
    workspace: Workspace,
    catalog: Catalog,
    run: str,
    dataset: str | None = None,
    which: str = "best",
    device: str = "auto",
    params: IndexParams | None = None,
    on_progress: Progress | None = None,
    restored: RestoredRun | None = None,
    num_threads: int | None = None,
    exact: bool = False,
) -> IndexReport:
    with holding(workspace.name_lock("index", run), f"index name {run!r}",
                 f"building the indexes: trainer index --run {run}"):
        t0 = time.perf_counter()
        # the fast CPU path unless exact (never on a GPU); the path is part of the indexes' stamp
        restored = restored or restore_run(catalog, run, which, device,
                                           inference=lambda dev: inference.choose(dev.type, exact))
        ds = catalog.require_dataset(dataset or restored.config.dataset)
        run_row = catalog.require_run(run)
        visual = "view" if ds.kind == "shape-text" else "image"
        report = IndexReport(run, ds.name, str(restored.checkpoint), inference=restored.inference.value)
        if not exact and restored.device.type == "cpu" and restored.inference is inference.InferencePath.EXACT:
            report.inference_note = inference.fast_cpu_unavailable() or ""
        progress = on_progress or (lambda stage, done, total: None)

        obs = {"text": catalog.observations(ds.id, "text"), "image": catalog.observations(ds.id, visual)}
        require_root(ds, (p for _, _, p, _ in obs["image"]))  # a moved dataset: say so, never build empty indexes
        if ds.kind == "shape-text":  # shapes rendered at the model's input size (rendered now if missing)
            from engine.data.rendering import views_at_size  # here: trimesh and scipy only for a shape dataset

            view_map = views_at_size(catalog, workspace, ds.name, model_image_size(restored.encoder),
                                     on_progress=lambda done, total: progress("render views", done, total))
            if view_map:
                obs["image"] = [(o, i, view_map.get(p, p), v) for o, i, p, v in obs["image"]]
        view_cache: dict[int, np.ndarray] = {}  # observation id -> embedding: views are encoded once for both indexes
        revisions = catalog.item_revisions(ds.id)
        for modality in index_modalities(ds.kind):
            rows = obs["image"] if modality == "shape" else obs[modality]
            report.modalities[modality] = _index_one(
                _Target(workspace, catalog, restored, run, run_row.id, ds, modality, params, num_threads,
                        weights_named(restored, run_row.kind)),
                rows, revisions, progress, view_cache, report.skipped)
            mark(f"{modality} index built")
        progress("calibrate", 0, 1)
        prompts = category_prompts(restored, ds.kind)
        for modality, entry in report.modalities.items():
            c = calib.calibrate(catalog, run_row.id, ds.id, modality, visual, restored.index_stamp,
                                prompts=prompts)
            entry["calibration"] = ({"not_calibrated": c.reason} if isinstance(c, calib.NotCalibrated)
                                    else c.summary())
        progress("calibrate", 1, 1)
        mark("calibrated")
        report.seconds = time.perf_counter() - t0
        return report


def weights_named(restored: RestoredRun, run_kind: str) -> str:
    """What a message names as the run's weights: for a zero-shot run, the weights the user gave (its checkpoint
    is a private copy, deleted with the run when its first indexes fail); else the checkpoint."""
    if run_kind == PRETRAINED_RUN and restored.config.pretrained:
        return restored.config.pretrained
    return str(restored.checkpoint)


def category_prompts(restored: RestoredRun, kind: str) -> calib.CategoryPrompts:
    """The dataset kind's default category prompts (:mod:`engine.evaluate.categories`), encoded by the run's model
    as its text index holds texts (L2-normalised): what calibrates an index where captions are too few."""

    def embed(texts: list[str]) -> np.ndarray:
        v = encode_texts(restored.encoder, texts, restored.tokenizer, restored.device).numpy()
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)

    return calib.category_prompt_source(default_templates(kind), fill, embed)


@dataclass(frozen=True)
class _Target:
    """One index of the run: (run, dataset, modality), with what building it needs."""

    workspace: Workspace
    catalog: Catalog
    restored: RestoredRun
    run: str
    run_id: int
    dataset: Dataset
    modality: str
    params: IndexParams | None
    num_threads: int | None = None  # hnswlib's (1: the same graph every time; None: this job's share)
    weights: str = ""  # what a message names as the model's weights: the run's checkpoint, or the file it was given


def _index_one(
    t: _Target, rows: list[tuple[int, int, str, int | None]], revisions: dict[int, int], progress: Progress,
    view_cache: dict[int, np.ndarray], skipped: list[str],
) -> dict:
    """Build, grow, update or keep one index; its entry of the report.

    An entry is stale when its observation or item is gone from the dataset, or when its item was added or changed
    at a dataset revision newer than the index's (a rescan: :mod:`engine.data.importers.sync`; an id freed by a
    removed item may since name another). Stale entries are dropped (the index is built again from the vectors it
    keeps and the ones encoded now, nothing else re-encoded) and their items encoded again if still there."""
    catalog, restored, ds, modality = t.catalog, t.restored, t.dataset, t.modality
    owner = ({item_id: item_id for _, item_id, _, _ in rows} if modality == "shape"
             else {obs_id: item_id for obs_id, item_id, _, _ in rows})
    ids = sorted(owner) if modality == "shape" else [obs_id for obs_id, _, _, _ in rows]
    existing = registry.find(catalog, t.run_id, ds.id, modality)
    index = None
    if existing is not None and existing.checkpoint_sha256 == restored.index_stamp:
        try:
            index = registry.open_index(catalog, t.run_id, ds.id, modality, restored.index_stamp)
        except StaleIndexError:  # damaged or changed file: rebuild it from scratch
            index = None
    have = {int(i) for i in index.ids()} if index is not None else set()
    since = registry.dataset_revision(existing)
    stale = {label for label in have if label not in owner or revisions.get(owner[label], 0) > since}
    keep = have - stale
    new_ids = [i for i in ids if i not in keep]
    if existing is not None and index is not None and not new_ids and not stale:  # an empty one too (no captions)
        return {"action": "up-to-date", "count": existing.count, "added": 0, "removed": 0, "path": existing.path}
    nothing = (f"{t.weights}: its model gives NaN or infinite {modality} embeddings; the weights are "
               "damaged or diverged")
    try:
        vectors, labels = _encode(restored, modality, rows, set(new_ids), progress, view_cache, skipped)
    except RuntimeError as exc:  # the fast CPU path's int8 quantizer meets the same infinities in the activations
        if "ChooseQuantizationParams" in str(exc):
            raise CrossfoldError(nothing) from exc
        raise
    if not np.isfinite(vectors).all():  # weights that encode nothing (NaN, overflow): no index can hold them
        raise CrossfoldError(nothing)
    stage = f"index {INDEX_NAMES[modality]}"
    progress(stage, 0, len(labels))
    revision = dataset_revision(ds.meta)

    def on_progress(done: int, total: int) -> None:
        progress(stage, done, total)

    if keep and not stale:
        row = registry.add_to_index(catalog, t.run_id, ds.id, modality, vectors, labels, restored.index_stamp,
                                    on_progress=on_progress, revision=revision, num_threads=t.num_threads)
        action = "added"
    else:
        params = t.params
        if keep and index is not None:  # stale entries out: the kept vectors as they are, the new ones after them
            kept = np.fromiter(sorted(keep), dtype=np.int64, count=len(keep))
            vectors = np.concatenate([index.vectors(kept), vectors.reshape(-1, index.dim)])
            labels = np.concatenate([kept, labels.astype(np.int64)])
            if params is None and existing is not None:
                params = IndexParams.from_dict(existing.params, space=existing.space)
        path = registry.default_path(t.workspace.indexes, t.run, ds.name, modality)
        row = registry.build_index(catalog, t.run_id, ds.id, modality, path, vectors, labels,
                                   restored.index_stamp, params, on_progress=on_progress, revision=revision,
                                   num_threads=t.num_threads)
        action = "updated" if keep else "built"
    added = len(labels) - len(keep) if action == "updated" else len(labels)
    return {"action": action, "count": row.count, "added": added, "removed": len(stale), "path": row.path}


def _encode(
    restored: RestoredRun, modality: str, rows: list[tuple[int, int, str, int | None]], wanted: set[int],
    progress: Progress, view_cache: dict[int, np.ndarray], skipped: list[str],
) -> tuple[np.ndarray, np.ndarray]:
    """The vectors and labels of the ``wanted`` rows. An image or view file that cannot be read is left out and
    said in ``skipped`` (the rest is indexed; the next ``trainer index`` tries it again)."""
    enc, dev = restored.encoder, restored.device
    batch = inference.CPU_BATCH if dev.type == "cpu" else {"image": 256, "text": 512}
    # on the CPU the images are decoded by a thread of this process: a worker process forked from it would hold
    # (and be counted for) the model's pages again, and the model's threads take the cores anyway
    workers = 0 if dev.type == "cpu" else None

    def stage(name: str) -> Callable[[int, int], None]:
        return lambda done, total: progress(name, done, total)

    if modality == "text":
        chosen = [r for r in rows if r[0] in wanted]
        emb = encode_texts(enc, [r[2] for r in chosen], restored.tokenizer, dev, batch["text"],
                           on_progress=stage("encode text"))
        return emb.numpy(), np.array([r[0] for r in chosen], dtype=np.int64)
    # images, or views (the shape index pools every view of the new items)
    chosen = [r for r in rows if (r[0] if modality == "image" else r[1]) in wanted]
    missing = [r for r in chosen if r[0] not in view_cache]
    if missing:
        emb, kept, problems = encode_image_files(enc, [r[2] for r in missing], restored.preprocess, dev,
                                                 batch["image"], workers, on_progress=stage("encode images"))
        view_cache.update({missing[i][0]: e for i, e in zip(kept, emb.numpy(), strict=True)})
        skipped += [p for p in problems if p not in skipped]  # a view fails once for both indexes
    chosen = [r for r in chosen if r[0] in view_cache]
    vectors = np.stack([view_cache[r[0]] for r in chosen]) if chosen else np.empty((0, enc.embed_dim), np.float32)
    if modality == "image":
        return vectors, np.array([r[0] for r in chosen], dtype=np.int64)
    pooled, items = pool_shapes(enc, torch.from_numpy(vectors), torch.tensor([r[1] for r in chosen]))
    return pooled.numpy(), items.numpy().astype(np.int64)
