"""hnswlib indexes: one per (run, dataset, modality), inner product on L2-normalised float32 vectors.

One index file, in modules named for what they hold:
``ann``: :class:`AnnIndex` (an index in memory), :func:`build`, :func:`add`. ``queries``: :func:`query` (k nearest,
optionally among allowed ids). ``publish``: write a checked temporary file and rename it over the published one
(:func:`save`). ``loading``: :func:`verify` a file against its manifest, then :func:`load` it. ``hnsw_file``:
hnswlib's file read without hnswlib (header, layout, a map of its vectors). ``checksums``: a file's sha256,
remembered in-process. ``manifest``: :class:`IndexManifest` (what a file must be). ``errors``: the refusals.
``inputs``: vectors as unit rows; thread counts.

``registry``: the catalogue rows (record, find, verify, open, build, incremental add). ``calibration``: scores
of true matches and non-matches, so a hit's score becomes a confidence.
``params``: :class:`IndexParams`. ``labels``: labels are catalogue ids (observation ids for ``text`` and
``image``, item ids for ``shape``).
"""

from engine.index.ann import AnnIndex, add, build
from engine.index.errors import CorruptIndexError, MissingIndexError, StaleIndexError
from engine.index.labels import INDEX_MODALITIES, LABEL_KIND
from engine.index.loading import load, verify
from engine.index.manifest import IndexManifest
from engine.index.params import IndexParams
from engine.index.publish import save
from engine.index.queries import query

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
