"""Index a dataset with a run's checkpoint: encode every observation, build or grow the indexes.

Per (run, dataset): ``text`` (captions, labels = observation ids), ``image`` (images, or the rendered
views of shapes; labels = observation ids) and, for shape datasets, ``shape`` (views pooled per item;
labels = item ids). Shapes are seen at the model's input size: a mesh dataset rendered smaller is rendered
again at that size first (:func:`engine.data.rendering.views_at_size`). An index already built from the same
checkpoint grows by the new observations only; one from another checkpoint is rebuilt; an up-to-date one
is left alone.

Each index is then calibrated (:mod:`engine.index.calibration`): the score distributions of captions against
their own item and against other items, stored beside it, give search hits a confidence.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from engine.catalog import Catalog
from engine.data.images import model_image_size
from engine.data.rendering import views_at_size
from engine.evaluate.encode import encode_image_files, encode_texts, pool_shapes
from engine.index import calibration as calib
from engine.index import registry
from engine.index.errors import StaleIndexError
from engine.index.params import IndexParams
from engine.run.restore import RestoredRun, restore_run
from engine.workspace import Workspace

Progress = Callable[[str, int, int], None]
INDEX_NAMES = {"text": "captions", "image": "images", "shape": "shapes"}  # progress stage "index <name>"


@dataclass
class IndexReport:
    run: str
    dataset: str
    checkpoint: str
    modalities: dict[str, dict] = field(default_factory=dict)  # modality -> {action, count, added, path}
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)  # one line per image file that could not be read

    def as_dict(self) -> dict:
        return {"run": self.run, "dataset": self.dataset, "checkpoint": self.checkpoint,
                "modalities": self.modalities, "seconds": self.seconds, "skipped": self.skipped}


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
) -> IndexReport:
    t0 = time.perf_counter()
    restored = restored or restore_run(catalog, run, which, device)
    ds = catalog.require_dataset(dataset or restored.config.dataset)
    run_row = catalog.require_run(run)
    visual = "view" if ds.kind == "shape-text" else "image"
    report = IndexReport(run, ds.name, str(restored.checkpoint))
    progress = on_progress or (lambda stage, done, total: None)

    obs = {"text": catalog.observations(ds.id, "text"), "image": catalog.observations(ds.id, visual)}
    if ds.kind == "shape-text":  # shapes rendered at the model's input size (rendered now if missing)
        view_map = views_at_size(catalog, workspace, ds.name, model_image_size(restored.encoder),
                                 on_progress=lambda done, total: progress("render views", done, total))
        if view_map:
            obs["image"] = [(o, i, view_map.get(p, p), v) for o, i, p, v in obs["image"]]
    view_cache: dict[int, np.ndarray] = {}  # observation id -> embedding: views are encoded once for both indexes
    for modality in index_modalities(ds.kind):
        if modality == "shape":
            rows = obs["image"]
            ids = sorted({item_id for _, item_id, _, _ in rows})
        else:
            rows = obs[modality]
            ids = [obs_id for obs_id, _, _, _ in rows]
        existing = registry.find(catalog, run_row.id, ds.id, modality)
        path = registry.default_path(workspace.indexes, run, ds.name, modality)
        have: set[int] = set()
        if existing is not None and existing.checkpoint_sha256 == restored.checkpoint_sha256:
            try:
                index = registry.open_index(catalog, run_row.id, ds.id, modality, restored.checkpoint_sha256)
                have = {int(i) for i in index.ids()}
            except StaleIndexError:  # damaged or changed file: rebuild it from scratch
                have = set()
        new_ids = [i for i in ids if i not in have]
        if existing is not None and have and not new_ids:
            report.modalities[modality] = {"action": "up-to-date", "count": existing.count, "added": 0,
                                           "path": existing.path}
            continue
        vectors, labels = _encode(restored, modality, rows, set(new_ids), progress, view_cache, report.skipped)
        stage = f"index {INDEX_NAMES[modality]}"
        progress(stage, 0, len(labels))
        if have:
            row = registry.add_to_index(catalog, run_row.id, ds.id, modality, vectors, labels,
                                        restored.checkpoint_sha256,
                                        on_progress=lambda done, total, s=stage: progress(s, done, total))
            action = "added"
        else:
            row = registry.build_index(catalog, run_row.id, ds.id, modality, path, vectors, labels,
                                       restored.checkpoint_sha256, params,
                                       on_progress=lambda done, total, s=stage: progress(s, done, total))
            action = "built"
        report.modalities[modality] = {"action": action, "count": row.count, "added": len(labels),
                                       "path": row.path}
    progress("calibrate", 0, 1)
    for modality, entry in report.modalities.items():
        c = calib.ensure(catalog, run_row.id, ds.id, modality, visual, restored.checkpoint_sha256)
        entry["calibration"] = None if c is None else {"split": c.split, "queries": c.queries,
                                                       "threshold": round(c.threshold, 4)}
    progress("calibrate", 1, 1)
    report.seconds = time.perf_counter() - t0
    return report


def _encode(
    restored: RestoredRun, modality: str, rows: list[tuple[int, int, str, int | None]], wanted: set[int],
    progress: Progress, view_cache: dict[int, np.ndarray], skipped: list[str],
) -> tuple[np.ndarray, np.ndarray]:
    """The vectors and labels of the ``wanted`` rows. An image or view file that cannot be read is left out and
    said in ``skipped`` (the rest is indexed; the next ``trainer index`` tries it again)."""
    enc, dev = restored.encoder, restored.device

    def stage(name: str) -> Callable[[int, int], None]:
        return lambda done, total: progress(name, done, total)

    if modality == "text":
        chosen = [r for r in rows if r[0] in wanted]
        emb = encode_texts(enc, [r[2] for r in chosen], restored.tokenizer, dev, on_progress=stage("encode text"))
        return emb.numpy(), np.array([r[0] for r in chosen], dtype=np.int64)
    # images, or views (the shape index pools every view of the new items)
    chosen = [r for r in rows if (r[0] if modality == "image" else r[1]) in wanted]
    missing = [r for r in chosen if r[0] not in view_cache]
    if missing:
        emb, kept, problems = encode_image_files(enc, [r[2] for r in missing], restored.preprocess, dev,
                                                 on_progress=stage("encode images"))
        view_cache.update({missing[i][0]: e for i, e in zip(kept, emb.numpy(), strict=True)})
        skipped += [p for p in problems if p not in skipped]  # a view fails once for both indexes
    chosen = [r for r in chosen if r[0] in view_cache]
    vectors = np.stack([view_cache[r[0]] for r in chosen]) if chosen else np.empty((0, enc.embed_dim), np.float32)
    if modality == "image":
        return vectors, np.array([r[0] for r in chosen], dtype=np.int64)
    pooled, items = pool_shapes(enc, torch.from_numpy(vectors), torch.tensor([r[1] for r in chosen]))
    return pooled.numpy(), items.numpy().astype(np.int64)
