"""The items a by-category evaluation labelled wrongly (``trainer eval --by-category``), one at a time: the
by-category counterpart of the failure browser (:mod:`app.widgets.failure_browser`).

The failure browser recomputes a retrieval direction's failures with the run's model; the wrong items of a
by-category evaluation are already in its ``eval_categories`` event (:class:`engine.run.events.CategoryMiss`:
item id, key, true and predicted category, the true one's rank), so this dialog needs no model: it lists them
(the worst ranked first; all of them, or one confused pair), and shows the chosen one's views or image as the
model saw them, its true category with its rank and the category predicted instead. The list's thumbnails (one
batched catalogue read) and the chosen item's pictures (one read per choice, the newest answer kept) are read on
workers and decoded by the :class:`~app.thumbnails.ThumbnailCache`: the GUI thread does no I/O.

``MislabelledBrowser(workspace, run, event, pair=None)``; signals ``cards_loaded(int)`` (list thumbnails known
for that many items), ``item_shown(int)`` (an item id, its detail filled in).
"""

from __future__ import annotations

import html
from collections import Counter
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.thumbnails import ThumbnailCache, shared_cache
from app.widgets.item_grid import Background, CatalogHandle
from engine.catalog.browse import ItemCard, ItemDetail, item_cards, item_detail
from engine.metric_keys import CATEGORY_COUNT, CATEGORY_ITEMS
from engine.run.events import CategoryEval, CategoryMiss
from engine.workspace import Workspace

ICON = 40  # px: the list's thumbnails
VIEW = 128  # px: the chosen item's views or image
RED = "#c62828"


def ordinal(n: int) -> str:
    """``2nd``, ``3rd``, ``11th``, ``22nd``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def listed_pairs(wrong: list[CategoryMiss]) -> list[tuple[str, str, int]]:
    """``(true, predicted, items listed)``, most first, then by name."""
    pairs = Counter((m.true, m.predicted) for m in wrong)
    return sorted(((t, p, n) for (t, p), n in pairs.items()), key=lambda x: (-x[2], x[0], x[1]))


def _count(value: object) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


class MislabelledBrowser(QDialog):
    """Attributes: ``evaluation`` (the event shown), ``pair`` (all, or one confused pair), ``status``, ``items``
    (the list), ``title``, ``verdict``, ``views``, ``note``."""

    cards_loaded = Signal(int)
    item_shown = Signal(int)

    def __init__(self, workspace: Workspace, run: str, event: CategoryEval, pair: tuple[str, str] | None = None,
                 thumbnails: ThumbnailCache | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run = run
        self.evaluation = event
        self.catalog = CatalogHandle(workspace)
        self.thumbnails = thumbnails or shared_cache()
        self._cards: dict[int, ItemCard] | None = None  # None until read
        self._wanted: int | None = None  # the read of the item detail asked for last (its token)
        self._work = Background()
        self._view_rows: dict[str, list[int]] = {}
        self.setWindowTitle(f"Mislabelled items of {run} — {event.dataset}/{event.split}")
        self.resize(980, 640)

        self.pair = QComboBox()
        self.pair.setToolTip("All the items labelled wrongly, or those of one confused pair (true → predicted)")
        self.pair.setMinimumContentsLength(24)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.RichText)
        self._build_list()
        self._build_detail()
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Show"))
        controls.addWidget(self.pair)
        controls.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.status)
        layout.addWidget(self._build_splitter(), 1)
        self.thumbnails.ready.connect(self._thumbnail_ready)
        self.destroyed.connect(self.catalog.close)

        self._fill_pairs(pair)
        self.pair.currentIndexChanged.connect(self._fill_items)
        self._fill_items()
        ids = sorted({m.item for m in event.wrong})
        catalog = self.catalog
        self._work.run(lambda: {c.id: c for c in item_cards(catalog(), ids)}, self._cards_arrived)

    # ---- building
    def _build_list(self) -> None:
        self.items = QListWidget()
        self.items.setIconSize(QSize(ICON, ICON))
        self.items.setUniformItemSizes(True)
        self.items.currentRowChanged.connect(self._show_row)

    def _build_detail(self) -> None:
        self.title = QLabel("")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.subtitle = QLabel("")
        self.subtitle.setStyleSheet("color: #5f6368;")
        self.verdict = QLabel("")
        self.verdict.setTextFormat(Qt.TextFormat.RichText)
        self.verdict.setWordWrap(True)
        self.views = QListWidget()
        self.views.setViewMode(QListView.ViewMode.IconMode)
        self.views.setMovement(QListView.Movement.Static)
        self.views.setResizeMode(QListView.ResizeMode.Adjust)
        self.views.setUniformItemSizes(True)
        self.views.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.views.setIconSize(QSize(VIEW, VIEW))
        self.views.setGridSize(QSize(VIEW + 8, VIEW + 8))
        self.note = QLabel("")
        self.note.setWordWrap(True)

    def _build_splitter(self) -> QSplitter:
        """The wrong items on the left, the chosen one on the right."""
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(QLabel("<b>Labelled wrongly</b> (#rank of the true category)"))
        left_layout.addWidget(self.items, 1)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(6, 0, 0, 0)
        right_layout.addWidget(self.title)
        right_layout.addWidget(self.subtitle)
        right_layout.addWidget(self.verdict)
        right_layout.addWidget(QLabel("<b>What the model saw</b> (its views, or its image)"))
        right_layout.addWidget(self.views, 1)
        right_layout.addWidget(self.note)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 5)
        splitter.setSizes([320, 660])
        return splitter

    # ---- what is listed
    def _fill_pairs(self, wanted: tuple[str, str] | None) -> None:
        wrong = self.evaluation.wrong
        self._pairs: list[tuple[str, str] | None] = [None]  # the choices' pairs, in the combo box's order
        self.pair.addItem(f"All wrong items ({len(wrong):,})")
        for true, predicted, n in listed_pairs(wrong):
            confused = _count(self.evaluation.confusions.get(true, {}).get(predicted))
            of = f"{n:,} of {confused:,}" if confused > n else f"{n:,}"
            self.pair.addItem(f"{true} → {predicted} ({of})")
            self._pairs.append((true, predicted))
        index = self.pair_index(wanted) if wanted else 0
        self._missing_pair = wanted if wanted and index < 0 else None
        self.pair.setCurrentIndex(max(index, 0))

    def pair_index(self, pair: tuple[str, str] | None) -> int:
        """The choice of ``pair`` (``None``: all), -1 when no listed item is of that pair."""
        return self._pairs.index(pair) if pair in self._pairs else -1

    def shown_misses(self) -> list[CategoryMiss]:
        """The wrong items listed now (all, or the chosen pair's), in the event's order: the worst ranked first."""
        i = self.pair.currentIndex()
        chosen = self._pairs[i] if 0 <= i < len(self._pairs) else None
        return [m for m in self.evaluation.wrong if chosen is None or (m.true, m.predicted) == chosen]

    def _status_text(self) -> str:
        e = self.evaluation
        total = e.num_wrong if e.num_wrong is not None else len(e.wrong)
        items = _count(e.metrics.get(CATEGORY_ITEMS))
        of = f" of {items:,}" if items else ""
        checkpoint = f", {Path(e.checkpoint).name}" if e.checkpoint else ""
        text = (f"<b>{total:,}</b>{of} items of {html.escape(e.dataset)}/{html.escape(e.split)} were labelled "
                f"wrongly (step {e.step}{checkpoint}).")
        if total > len(e.wrong):
            text += f" The {len(e.wrong):,} whose true category ranked worst are listed."
        if self._missing_pair is not None:
            true, predicted = (html.escape(c) for c in self._missing_pair)
            text += (f" <span style='color:{RED}'>None of the listed items is {true} → {predicted}</span> "
                     "(the list keeps those ranked worst).")
        return text

    def _fill_items(self, *_: object) -> None:
        self.status.setText(self._status_text())
        self.items.blockSignals(True)
        self.items.clear()
        categories = _count(self.evaluation.metrics.get(CATEGORY_COUNT))
        of = f" of {categories:,}" if categories else ""
        for miss in self.shown_misses():
            item = QListWidgetItem(f"#{miss.rank}  {miss.key}\n{miss.true} → {miss.predicted}")
            item.setData(Qt.ItemDataRole.UserRole, miss)
            item.setToolTip(f"{miss.key}: its category {miss.true} ranked {ordinal(miss.rank)}{of}; "
                            f"{miss.predicted} ranked first")
            self.items.addItem(item)
            self._set_icon(item)
        if self.items.count():
            self.items.setCurrentRow(0)
        self.items.blockSignals(False)
        self._show_row(self.items.currentRow())

    def miss_at(self, row: int) -> CategoryMiss | None:
        item = self.items.item(row)
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    # ---- the list's thumbnails
    def _cards_arrived(self, answer: tuple[int, Any, str]) -> None:
        token, cards, error = answer
        self._work.done(token)
        self._cards = cards if not error else {}
        if error:
            self.note.setText(f"Could not read the items' pictures: {error.splitlines()[0]}")
        for row in range(self.items.count()):
            self._set_icon(self.items.item(row))
        self.cards_loaded.emit(len(self._cards))

    def _card(self, miss: CategoryMiss) -> ItemCard | None:
        """The item's card when it is still the item the evaluation ranked (same id and key)."""
        card = (self._cards or {}).get(miss.item)
        return card if card is not None and card.key == miss.key else None

    def _set_icon(self, item: QListWidgetItem) -> None:
        if self._cards is None:
            item.setIcon(QIcon(self.thumbnails.placeholder(ICON)))
            return
        card = self._card(item.data(Qt.ItemDataRole.UserRole))
        if card is None or not card.thumbnail:
            item.setIcon(QIcon(self.thumbnails.broken(ICON)))
            return
        pm = self.thumbnails.get(card.thumbnail, ICON)
        item.setIcon(QIcon(pm if pm is not None else self.thumbnails.placeholder(ICON)))

    def icon_ready(self, row: int) -> bool:
        """Whether the list's ``row`` shows its item's decoded thumbnail."""
        miss = self.miss_at(row)
        card = self._card(miss) if miss is not None else None
        return bool(card and card.thumbnail and self.thumbnails.peek(card.thumbnail, ICON) is not None)

    def _thumbnail_ready(self, path: str, size: int) -> None:
        if size == ICON and self._cards is not None:
            for row in range(self.items.count()):
                item = self.items.item(row)
                card = self._card(item.data(Qt.ItemDataRole.UserRole))
                if card is not None and card.thumbnail == path:
                    self._set_icon(item)
        elif size == VIEW:
            for row in self._view_rows.get(path, ()):
                self._set_view(row, path)

    # ---- the chosen item
    def _show_row(self, row: int) -> None:
        miss = self.miss_at(row)
        self.views.clear()
        self._view_rows.clear()
        self.note.setText("")
        if miss is None:
            self._wanted = None
            self.title.setText("")
            self.subtitle.setText("")
            self.verdict.setText("No item labelled wrongly is listed." if not self.evaluation.wrong else "")
            return
        categories = _count(self.evaluation.metrics.get(CATEGORY_COUNT))
        of = f" of {categories:,}" if categories else ""
        self.title.setText(f"<span style='font-size: 15pt; font-weight: 600'>{html.escape(miss.key)}</span>")
        self.subtitle.setText(f"{self.evaluation.dataset} · {self.evaluation.split} · id {miss.item}")
        self.verdict.setText(
            f"<p style='font-size: large'>True category <b>{html.escape(miss.true)}</b> → predicted "
            f"<b style='color:{RED}'>{html.escape(miss.predicted)}</b></p>"
            f"{html.escape(miss.true)} ranked <b style='color:{RED}'>{ordinal(miss.rank)}</b>{of} categories; "
            f"{html.escape(miss.predicted)} ranked first.")
        catalog = self.catalog
        self._wanted = self._work.run(lambda: item_detail(catalog(), miss.item), self._detail_arrived)

    def _detail_arrived(self, answer: tuple[int, Any, str]) -> None:
        token, detail, error = answer
        self._work.done(token)
        miss = self.miss_at(self.items.currentRow())
        if miss is None or token != self._wanted:
            return  # the user has moved on to another item
        if error or detail.key != miss.key:
            self.note.setText(f"Item {miss.item} ({miss.key}) is no longer in the catalogue as it was evaluated: "
                              "its dataset changed since. Run the evaluation again to list the items it has now.")
        else:
            self._show_pictures(detail)
        self.item_shown.emit(miss.item)

    def _show_pictures(self, detail: ItemDetail) -> None:
        paths = [p for p in (detail.views or detail.images) if p]
        for row, path in enumerate(paths):
            item = QListWidgetItem()
            item.setToolTip(path)
            self.views.addItem(item)
            self._view_rows.setdefault(path, []).append(row)
            self._set_view(row, path)
        if not paths:
            self.note.setText("This item has no view or image in the catalogue.")

    def _set_view(self, row: int, path: str) -> None:
        item = self.views.item(row)
        if item is None:
            return
        pm = self.thumbnails.get(path, VIEW)
        item.setIcon(QIcon(pm if pm is not None else self.thumbnails.placeholder(VIEW)))
        item.setData(Qt.ItemDataRole.UserRole, pm is not None)

    def view_ready(self, row: int) -> bool:
        """Whether the chosen item's view ``row`` shows its decoded picture."""
        item = self.views.item(row)
        return item is not None and bool(item.data(Qt.ItemDataRole.UserRole))
