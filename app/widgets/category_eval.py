"""The by-category part of the Training page's Evaluation tab: the newest ``trainer eval --by-category`` of one run
(zero-shot classification by the items' categories), per dataset and split when there are several.

What it shows: a headline (top-1, top-5, the mean per category, chance, and what the numbers rest on: items,
categories, items left out for having no category), a table of the categories best first (items, top-1, top-5),
and the most confused pairs (true -> predicted, items). A run without one gets a one-line hint naming the command.
Everything comes from the run's state in memory (:attr:`engine.runs.state.RunState.category_evals`): no I/O.

``CategoryEvalView(states)``: ``states()`` gives the runs shown (the page's selection; the view is for one).
Signal: ``mislabelledRequested(str true, str predicted)`` ("Browse mislabelled items…": both ``""``; a confused
pair double-clicked: that pair): the page opens :class:`~app.widgets.mislabelled_browser.MislabelledBrowser` on
the wrong items of :meth:`CategoryEvalView.current`. The button is off when the evaluation lists none.
"""

from __future__ import annotations

import html
import shlex
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.runs import RunState
from app.widgets.labels import rate
from engine.fmt import pct
from engine.metric_keys import (
    CATEGORY_COUNT,
    CATEGORY_ITEMS,
    CATEGORY_MEAN_TOP1,
    CATEGORY_TOP1,
    CATEGORY_TOP5,
    CATEGORY_UNLABELLED,
)
from engine.run.events import CategoryEval

CATEGORY_HEADERS = ("Category", "Items", "Top-1 %", "Top-5 %")
CATEGORY_TIPS = (
    "The items' category in the catalogue (a folder import's sub-folder, a ShapeNet synset, …)",
    "How many items of the split have this category: the rates of the row rest on them",
    "The share of this category's items whose own category ranked first among all the dataset's categories",
    "The share of this category's items whose own category ranked in the first five",
)
CONFUSION_HEADERS = ("True category", "Predicted", "Items")


def plural(n: int, word: str, words: str = "") -> str:
    """``1 item``, ``2 items`` (``words``: the plural when it is not ``word`` + s)."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {words or word + 's'}"


def _int(value: object) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def category_rows(event: CategoryEval) -> list[tuple[str, int, float | None, float | None]]:
    """``(category, items, top-1, top-5)``, best top-1 first, then by name: the order the CLI prints."""
    rows = []
    for name, entry in event.per_category.items():
        top1, top5 = entry.get(CATEGORY_TOP1), entry.get(CATEGORY_TOP5)
        rows.append((name, _int(entry.get("count")), top1, top5))
    return sorted(rows, key=lambda r: (-(r[2] if r[2] is not None else -1.0), r[0]))


def confusion_rows(event: CategoryEval) -> list[tuple[str, str, int]]:
    """``(true, predicted, items)``, most first."""
    pairs = [(true, predicted, int(n)) for true, row in event.confusions.items() for predicted, n in row.items()]
    return sorted(pairs, key=lambda p: (-p[2], p[0], p[1]))


def headline(event: CategoryEval) -> str:
    """Top-1, top-5, mean per category and chance, then what they rest on."""
    m = event.metrics
    items, categories, unlabelled = (_int(m.get(k)) for k in (CATEGORY_ITEMS, CATEGORY_COUNT, CATEGORY_UNLABELLED))
    with_items = len(event.per_category)
    chance = f" (chance {pct(1 / categories)})" if categories else ""
    rates = (f"<b>top-1 {pct(m.get(CATEGORY_TOP1))}</b>{chance} · top-5 {pct(m.get(CATEGORY_TOP5))} · "
             f"mean per category {pct(m.get(CATEGORY_MEAN_TOP1))}")
    spread = (f" ({with_items:,} with items in {html.escape(event.split)})" if with_items and with_items != categories
              else "")
    left_out = f"{unlabelled:,} unlabelled left out" if unlabelled else "none unlabelled"
    return f"{rates}<br>{plural(items, 'item')}, {plural(categories, 'category', 'categories')}{spread}, {left_out}"


def source_line(event: CategoryEval) -> str:
    """Which checkpoint and prompts the numbers come from (the dataset and split are the choice's)."""
    checkpoint = f" ({Path(event.checkpoint).name})" if event.checkpoint else ""
    prompts = f"prompts from {Path(event.prompts).name}" if event.prompts else "the default prompts"
    return f"step {event.step}{checkpoint}, {prompts}"


def hint(run: str) -> str:
    return (f"None yet: run <code>trainer eval --run {html.escape(shlex.quote(run))} --by-category</code> "
            f"(<code>--dataset D --split S</code> to choose what it ranks).")


class CategoryEvalView(QWidget):
    """Attributes: ``choice`` (dataset / split), ``headline``, ``source``, ``hint``, ``category_caption``,
    ``category_table``, ``confusion_caption``, ``confusion_table``, ``browse_button``."""

    mislabelledRequested = Signal(str, str)

    def __init__(self, states: Callable[[], list[RunState]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.states = states
        self._shown: tuple[str, int] | None = None
        self.title = QLabel("<b>By category</b> (zero-shot classification)")
        self.choice = QComboBox()
        self.choice.setToolTip("The dataset and split evaluated; each shows its newest evaluation")
        self.choice.currentIndexChanged.connect(self._show_choice)
        self.headline = QLabel("")
        self.headline.setTextFormat(Qt.TextFormat.RichText)
        self.headline.setWordWrap(True)
        self.headline.setToolTip(
            "Top-1 / top-5: the share of items whose own category ranked first / in the first five, against every "
            "category of the dataset. Mean per category: the mean of the categories' top-1 below (each category "
            "counts the same, however many items it has). Chance: top-1 when guessing.")
        self.source = QLabel("")
        self.hint = QLabel("")
        self.hint.setTextFormat(Qt.TextFormat.RichText)
        self.hint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hint.setWordWrap(True)
        self.category_table = self._table(CATEGORY_HEADERS, CATEGORY_TIPS)
        self.confusion_caption = QLabel("")
        self.confusion_caption.setWordWrap(True)
        self.confusion_table = self._table(CONFUSION_HEADERS, ("", "The category ranked first instead",
                                                               "How many items of the true category"))
        self.confusion_table.doubleClicked.connect(self._pair_double_clicked)
        self.browse_button = QPushButton("Browse mislabelled items…")
        self.browse_button.clicked.connect(lambda: self.mislabelledRequested.emit("", ""))
        top = QHBoxLayout()
        top.addWidget(self.title)
        top.addWidget(self.choice)
        top.addWidget(self.source, 1)
        self.category_caption = QLabel("Categories, best top-1 first")
        left = QVBoxLayout()
        left.addWidget(self.category_caption)
        left.addWidget(self.category_table)
        right = QVBoxLayout()
        right.addWidget(self.confusion_caption)
        right.addWidget(self.confusion_table)
        right.addWidget(self.browse_button, 0, Qt.AlignmentFlag.AlignRight)  # the wrong items, one by one
        tables = QHBoxLayout()
        tables.addLayout(left, 3)
        tables.addLayout(right, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.headline)
        layout.addWidget(self.hint)
        layout.addLayout(tables, 1)
        layout.addStretch(0)  # takes the room only while the tables are hidden: the hint stays under the title
        self._evals: list[CategoryEval] = []

    @staticmethod
    def _table(headers: tuple[str, ...], tips: tuple[str, ...]) -> QTableWidget:
        table = QTableWidget(0, len(headers))
        for c, (text, tip) in enumerate(zip(headers, tips, strict=True)):
            item = QTableWidgetItem(text)
            item.setToolTip(tip)
            table.setHorizontalHeaderItem(c, item)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.verticalHeader().setVisible(False)
        table.verticalHeader().setDefaultSectionSize(22)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        return table

    # ---- what is shown
    def _signature(self) -> tuple[str, int] | None:
        states = self.states()
        return (states[0].name, len(states[0].category_evals)) if len(states) == 1 else None

    def has_new(self) -> bool:
        """The run shown has by-category evaluations this view has not shown yet (or the run changed)."""
        return self._signature() != self._shown

    def newest(self) -> list[CategoryEval]:
        """The newest evaluation of each dataset / split of the run shown, newest first."""
        states = self.states()
        if len(states) != 1:
            return []
        seen: dict[tuple[str, str], CategoryEval] = {}
        for event in reversed(states[0].category_evals):
            seen.setdefault((event.dataset, event.split), event)
        return list(seen.values())

    def current(self) -> CategoryEval | None:
        """The evaluation shown."""
        i = self.choice.currentIndex()
        return self._evals[i] if 0 <= i < len(self._evals) else None

    def refresh(self) -> None:
        """From the run's state: keep the dataset / split chosen while it is still there."""
        states = self.states()
        self._shown = self._signature()
        self.setVisible(len(states) == 1)
        before = self.current()
        keep = (before.dataset, before.split) if before is not None else None
        self._evals = self.newest()
        self.choice.blockSignals(True)
        self.choice.clear()
        self.choice.addItems([f"{e.dataset} / {e.split}" for e in self._evals])
        index = next((i for i, e in enumerate(self._evals) if (e.dataset, e.split) == keep), 0)
        self.choice.setCurrentIndex(index if self._evals else -1)
        self.choice.blockSignals(False)
        self.choice.setEnabled(len(self._evals) > 1)
        self.choice.setVisible(bool(self._evals))
        self.hint.setText(hint(states[0].name) if len(states) == 1 and not self._evals else "")
        self.hint.setVisible(bool(self.hint.text()))
        self._show_choice()

    def _show_choice(self, *_: object) -> None:
        event = self.current()
        for widget in (self.headline, self.source, self.category_caption, self.category_table,
                       self.confusion_caption, self.confusion_table, self.browse_button):
            widget.setVisible(event is not None)
        self.category_table.setRowCount(0)
        self.confusion_table.setRowCount(0)
        if event is None:
            return
        self._set_browse_button(event)
        self.headline.setText(headline(event))
        self.source.setText(source_line(event))
        self._fill_categories(event)
        self._fill_confusions(event)

    def _fill_categories(self, event: CategoryEval) -> None:
        rows = category_rows(event)
        self.category_table.setRowCount(len(rows))
        for r, (name, count, top1, top5) in enumerate(rows):
            cells = [QTableWidgetItem(name), _number(f"{count:,}"), _number(rate(top1)), _number(rate(top5))]
            for c, value in ((2, top1), (3, top5)):
                if isinstance(value, (int, float)):
                    cells[c].setToolTip(f"{round(value * count):,} of {plural(count, 'item')}")
            for c, cell in enumerate(cells):
                self.category_table.setItem(r, c, cell)

    def _set_browse_button(self, event: CategoryEval) -> None:
        self.browse_button.setEnabled(bool(event.wrong))
        if event.wrong:
            listed = len(event.wrong)
            total = event.num_wrong if event.num_wrong is not None else listed
            some = f"the {listed:,} ranked worst of {total:,}" if total > listed else f"all {listed:,}"
            tip = (f"The items labelled wrongly ({some}), each with its pictures, its true category and its rank, and "
                   "the category predicted instead. Double-click a confused pair for its items only.")
        elif event.num_wrong is None:
            tip = ("This evaluation was recorded before the wrong items were: run trainer eval --by-category again "
                   "to list them")
        else:
            tip = "No item was labelled wrongly"
        self.browse_button.setToolTip(tip)

    def _pair_double_clicked(self, index: QModelIndex) -> None:
        cell = self.confusion_table.item(index.row(), 0)
        pair = cell.data(Qt.ItemDataRole.UserRole) if cell is not None else None
        event = self.current()
        if pair and event is not None and event.wrong:
            self.mislabelledRequested.emit(*pair)

    def _fill_confusions(self, event: CategoryEval) -> None:
        pairs = confusion_rows(event)
        items = _int(event.metrics.get(CATEGORY_ITEMS))
        top1 = event.metrics.get(CATEGORY_TOP1)
        wrong = round(items * (1 - top1)) if isinstance(top1, (int, float)) else None
        shown = sum(n for _, _, n in pairs)
        if not pairs:
            self.confusion_caption.setText("No item was labelled wrongly." if wrong == 0
                                           else "No confused pairs recorded.")
        else:
            of = f" of {wrong:,}" if wrong is not None else ""
            self.confusion_caption.setText(f"Most confused pairs ({shown:,}{of} wrong items)")
        self.confusion_table.setRowCount(len(pairs))
        for r, (true, predicted, n) in enumerate(pairs):
            for c, cell in enumerate((QTableWidgetItem(true), QTableWidgetItem(f"→ {predicted}"),
                                      _number(f"{n:,}"))):
                cell.setData(Qt.ItemDataRole.UserRole, (true, predicted))
                if event.wrong:
                    cell.setToolTip(f"Double-click: the items of {true} taken for {predicted}")
                self.confusion_table.setItem(r, c, cell)


def _number(text: str) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item
