"""Two runs, one query, side by side: which one finds what, and where they agree.

:class:`ABCompare` has a run selector and a :class:`~app.widgets.result_grid.ResultGrid` per side and runs the
page's query on both through the :class:`~app.search_worker.SearchService` (channels ``<prefix>A`` and
``<prefix>B``: a newer query supersedes the older one on each side). Once both sides have answered the same
query, every card is marked with its rank in the other run's list ("B #3" or "not in B") and the header says
how many items the two lists share.

Signals: ``item_activated(int)``, ``more_like_this(int)`` (from either grid), ``build_requested(object)`` (an
:class:`~app.search_worker.IndexNeeded` whose "Build index" button was clicked), ``compared(int, int)`` (hits of
A and B, once both sides show the same query's answers).
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.search_worker import IndexNeeded, RunList, SearchQuery, SearchService
from app.thumbnails import ThumbnailCache
from app.widgets.result_grid import ResultGrid
from engine.search import SearchResult

SIDE_COLOURS = {"A": "#1a73e8", "B": "#9334e6"}


def default_b(runs: RunList, target: str, a: str | None) -> str | None:
    """Side B's run: another run on A's dataset when there is one (a comparison of two runs on one dataset);
    of those, the ones with an index for ``target`` first, the best validation score first (the newest among
    equals or unscored ones); else the newest other run; else ``a``."""
    others = [r for r in runs.runs if r.name != a]  # newest first
    first = runs.get(a) if a else None
    same = [r for r in others if first is not None and r.dataset == first.dataset]
    pool = same or others
    ready = [r for r in pool if target in r.targets]
    if ready:
        return max(ready, key=lambda r: (r.score if r.score is not None else float("-inf"),
                                         -ready.index(r))).name
    return pool[0].name if pool else a


class _Side(QWidget):
    def __init__(self, name: str, thumbnails: ThumbnailCache, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.result: SearchResult | None = None
        self.query: SearchQuery | None = None  # the query of the answer shown (or awaited)
        self.need: IndexNeeded | None = None
        self.token = 0
        badge = QLabel(name)
        badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        badge.setFixedSize(24, 24)
        badge.setStyleSheet(f"background: {SIDE_COLOURS[name]}; color: white; border-radius: 12px; font-weight: 600;")
        self.run_combo = QComboBox()
        self.run_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.run_combo.setMinimumContentsLength(18)
        self.run_combo.setToolTip(f"Run {name}")
        self.status = QLabel()
        self.status.setStyleSheet("color: #5f6368;")
        self.status.setWordWrap(True)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.build_button = QPushButton("Build index")
        self.build_button.hide()
        self.grid = ResultGrid(thumbnails, compact=True)

        head = QHBoxLayout()
        head.setContentsMargins(0, 0, 0, 0)
        head.addWidget(badge)
        head.addWidget(self.run_combo, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(head)
        row = QHBoxLayout()
        row.addWidget(self.status, 1)
        row.addWidget(self.build_button)
        layout.addLayout(row)
        layout.addWidget(self.grid, 1)

    @property
    def run(self) -> str | None:
        data = self.run_combo.currentData()
        return str(data) if data else None


class ABCompare(QWidget):
    item_activated = Signal(int)
    more_like_this = Signal(int)
    build_requested = Signal(object)
    compared = Signal(int, int)

    def __init__(self, service: SearchService, thumbnails: ThumbnailCache, prefix: str = "ab-",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.prefix = prefix
        self.query: SearchQuery | None = None  # the page's query (its run is replaced by each side's)
        self.runs = RunList(())
        self.target = "shapes"
        self.sides = {name: _Side(name, thumbnails) for name in ("A", "B")}
        self.summary = QLabel()
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        swap = QPushButton("Swap A ⇄ B")
        swap.setToolTip("Exchange the two runs")
        swap.clicked.connect(self.swap)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        for side in self.sides.values():
            splitter.addWidget(side)
            side.run_combo.activated.connect(lambda _i, s=side: self._search_side(s))
            side.grid.item_activated.connect(self.item_activated)
            side.grid.more_like_this.connect(self.more_like_this)
            side.build_button.clicked.connect(lambda _c=False, s=side: s.need and self.build_requested.emit(s.need))
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(swap)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)

        service.finished.connect(self._finished)
        service.needs_index.connect(self._needs_index)
        service.failed.connect(self._failed)
        self._summarise()

    # ---- public -----------------------------------------------------------------------------
    def side(self, name: str) -> _Side:
        return self.sides[name]

    def grid(self, name: str) -> ResultGrid:
        return self.sides[name].grid

    def set_runs(self, runs: RunList, target: str, a: str | None = None, b: str | None = None) -> None:
        """Fill the selectors (labels say which runs lack the target's index); keep the choices where possible."""
        self.runs, self.target = runs, target
        names = runs.names()
        opening = a is not None  # the page opens the comparison on its run: B joins it on its dataset
        a = a or self.sides["A"].run or runs.default_for(target)
        if b is None:
            b = self.sides["B"].run
        if b is None or b == a or (opening and not self._same_dataset(a, b)):
            b = default_b(runs, target, a)  # another run: on A's dataset, the best that can be searched
        for side, want in ((self.sides["A"], a), (self.sides["B"], b)):
            combo = side.run_combo
            combo.blockSignals(True)
            combo.clear()
            for choice in runs.runs:
                combo.addItem(choice.label(target), choice.name)
                if choice.tooltip(target):
                    combo.setItemData(combo.count() - 1, choice.tooltip(target), Qt.ItemDataRole.ToolTipRole)
            combo.setCurrentIndex(names.index(want) if want in names else (0 if names else -1))
            combo.blockSignals(False)

    def _same_dataset(self, a: str | None, b: str | None) -> bool:
        first, second = self.runs.get(a or ""), self.runs.get(b or "")
        return first is not None and second is not None and first.dataset == second.dataset

    def set_run(self, name: str, run: str) -> None:
        combo = self.sides[name].run_combo
        i = combo.findData(run)
        if i >= 0 and i != combo.currentIndex():
            combo.setCurrentIndex(i)
            self._search_side(self.sides[name])

    def set_query(self, query: SearchQuery | None) -> None:
        """Search both runs with ``query`` (None or empty: clear both sides)."""
        self.query = query
        for side in self.sides.values():
            self._search_side(side)

    def refresh(self) -> None:
        self.set_query(self.query)

    def swap(self) -> None:
        a, b = self.sides["A"].run, self.sides["B"].run
        if a is None or b is None:
            return
        for name, run in (("A", b), ("B", a)):
            combo = self.sides[name].run_combo
            combo.setCurrentIndex(max(0, combo.findData(run)))
        self.refresh()

    def busy(self) -> bool:
        return any(self.service.busy(self.prefix + n) for n in self.sides)

    def stop(self) -> None:
        for name in self.sides:
            self.service.cancel(self.prefix + name)

    # ---- searching --------------------------------------------------------------------------
    def _search_side(self, side: _Side) -> None:
        channel = self.prefix + side.name
        q = self.query
        side.need = None
        side.build_button.hide()
        if q is None or q.empty:
            self.service.cancel(channel)
            side.result, side.query = None, None
            side.grid.clear("Type a query above to compare two runs.")
            side.status.setText("")
            self._summarise()
            return
        run = side.run
        if run is None:
            side.grid.clear("No finished run to compare.")
            self._summarise()
            return
        side.query = q.with_run(run)
        side.token = self.service.search(channel, side.query)
        side.status.setText("Searching…" if self.service.searcher(run) else f"Loading run {run}…")
        self._summarise()

    def _side_of(self, token: int, channel: str) -> _Side | None:
        if not channel.startswith(self.prefix):
            return None
        side = self.sides.get(channel[len(self.prefix):])
        return side if side is not None and side.token == token else None

    def _finished(self, token: int, channel: str, result: SearchResult) -> None:
        side = self._side_of(token, channel)
        if side is None:
            return
        side.result = result
        side.grid.set_result(result)
        total = sum(result.timings_ms.values())
        side.status.setText(f"{len(result.hits)} results · {result.dataset} · {total:.0f} ms")
        self._summarise()

    def _needs_index(self, token: int, channel: str, need: IndexNeeded) -> None:
        side = self._side_of(token, channel)
        if side is None:
            return
        side.result, side.need = None, need
        side.grid.clear(need.message)
        side.status.setText(need.message)
        side.build_button.setVisible(need.dataset is not None)
        self._summarise()

    def _failed(self, token: int, channel: str, message: str) -> None:
        side = self._side_of(token, channel)
        if side is None:
            return
        side.result = None
        first = message.splitlines()[0] if message else "the search failed"
        side.grid.clear(first)
        side.status.setText(f"Search failed: {first}")
        self._summarise()

    # ---- agreement --------------------------------------------------------------------------
    def _summarise(self) -> None:
        a, b = self.sides["A"], self.sides["B"]
        both = (a.result is not None and b.result is not None and a.query is not None and b.query is not None
                and a.query.with_run("") == b.query.with_run("") and not self.busy())
        if not both:
            a.grid.result_model.set_peer("B", None)
            b.grid.result_model.set_peer("A", None)
            self.summary.setText("<b>A/B</b>: the same query on two runs, side by side.")
            return
        ranks_a = {h.item_id: h.rank for h in a.result.hits}
        ranks_b = {h.item_id: h.rank for h in b.result.hits}
        a.grid.result_model.set_peer("B", ranks_b)
        b.grid.result_model.set_peer("A", ranks_a)
        if a.result.dataset != b.result.dataset:
            self.summary.setText(f"<b>A/B</b>: the runs searched different datasets ({html.escape(a.result.dataset)} "
                                 f"and {html.escape(b.result.dataset)}): no items in common to compare")
            self.compared.emit(len(a.result.hits), len(b.result.hits))
            return
        shared = set(ranks_a) & set(ranks_b)
        k = max(len(ranks_a), len(ranks_b))
        top1 = (a.result.hits[0].item_id == b.result.hits[0].item_id) if a.result.hits and b.result.hits else False
        agree = "the same first result" if top1 else "different first results"
        self.summary.setText(f"<b>A/B</b>: {len(shared)} of the top {k} items in both lists · {agree}")
        self.compared.emit(len(a.result.hits), len(b.result.hits))
