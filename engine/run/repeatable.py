"""Repeatable runs (``--deterministic``): the same command on the same machine and software gives the same bits.

Three things make two runs of one command differ, and ``--deterministic`` fixes each for the whole job:

* the number of torch intra-op threads (a sum split over more threads is added in another order): without the
  flag it follows this job's share of the cores, which other Crossfold jobs change as they start and end
  (:mod:`engine.threads`); with it, it is ``--threads N`` or every core this process may use
  (:func:`engine.threads.available_cores`, capped by a user's ``OMP_NUM_THREADS``), whatever else runs, and it
  never changes while the job runs;
* kernels that pick their algorithm, or add in an order, at run time: ``torch.use_deterministic_algorithms(True)``
  (an operation without a deterministic implementation then raises ``RuntimeError: ... does not have a
  deterministic implementation``) and, on CUDA, cuBLAS's fixed workspace (``CUBLAS_WORKSPACE_CONFIG``);
* a parallel hnswlib build (an index built with one thread is the same graph every time).

The loader's order already follows the seed alone (:mod:`engine.data.multifold`). What can still differ (another
CPU, another torch, a GPU kernel without a deterministic implementation) is said in README's "Repeatable runs".
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from engine.threads import available_cores, user_thread_cap

#: cuBLAS's fixed workspace, which makes its results repeatable (CUDA >= 10.2; torch asks for it by this name).
CUBLAS_WORKSPACE = ("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

#: What the ``started`` event of a run without ``--deterministic`` says (and ``trainer train`` prints).
SHARE_NOTE = ("torch's threads follow this job's share of the cores, which changes as other jobs start and end: "
              "the last bits of the weights and metrics may differ between runs of the same command "
              "(--deterministic fixes them)")


def fixed_threads(requested: int | None) -> int:
    """The intra-op threads of a deterministic job: ``requested`` (``--threads``), else every core this process may
    use (capped by the user's ``OMP_NUM_THREADS``), not the share that other jobs change."""
    if requested:
        return int(requested)
    cores, cap = available_cores(), user_thread_cap()
    return min(cores, cap) if cap else cores


@contextlib.contextmanager
def deterministic(threads: int) -> Iterator[None]:
    """torch with ``threads`` intra-op threads and deterministic algorithms (and cuBLAS's fixed workspace) for the
    block; torch's previous settings come back after it (a test runs several jobs in one process)."""
    import torch

    key, value = CUBLAS_WORKSPACE
    os.environ.setdefault(key, value)  # read by cuBLAS when its handle is made: before the first CUDA matmul
    previous = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
                torch.backends.cudnn.benchmark)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.set_num_threads(previous[0])
        torch.use_deterministic_algorithms(previous[1])
        torch.backends.cudnn.benchmark = previous[2]
