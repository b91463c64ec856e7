"""hnswlib indexes: one per (run, dataset, modality), inner product on L2-normalised float32 vectors.

``store``: build / save / load / query one index file (atomic writes, checks before hnswlib reads a file).
``registry``: the catalogue rows (record, find, verify, open, build, incremental add).
``params``: :class:`IndexParams`. ``labels``: labels are catalogue ids (observation ids for ``text`` and
``image``, item ids for ``shape``).
"""

from engine.index.labels import INDEX_MODALITIES, LABEL_KIND
from engine.index.params import IndexParams
from engine.index.store import (
    AnnIndex,
    CorruptIndexError,
    IndexManifest,
    MissingIndexError,
    StaleIndexError,
    add,
    build,
    load,
    query,
    save,
    verify,
)

__all__ = [
    "INDEX_MODALITIES",
    "LABEL_KIND",
    "AnnIndex",
    "CorruptIndexError",
    "IndexManifest",
    "IndexParams",
    "MissingIndexError",
    "StaleIndexError",
    "add",
    "build",
    "load",
    "query",
    "save",
    "verify",
]
