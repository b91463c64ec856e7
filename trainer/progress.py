"""tqdm progress bars for the CLI: shown on a terminal, silent when piped (e.g. under the app)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm


def interactive() -> bool:
    return sys.stderr.isatty()


@contextmanager
def bar(desc: str, unit: str = "it", enabled: bool | None = None) -> Iterator[Callable[[int, int | None], None]]:
    """A callback ``(done, total)`` that drives one tqdm bar."""
    show = interactive() if enabled is None else enabled
    pbar = tqdm(desc=desc, unit=unit, disable=not show, file=sys.stderr, dynamic_ncols=True)
    try:

        def update(done: int, total: int | None) -> None:
            if total is not None and pbar.total != total:
                pbar.total = total
            pbar.n = done
            pbar.refresh()

        yield update
    finally:
        pbar.close()


@contextmanager
def staged_bars(enabled: bool | None = None) -> Iterator[Callable[[str, int, int], None]]:
    """A callback ``(stage, done, total)`` that opens one bar per stage."""
    show = interactive() if enabled is None else enabled
    bars: dict[str, tqdm] = {}
    try:

        def update(stage: str, done: int, total: int) -> None:
            b = bars.get(stage)
            if b is None:
                b = bars[stage] = tqdm(desc=stage, total=total, disable=not show, file=sys.stderr,
                                       dynamic_ncols=True)
            b.total = total
            b.n = done
            b.refresh()

        yield update
    finally:
        for b in bars.values():
            b.close()


def json_progress(stage: str) -> Callable[[int, int | None], None]:
    """For ``--events -``: progress as JSON lines on stdout (what the app reads)."""
    from engine.job_events import JobProgress, write_job_event

    def update(done: int, total: int | None) -> None:
        write_job_event(JobProgress(stage=stage, done=done, total=total))

    return update
