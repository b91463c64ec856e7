"""What every build, add and query does with its arguments first: vectors become unit float32 rows (checked for
shape, NaN, infinity and zero rows), and a thread count defaults to this job's share of the cores."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.threads import job_cores


def thread_count(num_threads: int | None) -> int:
    """``num_threads`` when positive, else this job's share of the cores (all of them unless other Crossfold
    jobs run: :func:`engine.threads.job_cores`)."""
    return job_cores() if num_threads is None or num_threads <= 0 else int(num_threads)


def unit_rows(vectors: Any, dim: int | None, what: str) -> np.ndarray:
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim == 1 and what == "queries":
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array [n, dim], got shape {x.shape}")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"{what} have dimension {x.shape[1]}, the index has {dim}")
    if x.shape[1] == 0:
        raise ValueError(f"{what} have dimension 0")
    squares = np.einsum("ij,ij->i", x, x)  # NaN/inf anywhere in a row shows here
    if not np.isfinite(squares).all():
        raise ValueError(f"{what} contain NaN or infinite values")
    if (squares == 0).any():
        raise ValueError(f"{what} contain a zero vector (no direction to compare by inner product)")
    return np.ascontiguousarray(x / np.sqrt(squares)[:, None], dtype=np.float32)
