"""Parameters of an hnswlib index: graph degree, build effort, search effort and metric.

Defaults were picked with ``bench/search.py`` (random unit 256-d vectors, the hardest case for HNSW):
M=32 and ef_construction=200 build a graph good enough that the search-time ``ef`` alone sets the
recall/latency trade-off. ``ef`` is not stored in hnswlib's file (nmslib/hnswlib#316): it lives in the
catalogue row (``params["ef"]``) and is set again after every load.
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
