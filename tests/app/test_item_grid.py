"""The item grid on its own, at sizes the Datasets page meets: the catalogue look-ups are replaced by fakes (ids
1..N, cards whose thumbnails are three real PNGs), everything else is real (the model, the workers, the thumbnail
cache, the view).

No sleeps: every wait is on a condition (qtbot.waitUntil).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QAbstractItemView, QApplication, QListView

from app.thumbnails import ThumbnailCache
from app.widgets import item_grid
from app.widgets.item_grid import ItemGrid, ItemGridModel
from engine.catalog.browse import ItemCard

WAIT = 20_000  # ms: a bound for a busy 2-core machine, not a timing assertion
ICON = 64


@pytest.fixture
def fake_catalogue(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """``set_query(n)`` shows items 1..n; item i's thumbnail is one of three PNGs (4:3, as photos)."""
    paths = []
    for i, colour in enumerate(("#c0392b", "#27ae60", "#2980b9")):
        image = QImage(80, 60, QImage.Format.Format_RGB32)
        image.fill(QColor(colour))
        path = tmp_path / f"thumb{i}.png"
        assert image.save(str(path))
        paths.append(str(path))

    def ids(_catalog: object, dataset_id: int, *_filters: object) -> list[int]:
        return list(range(1, dataset_id + 1))

    def cards(_catalog: object, wanted: list[int]) -> list[ItemCard]:
        return [ItemCard(i, f"item-{i:06d}.jpg", "train", "thing", paths[i % 3], "") for i in wanted]

    monkeypatch.setattr(item_grid, "item_ids", ids)
    monkeypatch.setattr(item_grid, "item_cards", cards)
    return paths


def make_grid(qtbot, rows: int) -> tuple[ItemGrid, ItemGridModel]:
    model = ItemGridModel(lambda: None, ThumbnailCache(), icon_size=ICON)  # type: ignore[arg-type, return-value]
    grid = ItemGrid(model)
    qtbot.addWidget(grid)
    grid.resize(520, 420)
    grid.show()
    model.set_query(rows)
    qtbot.waitUntil(lambda: model.rowCount() == rows, timeout=WAIT)
    return grid, model


def ready(model: ItemGridModel, rows: list[int]) -> bool:
    return bool(rows) and all(model.data(model.index(r), ItemGridModel.ThumbnailReadyRole) for r in rows)


def rows_on_screen(view: QListView, last_first: bool = False) -> list[int]:
    """The rows whose cards intersect the viewport (the cards are in reading order: walk until one is past it)."""
    model, viewport = view.model(), view.viewport().rect()
    order = range(model.rowCount() - 1, -1, -1) if last_first else range(model.rowCount())
    rows = []
    for r in order:
        rect = view.visualRect(model.index(r, 0))
        if rect.intersects(viewport):
            rows.append(r)
        elif rows:
            break
    return sorted(rows)


def icon_mode_view(model: ItemGridModel) -> QListView:
    """The grid as it was, in QListView's icon mode (the look the list-mode grid keeps)."""
    view = QListView()
    view.setViewMode(QListView.ViewMode.IconMode)
    view.setMovement(QListView.Movement.Static)
    view.setResizeMode(QListView.ResizeMode.Adjust)
    view.setUniformItemSizes(True)
    view.setIconSize(QSize(ICON, ICON))
    view.setGridSize(QSize(ICON + 24, ICON + 30))
    view.setSpacing(4)
    view.setWordWrap(False)
    view.setTextElideMode(Qt.TextElideMode.ElideLeft)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    view.setModel(model)
    return view


def focus(qtbot, view: QListView) -> None:
    """The view is the active window and has the focus (the current card's highlight shows it)."""
    view.activateWindow()
    view.setFocus()
    qtbot.waitUntil(view.hasFocus, timeout=WAIT)


def test_the_grid_is_a_wrapping_list_that_looks_like_icon_mode(qtbot, fake_catalogue) -> None:
    """List mode (hit-tests by binary search while a batched layout grows), and pixel for pixel the icon-mode
    grid it replaces: thumbnails above their keys, centred in their cells, the selected key highlighted. The grid
    is laid out before its cards arrive, the icon-mode view after (it sizes every card as the one it measured)."""
    grid, model = make_grid(qtbot, 14)
    assert grid.viewMode() == QListView.ViewMode.ListMode
    assert grid.flow() == QListView.Flow.LeftToRight and grid.isWrapping()
    assert grid.uniformItemSizes() and grid.layoutMode() == QListView.LayoutMode.Batched
    qtbot.waitUntil(lambda: ready(model, list(range(14))), timeout=WAIT)

    grid.setCurrentIndex(model.index(6, 0))
    focus(qtbot, grid)
    qtbot.waitUntil(lambda: grid.visualRect(model.index(13, 0)).isValid(), timeout=WAIT)
    looks = grid.grab().toImage()
    grid.hide()

    icon = icon_mode_view(model)
    qtbot.addWidget(icon)
    icon.resize(grid.size())
    icon.show()
    icon.setCurrentIndex(model.index(6, 0))
    focus(qtbot, icon)
    qtbot.waitUntil(lambda: icon.visualRect(model.index(13, 0)).isValid(), timeout=WAIT)
    assert rows_on_screen(grid) == rows_on_screen(icon) == list(range(14))
    assert grid.verticalScrollBar().maximum() == icon.verticalScrollBar().maximum()
    # a card claims its whole cell (icon mode's item is centred in it)
    assert all(grid.visualRect(model.index(r, 0)).contains(icon.visualRect(model.index(r, 0))) for r in range(14))
    assert looks == icon.grab().toImage()


def test_scrolling_to_the_end_of_a_large_grid_fills_its_last_screen(qtbot, fake_catalogue) -> None:
    rows = 30_000
    grid, model = make_grid(qtbot, rows)
    qtbot.waitUntil(lambda: ready(model, rows_on_screen(grid)), timeout=WAIT)

    def at_end() -> bool:
        """As a user holding End while the batched layout still grows: scrolled down again until the last card
        shows."""
        if rows - 1 in rows_on_screen(grid, last_first=True):
            return True
        grid.scrollToBottom()
        return False

    qtbot.waitUntil(at_end, timeout=WAIT)
    shown = rows_on_screen(grid, last_first=True)
    assert len(shown) >= 5 and shown[-1] == rows - 1
    qtbot.waitUntil(lambda: ready(model, shown), timeout=WAIT)
    assert [model.data(model.index(r), Qt.ItemDataRole.DisplayRole) for r in shown] == [
        f"item-{r + 1:06d}.jpg" for r in shown]
    bar = grid.verticalScrollBar()
    assert bar.value() == bar.maximum()
    # the layout asked for no card off screen: only the pages of the first and the last screen were fetched
    assert len(model._pages) <= 4, sorted(model._pages)

    # a card's data changing (a thumbnail, a page of cards arriving) repaints it and moves nothing: list mode's
    # own dataChanged would lay all 30,000 cards out again, from the first, and throw the view back near the top
    end = bar.value()
    model.thumbnails.ready.emit(fake_catalogue[rows % 3], ICON)
    model.dataChanged.emit(model.index(rows - ItemGridModel.PAGE), model.index(rows - 1))
    for _ in range(5):
        QApplication.processEvents()  # a relayout would start here: its timer is a zero timer
    assert bar.value() == end == bar.maximum()
    assert rows_on_screen(grid, last_first=True) == shown
