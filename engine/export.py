"""Embeddings out: a run's text, image and shape embeddings of one dataset in clip-retrieval's layout.

``<out>/<modality>/`` is an embeddings folder as ``clip-retrieval inference`` writes it (text-only or image-only,
since a dataset's captions and pictures are not one-to-one pairs): ``text_emb/text_emb_<n>.npy`` (captions) or
``img_emb/img_emb_<n>.npy`` (images, rendered views, or shapes: views pooled per item, in the same space), and
``metadata/metadata_<n>.parquet``, whose rows are the shard's embeddings in the same order. Shard numbers are
zero-padded to the digits of the shard count, as clip-retrieval pads them, so a name sort is the row order that
autofaiss and clip-retrieval's back end read. Metadata columns: ``id`` (the catalogue id the index labels the
vector with: an observation id, or the item id of a shape), ``item``, ``key``, ``modality``, ``caption`` (captions),
``image_path`` (the image or view file; a shape's mesh file), ``category``, ``split``, ``dataset``.

Vectors are unit rows (cosine = inner product), float16 (clip-retrieval's) or float32, always the exact (fp32)
embeddings of the run's model. They come from the run's hnswlib index of the modality where it was built from the
run's checkpoint on the exact path (``trainer index --exact``; read by label, in label order), else (no such index,
an index on the fast CPU path of :mod:`engine.models.inference`, or rows it lacks) the run's model encodes them.
Shards are written one at a time, each through a temporary file (:mod:`engine.atomic`), from one page of catalogue
rows (:func:`engine.catalog.browse.export_rows`), so memory stays flat however large the dataset. Fused embeddings
are not exported.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.atomic import replacing
from engine.catalog import Catalog, Dataset
from engine.catalog.browse import ExportRow, export_count, export_rows, item_views
from engine.data.images import model_image_size
from engine.data.rendering import views_at_size
from engine.errors import CrossfoldError
from engine.evaluate.encode import encode_image_files, encode_texts, pool_shapes
from engine.index import registry
from engine.index.ann import AnnIndex
from engine.index.errors import StaleIndexError
from engine.index.inputs import unit_rows
from engine.index.labels import SOURCE_MODALITIES
from engine.run.restore import RestoredRun, restore_run
from engine.workspace import Workspace

Progress = Callable[[str, int, int], None]
EXPORT_MODALITIES = ("text", "image", "shape")
DTYPES = ("float16", "float32")
SHARD_ROWS = 100_000  # rows per shard (a 512-d float32 shard: 200 MB in memory while it is written)
EMBEDDINGS_FOLDER = {"text": "text_emb", "image": "img_emb", "shape": "img_emb"}
METADATA_COLUMNS = ("id", "item", "key", "modality", "caption", "image_path", "category", "split", "dataset")
EXTRA_LINE = "trainer export writes Parquet with pyarrow, an extra of Crossfold: pip install 'crossfold[export]'"


@dataclass
class ExportReport:
    run: str
    dataset: str
    out: str
    dtype: str
    modalities: dict[str, dict] = field(default_factory=dict)  # modality -> {rows, shards, from_index, encoded, folder}
    skipped: list[str] = field(default_factory=list)  # one line per image file that could not be read

    def as_dict(self) -> dict:
        return {"run": self.run, "dataset": self.dataset, "out": self.out, "dtype": self.dtype,
                "modalities": self.modalities, "skipped": self.skipped}


def require_pyarrow() -> None:
    """One line naming the extra when pyarrow is missing (before any model is loaded)."""
    if importlib.util.find_spec("pyarrow") is None:
        raise CrossfoldError(EXTRA_LINE)


def dataset_modalities(ds: Dataset) -> tuple[str, ...]:
    return EXPORT_MODALITIES if ds.kind == "shape-text" else ("text", "image")


def export_run(
    workspace: Workspace, catalog: Catalog, run: str, out: str | Path, dataset: str | None = None,
    modalities: tuple[str, ...] | None = None, dtype: str = "float16", shard_rows: int = SHARD_ROWS,
    device: str = "auto", which: str = "best", on_progress: Progress | None = None,
) -> ExportReport:
    """Write the embeddings of ``modalities`` (default: every one the dataset has) under ``out``."""
    require_pyarrow()
    if dtype not in DTYPES:
        raise CrossfoldError(f"--dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    restored = restore_run(catalog, run, which, device)
    ds = catalog.require_dataset(dataset or restored.config.dataset)
    wanted = modalities or dataset_modalities(ds)
    lacking = [m for m in wanted if m not in dataset_modalities(ds)]
    if lacking:
        raise CrossfoldError(f"dataset {ds.name!r} ({ds.kind}) has no {lacking[0]} embeddings; it has "
                             f"{', '.join(dataset_modalities(ds))}")
    report = ExportReport(run, ds.name, str(out), dtype)
    source = _Source(workspace, catalog, restored, catalog.require_run(run).id, ds, report.skipped)
    for modality in wanted:
        report.modalities[modality] = _export_one(source, modality, Path(out) / modality, dtype, shard_rows,
                                                  on_progress or (lambda stage, done, total: None))
    return report


class _Source:
    """Where a modality's vectors come from: the run's index, else its model (with the shapes' views at the model's
    input size, rendered when first needed)."""

    def __init__(self, workspace: Workspace, catalog: Catalog, restored: RestoredRun, run_id: int, ds: Dataset,
                 skipped: list[str]) -> None:
        self.workspace, self.catalog, self.restored, self.run_id, self.ds = workspace, catalog, restored, run_id, ds
        self.skipped = skipped
        self._view_map: dict[str, str] | None = None

    def index(self, modality: str) -> AnnIndex | None:
        if registry.find(self.catalog, self.run_id, self.ds.id, modality) is None:
            return None
        try:
            return registry.open_index(self.catalog, self.run_id, self.ds.id, modality,
                                       self.restored.checkpoint_sha256)
        except StaleIndexError:  # built from another checkpoint, or its file changed: encode instead
            return None

    def picture(self, path: str) -> str:
        if self.ds.kind != "shape-text":
            return path
        if self._view_map is None:
            size = model_image_size(self.restored.encoder)
            self._view_map = views_at_size(self.catalog, self.workspace, self.ds.name, size)
        return self._view_map.get(path, path)

    @torch.no_grad()
    def encode(self, modality: str, rows: list[ExportRow]) -> tuple[np.ndarray, list[ExportRow]]:
        """Vectors of ``rows`` from the model, and the rows they are of (unreadable files left out, said in
        ``skipped``)."""
        r = self.restored
        if modality == "text":
            return encode_texts(r.encoder, [row.value for row in rows], r.tokenizer, r.device).numpy(), rows
        if modality == "image":
            emb, kept, problems = encode_image_files(r.encoder, [self.picture(row.value) for row in rows],
                                                     r.preprocess, r.device)
            self.skipped.extend(problems)
            return emb.numpy(), [rows[i] for i in kept]
        views = item_views(self.catalog, [row.id for row in rows])
        emb, kept, problems = encode_image_files(r.encoder, [self.picture(p) for _, p in views], r.preprocess,
                                                 r.device)
        self.skipped.extend(problems)
        if not kept:
            return np.empty((0, r.encoder.embed_dim), np.float32), []
        pooled, items = pool_shapes(r.encoder, emb, torch.tensor([views[i][0] for i in kept]))
        by_id = {row.id: row for row in rows}
        return pooled.numpy(), [by_id[int(i)] for i in items.tolist()]


def _export_one(source: _Source, modality: str, folder: Path, dtype: str, shard_rows: int,
                progress: Progress) -> dict:
    catalog, ds = source.catalog, source.ds
    sources = None if modality == "shape" else SOURCE_MODALITIES[modality]
    total = export_count(catalog, ds.id, sources)
    shards = max(1, -(-total // shard_rows))
    width = len(str(shards))  # clip-retrieval's padding: the digits of the shard count
    emb_name = EMBEDDINGS_FOLDER[modality]
    _clear(folder, emb_name)
    index = source.index(modality)
    labels = index.ids() if index is not None else np.empty(0, np.int64)
    stage = f"export {modality}"
    progress(stage, 0, total)
    done = from_index = encoded = written = 0
    after = -1
    while True:
        page = export_rows(catalog, ds.id, sources, after, shard_rows)
        if not page and written:
            break
        vectors, rows, n_index = _vectors(source, modality, page, index, labels)
        from_index, encoded = from_index + n_index, encoded + len(rows) - n_index
        _write_shard(folder, emb_name, str(written).zfill(width), vectors.astype(dtype), _table(rows, modality, ds))
        written += 1
        done += len(page)
        progress(stage, min(done, total), total)
        if len(page) < shard_rows:
            break
        after = page[-1].id
    progress(stage, total, total)
    return {"rows": from_index + encoded, "shards": written, "from_index": from_index, "encoded": encoded,
            "folder": str(folder)}


def _vectors(source: _Source, modality: str, rows: list[ExportRow], index: AnnIndex | None,
             labels: np.ndarray) -> tuple[np.ndarray, list[ExportRow], int]:
    """One shard's unit vectors and rows (in id order), and how many came from the index."""
    dim = source.restored.encoder.embed_dim
    if not rows:
        return np.empty((0, dim), np.float32), rows, 0
    ids = np.array([row.id for row in rows], dtype=np.int64)
    present = np.isin(ids, labels)
    vectors = np.empty((len(rows), dim), np.float32)
    keep = np.ones(len(rows), dtype=bool)
    if present.any() and index is not None:
        vectors[present] = index.vectors(ids[present])
    missing = [rows[i] for i in np.flatnonzero(~present)]
    if missing:
        emb, got = source.encode(modality, missing)
        try:  # the model's vectors as the index holds them: unit rows (the index's own are already)
            emb = unit_rows(emb, dim, f"{modality} embeddings") if len(got) else emb
        except ValueError as exc:
            raise CrossfoldError(f"{source.restored.checkpoint}: {exc}; the weights are damaged or diverged") from exc
        position = {row.id: i for i, row in enumerate(rows)}
        keep[[position[row.id] for row in missing]] = False
        for vector, row in zip(emb, got, strict=True):
            vectors[position[row.id]] = vector
            keep[position[row.id]] = True
    return vectors[keep], [row for row, k in zip(rows, keep, strict=True) if k], int(present.sum())


def _table(rows: list[ExportRow], modality: str, ds: Dataset) -> Any:
    import pyarrow as pa

    text = modality == "text"
    files = [] if text else [_file(row.value, ds.root) if modality == "shape" else row.value for row in rows]
    columns = {
        "id": pa.array([row.id for row in rows], pa.int64()),
        "item": pa.array([row.item for row in rows], pa.int64()),
        "key": pa.array([row.key for row in rows], pa.string()),
        "modality": pa.array([modality] * len(rows), pa.string()),
        "caption": pa.array([row.value for row in rows] if text else [None] * len(rows), pa.string()),
        "image_path": pa.array([None] * len(rows) if text else files, pa.string()),
        "category": pa.array([row.category for row in rows], pa.string()),
        "split": pa.array([row.split for row in rows], pa.string()),
        "dataset": pa.array([ds.name] * len(rows), pa.string()),
    }
    return pa.table(columns)


def _file(path: str, root: str | None) -> str | None:
    """A shape's mesh file, absolute where the dataset has a root (asset paths may be stored relative to it)."""
    if not path:
        return None
    return str(path if Path(path).is_absolute() or not root else Path(root) / path)


def _clear(folder: Path, emb_name: str) -> None:
    """Remove the shards an earlier export left in ``folder`` (only files named as ours), so none outlives it."""
    for pattern in (f"{emb_name}/{emb_name}_*.npy", "metadata/metadata_*.parquet"):
        for old in folder.glob(pattern):
            old.unlink()


def _write_shard(folder: Path, emb_name: str, number: str, vectors: np.ndarray, table: Any) -> None:
    import pyarrow.parquet as pq

    with replacing(folder / emb_name / f"{emb_name}_{number}.npy") as tmp, open(tmp, "wb") as f:
        np.save(f, vectors)
    with replacing(folder / "metadata" / f"metadata_{number}.parquet") as tmp:
        pq.write_table(table, tmp)
