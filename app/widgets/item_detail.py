"""One item in full: every view or image, all captions, its metadata; "Search with this item".

``show_item(item_id)`` loads the item on a worker (an answer for an item no longer asked for is
dropped); its pictures come from the :class:`ThumbnailCache` as they are decoded. A shape with a mesh
file also gets an interactive 3D view (:class:`~app.widgets.mesh_view.MeshView`: drag to turn, wheel to
zoom) beside its rendered views, turned upright with its dataset's up axis. An item without captions (a folder
imported as it is) says "captions: none" in one plain line where the list would be.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.thumbnails import ThumbnailCache
from app.widgets.item_grid import Background
from app.widgets.mesh_view import MeshView
from engine.catalog import Catalog
from engine.catalog.browse import ItemDetail, item_detail
from engine.catalog.records import BOOKKEEPING_META

_UNBOUNDED = 16_777_215  # Qt's QWIDGETSIZE_MAX: no maximum height
SELECT_AN_ITEM = "Select an item to see its views, captions and metadata."
NO_MATCH = "No item matches the filter."
FEW_CAPTIONS = 3  # up to this many captions, the box is as tall as they are (no mostly empty box)
VIEW_SIZE = 96  # px: a shape's rendered views (four across, eight in two rows)
FIT_SIZES = (VIEW_SIZE, 80, 64, 48)  # px: beside the 3D view, the largest at which every view shows
IMAGE_SIZE = 224  # px: an image-text item's image


def flatten_meta(meta: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested metadata as ``(dotted key, text)`` rows; lists are joined with commas."""
    rows: list[tuple[str, str]] = []
    for key, value in meta.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(flatten_meta(value, f"{name}."))
        elif isinstance(value, list | tuple):
            rows.append((name, ", ".join(str(v) for v in value)))
        else:
            rows.append((name, str(value)))
    return rows


class ItemDetailView(QWidget):
    """Signals: ``search_with_item(int item_id)`` (the button), ``loaded(int item_id)`` once shown."""

    search_with_item = Signal(int)
    render_requested = Signal()  # the "Render…" link of a shape whose views are not rendered yet
    loaded = Signal(int)
    failed = Signal(str)

    def __init__(
        self, catalog: Callable[[], Catalog], thumbnails: ThumbnailCache, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.catalog = catalog
        self.thumbnails = thumbnails
        self.detail: ItemDetail | None = None
        self._wanted: int | None = None
        self._picture_size = VIEW_SIZE
        self._labelled = True  # the pictures are a shape's views (fitted to their room), not an item's images
        self._rows_by_path: dict[str, list[int]] = {}
        self._work = Background()

        head = self._build_head()
        self._build_pictures()
        self._build_captions()
        self._build_meta()
        self.empty = QLabel(SELECT_AN_ITEM)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self._build_body()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.body, 1)
        layout.addWidget(self.empty, 1)
        thumbnails.ready.connect(self._thumbnail_ready)
        self.clear()

    def _build_head(self) -> QHBoxLayout:
        """The item's key and where it is from, and the "Search with this item" button."""
        self.title = QLabel()
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.subtitle = QLabel()
        self.subtitle.setStyleSheet("color: #5f6368;")
        self.search_button = QPushButton("Search with this item")
        self.search_button.setToolTip("Use this item as the query on the Search page")
        self.search_button.clicked.connect(self._search_clicked)
        head = QHBoxLayout()
        titles = QVBoxLayout()
        titles.setSpacing(0)
        titles.addWidget(self.title)
        titles.addWidget(self.subtitle)
        head.addLayout(titles, 1)
        head.addWidget(self.search_button, 0, Qt.AlignmentFlag.AlignTop)
        return head

    def _build_pictures(self) -> None:
        """The rendered views (or images) as icons, beside the 3D view (hidden until an item has a mesh)."""
        self.views_label = QLabel("<b>Views</b>")
        self.views_label.linkActivated.connect(lambda _link: self.render_requested.emit())
        self.views = QListWidget()
        self.views.setViewMode(QListView.ViewMode.IconMode)
        self.views.setMovement(QListView.Movement.Static)
        self.views.setResizeMode(QListView.ResizeMode.Adjust)
        self.views.setUniformItemSizes(True)
        self.views.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.views.setSpacing(2)
        self._set_picture_size(VIEW_SIZE)
        self.views.installEventFilter(self)  # resized: the views fitted again
        self.mesh_view = MeshView()
        self.mesh_view.hide()
        self.pictures = QSplitter(Qt.Orientation.Horizontal)  # the 3D view beside the rendered views
        self.pictures.setChildrenCollapsible(False)
        self.pictures.addWidget(self.mesh_view)
        self.pictures.addWidget(self.views)
        self.pictures.setStretchFactor(0, 1)
        self.pictures.setStretchFactor(1, 1)

    def _build_captions(self) -> None:
        self.captions_label = QLabel("<b>Captions</b>")
        self.captions = QListWidget()
        self.captions.setWordWrap(True)
        self.captions.setAlternatingRowColors(True)
        self.captions.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.captions.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.captions.setResizeMode(QListView.ResizeMode.Adjust)

    def _build_meta(self) -> None:
        """The metadata table: a field and its value a row."""
        self.meta_label = QLabel("<b>Metadata</b>")
        self.meta = QTableWidget(0, 2)
        self.meta.setHorizontalHeaderLabels(("Field", "Value"))
        self.meta.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.meta.horizontalHeader().setStretchLastSection(True)
        self.meta.verticalHeader().setVisible(False)
        self.meta.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.meta.setWordWrap(False)
        self.meta.setAlternatingRowColors(True)
        self.meta.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)

    def _build_body(self) -> None:
        """Pictures, captions and metadata one above the other, each under its label, in a splitter."""
        self.body = QSplitter(Qt.Orientation.Vertical)
        self.body.setChildrenCollapsible(False)
        boxes = []
        for label, widget in (
            (self.views_label, self.pictures),
            (self.captions_label, self.captions),
            (self.meta_label, self.meta),
        ):
            box = QWidget()
            lay = QVBoxLayout(box)
            lay.setContentsMargins(0, 4, 0, 0)
            lay.setSpacing(2)
            lay.addWidget(label)
            lay.addWidget(widget, 1)
            self.body.addWidget(box)
            boxes.append(box)
        self.captions_box = boxes[1]
        self.body.setStretchFactor(0, 3)
        self.body.setStretchFactor(1, 2)
        self.body.setStretchFactor(2, 2)
        self.body.setSizes([270, 170, 150])

    # ---- public -----------------------------------------------------------------------------
    @property
    def item_id(self) -> int | None:
        return self.detail.id if self.detail else None

    def show_item(self, item_id: int | None) -> None:
        if item_id is None or item_id < 0:
            self.clear()
            return
        if self.detail is not None and self.detail.id == item_id:
            return
        self._wanted = item_id
        self.subtitle.setText("Loading…")
        catalog = self.catalog
        self._work.run(lambda: item_detail(catalog(), item_id), self._arrived)

    def reload(self) -> None:
        """Read the item shown again (its views were just rendered); it stays on screen until the answer."""
        if self.detail is not None:
            item_id = self._wanted = self.detail.id
            catalog = self.catalog
            self._work.run(lambda: item_detail(catalog(), item_id), self._arrived)

    def clear(self, message: str = "") -> None:
        """Show no item: ``message`` where it would be (else "Select an item…")."""
        self.empty.setText(message or SELECT_AN_ITEM)
        self._wanted = None
        self.detail = None
        self._rows_by_path.clear()
        self.title.setText("")
        self.subtitle.setText("")
        self.views.clear()
        self.mesh_view.set_mesh(None)
        self.mesh_view.hide()
        self.captions.clear()
        self.meta.setRowCount(0)
        self.search_button.setEnabled(False)
        self.search_button.hide()
        self.body.hide()
        self.empty.show()

    def picture_ready(self, row: int) -> bool:
        """Whether the view or image in ``row`` shows its decoded picture (not the placeholder)."""
        item = self.views.item(row)
        return item is not None and bool(item.data(Qt.ItemDataRole.UserRole + 1))

    # ---- loading ----------------------------------------------------------------------------
    def _arrived(self, answer: tuple[int, Any, str]) -> None:
        token, detail, error = answer
        self._work.done(token)
        if error:
            if self._wanted is not None:
                self.subtitle.setText(f"Could not load the item: {error.splitlines()[0]}")
                self.failed.emit(error)
            return
        if detail.id != self._wanted:
            return  # the user has moved on to another item
        self._show(detail)

    def _show(self, d: ItemDetail) -> None:
        self.detail = d
        self.empty.hide()
        self.body.show()
        self.search_button.setEnabled(True)
        self.search_button.show()
        self.title.setText(f"<span style='font-size: 15pt; font-weight: 600'>{html.escape(d.key)}</span>")
        parts = [d.dataset, d.split, d.category or "no category", f"id {d.id}"]
        # an AutoText label that shows this line as plain text: escape only & < > as it always did (an escaped
        # quote would show as "&#x27;")
        self.subtitle.setText(" · ".join(html.escape(p, quote=False) for p in parts))

        pictures = list(d.views) or list(d.images)
        is_views = bool(d.views) or (bool(d.mesh_path) and not d.images)  # a shape's views, rendered or not yet
        self._set_picture_size(VIEW_SIZE if is_views or len(pictures) > 1 else IMAGE_SIZE, labelled=is_views)
        noun = "view" if is_views else "image"
        counted = f"{len(pictures)} {noun}{'s' if len(pictures) != 1 else ''}" if pictures else (
            "not rendered yet: <a href='render'>Render…</a>" if is_views else "no image")
        self.views.setVisible(bool(pictures))
        if d.mesh_path:
            up = f", {d.up_axis} up" if d.up_axis != "y" else ""
            self.views_label.setText(f"<b>3D</b> <span style='color:#5f6368'>(drag to turn, scroll to zoom{up})"
                                     f"</span> · <b>{counted}</b>")
            if (self.mesh_view.path, self.mesh_view.up_axis) != (d.mesh_path, d.up_axis):
                self.mesh_view.set_mesh(d.mesh_path, d.up_axis, d.roots)
            self.mesh_view.show()
        else:
            self.views_label.setText(f"<b>{counted}</b>")
            self.mesh_view.set_mesh(None)
            self.mesh_view.hide()
        self.views.clear()
        self._rows_by_path.clear()
        for i, path in enumerate(pictures):
            item = QListWidgetItem(f"{noun} {i}" if is_views else "")
            item.setToolTip(path)
            self.views.addItem(item)
            self._rows_by_path.setdefault(path, []).append(i)
            self._set_picture(i, path)
        self._labelled = is_views
        self.fit_views()

        self._show_captions(d.captions)

        rows = [("key", d.key), ("dataset", d.dataset), ("split", d.split), ("category", d.category)]
        if d.asset_path:
            rows.append(("asset", d.asset_path))
        rows += flatten_meta({k: v for k, v in d.meta.items() if k not in BOOKKEEPING_META})
        self.meta.setRowCount(len(rows))
        for r, (k, v) in enumerate(rows):
            self.meta.setItem(r, 0, QTableWidgetItem(k))
            value = QTableWidgetItem(v)
            value.setToolTip(v)
            self.meta.setItem(r, 1, value)
        self.loaded.emit(d.id)

    def _show_captions(self, captions: tuple[str, ...]) -> None:
        """The captions, numbered; none: the plain line "captions: none", the box shrunk to that line."""
        self.captions.clear()
        for i, text in enumerate(captions, 1):
            self.captions.addItem(QListWidgetItem(f"{i}.  {text}"))
        self.captions.setVisible(bool(captions))
        if captions:
            self.captions_label.setText(f"<b>{len(captions)} caption{'s' if len(captions) != 1 else ''}</b>")
            self.captions_label.setToolTip("")
            self.captions_box.setMaximumHeight(_UNBOUNDED if len(captions) > FEW_CAPTIONS else self._captions_height())
            return
        self.captions_label.setText("<b>captions:</b> none")
        self.captions_label.setToolTip("This item has no captions: it can be searched with pretrained weights, "
                                       "not trained on (a same-stem .txt beside its file gives it one)")
        margins = self.captions_box.layout().contentsMargins()
        self.captions_box.setMaximumHeight(self.captions_label.sizeHint().height() + margins.top()
                                           + margins.bottom())

    def fit_views(self) -> None:
        """A shape's views at the largest of :data:`FIT_SIZES` at which all of them show in the room they have (beside
        the 3D view: eight views, not two); an image keeps its size."""
        count = self.views.count()
        if not count or not self._labelled:
            return
        area = self.views.viewport().size()
        label = self.fontMetrics().height()
        spacing = 2 * self.views.spacing()
        size = FIT_SIZES[-1]
        for candidate in FIT_SIZES:
            columns = max(1, area.width() // (candidate + 8 + spacing))
            if -(-count // columns) * (candidate + 8 + label + spacing) <= area.height():
                size = candidate
                break
        if size != self._picture_size:
            self._set_picture_size(size, labelled=True)
            for path, rows in self._rows_by_path.items():
                for row in rows:
                    self._set_picture(row, path)

    def eventFilter(self, watched: Any, event: Any) -> bool:  # noqa: N802 - Qt override
        if watched is self.views and event.type() == QEvent.Type.Resize:
            self.fit_views()
        return super().eventFilter(watched, event)

    def _captions_height(self) -> int:
        """The captions box's height for a few captions: its label and its rows (each wrapped on up to two lines),
        no empty space under them."""
        margins = self.captions_box.layout().contentsMargins()
        lines = sum(min(2, 1 + self.fontMetrics().horizontalAdvance(self.captions.item(i).text())
                        // max(1, self.captions.viewport().width())) for i in range(self.captions.count()))
        rows = lines * self.fontMetrics().lineSpacing() + self.captions.count() * 6 + 2 * self.captions.frameWidth()
        return (self.captions_label.sizeHint().height() + self.captions_box.layout().spacing() + rows + margins.top()
                + margins.bottom())

    def _set_picture_size(self, size: int, labelled: bool = True) -> None:
        self._picture_size = size
        self.views.setIconSize(QSize(size, size))
        self.views.setGridSize(QSize(size + 8, size + 8 + (self.fontMetrics().height() if labelled else 0)))

    def _set_picture(self, row: int, path: str) -> None:
        item = self.views.item(row)
        pm = self.thumbnails.get(path, self._picture_size)  # the broken-file picture if it failed
        item.setIcon(QIcon(pm if pm is not None else self.thumbnails.placeholder(self._picture_size)))
        item.setData(Qt.ItemDataRole.UserRole + 1, pm is not None)

    def _thumbnail_ready(self, path: str, size: int) -> None:
        if size != self._picture_size:
            return
        for row in self._rows_by_path.get(path, ()):
            if row < self.views.count():
                self._set_picture(row, path)

    def _search_clicked(self) -> None:
        if self.detail is not None:
            self.search_with_item.emit(self.detail.id)

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        self.mesh_view.shutdown()
        super().closeEvent(event)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(460, 600)
