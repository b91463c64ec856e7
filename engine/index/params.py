"""Parameters of an hnswlib index: graph degree, build effort, search effort and metric.

Defaults measured with ``bench/search.py`` (256-d, k=10, single-thread queries, 2-core Xeon):
M=32 and ef_construction=200 build a graph good enough that the search-time ``ef`` alone sets the
recall/latency trade-off. On embedding-like data (``--data lowrank``: 32-d latent + noise) ef=128 gives
recall@10 0.9996 at 10k and 0.989 at 100k (~1 ms CPU per query); ef=256 gives 0.9986 at 100k. Isotropic random
vectors (the default bench data, no structure at all) are far harder: 0.98 needs ef~256 at 10k and ef~1600-3200
at 100k, where exact search is as fast. Raise ``ef`` for indexes of millions of vectors. ``ef`` is not stored
in hnswlib's file (nmslib/hnswlib#316): it lives in the catalogue row (``params["ef"]``) and is set again after
every load.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

SPACES = ("ip",)  # inner product on L2-normalised float32 vectors (score = cosine)

DEFAULT_M = 32
DEFAULT_EF_CONSTRUCTION = 200
DEFAULT_EF = 128
MIN_EF = 64


@dataclass(frozen=True)
class IndexParams:
    """``M``: links per node (memory ~ 2*M*4 bytes per vector at level 0); ``ef_construction``: candidate
    list size while building; ``ef``: candidate list size while searching (raised to ``k * fold`` when a
    query asks for more); ``space``: the metric, only ``"ip"``."""

    M: int = DEFAULT_M
    ef_construction: int = DEFAULT_EF_CONSTRUCTION
    ef: int = DEFAULT_EF
    space: str = "ip"

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise ValueError(f"index space must be one of {SPACES}, not {self.space!r}")
        if not 2 <= self.M <= 1024:
            raise ValueError(f"index M must be in [2, 1024], not {self.M}")
        if self.ef_construction < 1:
            raise ValueError(f"index ef_construction must be >= 1, not {self.ef_construction}")
        if self.ef < 1:
            raise ValueError(f"index ef must be >= 1, not {self.ef}")

    def search_ef(self, k: int, fold: int = 1) -> int:
        """The ``ef`` a query for ``k`` results (times ``fold`` observations per item) runs with."""
        return max(self.ef, MIN_EF, int(k) * max(1, int(fold)))

    def with_ef(self, ef: int) -> IndexParams:
        return replace(self, ef=int(ef))

    def to_dict(self) -> dict[str, Any]:
        """The keys the catalogue row keeps in ``params`` (``space`` has its own column too)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, space: str | None = None) -> IndexParams:
        """From a row's ``params`` (unknown keys such as ``file_sha256`` are ignored; missing ones default)."""
        data = dict(data or {})
        kwargs: dict[str, Any] = {}
        for key in ("M", "ef_construction", "ef"):
            if data.get(key) is not None:
                kwargs[key] = int(data[key])
        kwargs["space"] = str(space or data.get("space") or "ip")
        return cls(**kwargs)
