"""The columns of a table of runs and the text of each cell: one definition for the app's runs table and
``trainer runs list``.

:data:`COLUMNS` names them in order; :func:`cell` writes one for a :class:`~engine.runs.state.RunState` (an empty
string when there is nothing to show, ``-`` for a metric not measured). Times are local, to the minute.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from engine.fmt import pct
from engine.metric_keys import HEADLINE, mean_key
from engine.runs.state import RunState


def when(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp)) if stamp else ""


def _best(s: RunState) -> str:
    step, score = s.best
    return f"★ {pct(score)} @{step}" if step is not None else ""


def _test(metric: str) -> Callable[[RunState], str]:
    return lambda s: pct(s.latest_metrics("test").get(metric))


CELLS: dict[str, Callable[[RunState], str]] = {
    "Run": lambda s: s.name,
    "Loss": lambda s: s.loss or str(s.config.get("loss", "")),
    "Dataset": lambda s: s.dataset or str(s.config.get("dataset", "")),
    "Status": lambda s: s.display_status,
    "Progress": lambda s: f"{s.step}/{s.total}" if s.total else "",
    "Best": _best,
    "Val R@1": lambda s: pct(s.best_val_metrics().get(mean_key(HEADLINE))),
    "Test R@1": _test(mean_key(HEADLINE)),
    "Test R@5": _test(mean_key("R@5")),
    "NDCG@5": _test(mean_key("NDCG@5")),
    "Started": lambda s: when(s.started_at),
}
COLUMNS = tuple(CELLS)


def cell(state: RunState, column: str) -> str:
    return CELLS[column](state)
