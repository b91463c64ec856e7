"""Search results as a grid of cards: thumbnail with its confidence badge, key, rank, category, split and a caption.

The confidence badge (top right of the picture) says what it is: "confidence 86 %", the hit's calibrated
confidence (the cautious end of its band), coloured by its band (``engine.index.calibration``): green high, amber
medium, red low; a grey "not calibrated" when the query is not (the raw score is never the main figure: it is in
the tooltip, with how the confidence was measured).

``ResultModel`` holds the hits of one :class:`~engine.search.SearchResult`; thumbnails come from a
:class:`~app.thumbnails.ThumbnailCache` (decoded off the GUI thread; a placeholder until they arrive).
``ResultGrid`` is the view; it paints each hit as a card (:class:`ResultDelegate`) and says what the user did:

* ``item_activated(int item_id)``: a card was clicked (or Enter pressed): open its detail;
* ``more_like_this(int item_id)``: the card's "More like this" link (or the context menu): search with it.

For an A/B comparison, :meth:`ResultModel.set_peer` marks each card with its rank in the other run's list.
"""

from __future__ import annotations

import html
from collections import OrderedDict
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QRectF,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QContextMenuEvent,
    QFont,
    QFontMetrics,
    QGuiApplication,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPalette,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QMenu,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from app.thumbnails import ThumbnailCache
from engine.index.calibration import band
from engine.search import Hit, SearchResult

CARD_W, COMPACT_W, PAD = 196, 160, 8  # px: card widths (normal, compact as in A/B) and inner margin
THUMB = CARD_W - 2 * PAD  # px: a card's picture box is square, as wide as the card's content
LINK_TEXT = "More like this"
ACCENT = QColor("#1a73e8")
MUTED = QColor("#5f6368")
BAND_COLOURS = {"high": QColor("#188038"), "medium": QColor("#b06000"), "low": QColor("#c5221f"),
                "none": QColor("#5f6368")}  # calibrated confidence bands (engine.index.calibration.band)


class ResultModel(QAbstractListModel):
    HitRole = Qt.ItemDataRole.UserRole + 1
    ItemIdRole = Qt.ItemDataRole.UserRole + 2
    ThumbnailReadyRole = Qt.ItemDataRole.UserRole + 3  # True once the real picture is shown
    PeerRole = Qt.ItemDataRole.UserRole + 4  # (label, rank in the other list or None) in an A/B comparison

    def __init__(self, thumbnails: ThumbnailCache, thumb: int = THUMB, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thumbnails = thumbnails
        self.thumb = thumb  # px: the decoded size of the pictures
        self.result: SearchResult | None = None
        self._hits: list[Hit] = []
        self._rows_by_path: dict[str, list[int]] = {}
        self._peer: tuple[str, dict[int, int]] | None = None
        thumbnails.ready.connect(self._thumbnail_ready)

    # ---- content ----------------------------------------------------------------------------
    def set_result(self, result: SearchResult | None) -> None:
        self.beginResetModel()
        self.result = result
        self._hits = list(result.hits) if result is not None else []
        self._rows_by_path.clear()
        for row, hit in enumerate(self._hits):
            path = thumbnail_of(hit)
            if path:
                self._rows_by_path.setdefault(path, []).append(row)
        self._peer = None
        self.endResetModel()
        for hit in self._hits:  # ask for every picture now: the cards on screen first (newest first queue)
            path = thumbnail_of(hit)
            if path:
                self.thumbnails.request(path, self.thumb)

    def set_peer(self, label: str, ranks: dict[int, int] | None) -> None:
        """Mark each card with its rank in the other list (``label`` names it), or clear the marks."""
        self._peer = (label, dict(ranks)) if ranks is not None else None
        if self._hits:
            self.dataChanged.emit(self.index(0), self.index(len(self._hits) - 1), [self.PeerRole])

    def hits(self) -> list[Hit]:
        return list(self._hits)

    def hit(self, row: int) -> Hit | None:
        return self._hits[row] if 0 <= row < len(self._hits) else None

    def row_of(self, item_id: int) -> int:
        return next((r for r, h in enumerate(self._hits) if h.item_id == item_id), -1)

    def pixmap(self, hit: Hit) -> QPixmap | None:
        path = thumbnail_of(hit)
        if not path:
            return self.thumbnails.broken(self.thumb)
        return self.thumbnails.get(path, self.thumb)

    def _thumbnail_ready(self, path: str, size: int) -> None:
        if size != self.thumb:
            return
        for row in self._rows_by_path.get(path, ()):
            if row < len(self._hits):
                idx = self.index(row)
                self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole, self.ThumbnailReadyRole])

    # ---- Qt model interface -------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._hits)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        hit = self.hit(index.row()) if index.isValid() else None
        if hit is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return hit.key
        if role == self.HitRole:
            return hit
        if role == self.ItemIdRole:
            return hit.item_id
        if role == Qt.ItemDataRole.DecorationRole:
            return self.pixmap(hit) or self.thumbnails.placeholder(self.thumb)
        if role == self.ThumbnailReadyRole:
            return self.pixmap(hit) is not None
        if role == self.PeerRole:
            if self._peer is None:
                return None
            label, ranks = self._peer
            return label, ranks.get(hit.item_id)
        if role == Qt.ItemDataRole.ToolTipRole:
            return tooltip(hit, self.result.measured_line() if self.result is not None else None)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            sure = f"confidence {percent(hit.confidence)}" if hit.confidence is not None else "not calibrated"
            return f"rank {hit.rank}, {hit.key}, {sure}, {caption_of(hit)}"
        return None


def thumbnail_of(hit: Hit) -> str:
    """The picture a card shows: the matched image when an image matched, else the first view or image."""
    if hit.matched_text and hit.matched_text in hit.thumbnails:
        return hit.matched_text
    return hit.thumbnails[0] if hit.thumbnails else ""


def caption_of(hit: Hit) -> str:
    """The caption a card shows: the matched one (captions target), else the item's first."""
    if hit.matched_text and hit.matched_text in hit.captions:
        return hit.matched_text
    return hit.captions[0] if hit.captions else ""


def tooltip(hit: Hit, measured: str | None = None) -> str:
    """A card's tooltip: the item, its rank, confidence (and how it was measured, ``measured``) and raw score."""
    lines = [f"<b>{html.escape(hit.key)}</b> · {html.escape(hit.dataset)} · {html.escape(hit.split)} · "
             f"{html.escape(hit.category or '—')}",
             f"rank {hit.rank} · {_confidence_note(hit)} · raw score {hit.score:.4f} · {len(hit.thumbnails)} "
             "picture(s)"]
    if hit.confidence is not None and measured:
        lines.append(f"<i>confidence {html.escape(measured)}</i>")
    if hit.matched_text and hit.matched_text in hit.captions:
        lines.append(f"matched: <i>{html.escape(hit.matched_text)}</i>")
    lines += [f"• {html.escape(c)}" for c in hit.captions[:8]]
    if len(hit.captions) > 8:
        lines.append(f"… {len(hit.captions) - 8} more")
    return "<br>".join(lines)


def _confidence_note(hit: Hit) -> str:
    if hit.confidence is None:
        return "not calibrated"
    return f"confidence {percent(hit.confidence)} ({band(hit.confidence)})"


def percent(confidence: float) -> str:
    """``86 %``: a confidence as the badge writes it."""
    return f"{round(confidence * 100)} %"


def score_badge(hit: Hit) -> tuple[str, QColor]:
    """The confidence badge's text and colour: "confidence 86 %" in its band's colour; "not calibrated", grey, when
    the run has no calibration for this query (a fused query, or a dataset it is not calibrated for)."""
    if hit.confidence is None:
        return "not calibrated", BAND_COLOURS["none"]
    return f"confidence {percent(hit.confidence)}", BAND_COLOURS[band(hit.confidence)]


def elide_key(key: str, fm: QFontMetrics, width: int) -> str:
    """A card's title: an item's key elided at its start, as the Datasets grid does (keys share their folders and
    differ at their end: "…chair_0002.off")."""
    return fm.elidedText(key, Qt.TextElideMode.ElideLeft, width)


def wrap_lines(text: str, fm: QFontMetrics, width: int, max_lines: int) -> list[str]:
    """Greedy word wrap into at most ``max_lines`` lines; the last one is elided when text remains."""
    words = text.split()
    lines: list[str] = []
    current = ""
    i = 0
    while i < len(words) and len(lines) < max_lines:
        candidate = f"{current} {words[i]}".strip()
        if fm.horizontalAdvance(candidate) <= width or not current:
            current = candidate
            i += 1
            continue
        lines.append(current)
        current = ""
    if current and len(lines) < max_lines:
        lines.append(current)
    if i < len(words) and lines:
        rest = " ".join([lines[-1], *words[i:]])
        lines[-1] = fm.elidedText(rest, Qt.TextElideMode.ElideRight, width)
    return [fm.elidedText(line, Qt.TextElideMode.ElideRight, width) for line in lines]


class ResultDelegate(QStyledItemDelegate):
    """Paints a hit as a card; :meth:`link_rect` is where its "More like this" link is."""

    CAPTION_LINES = 3

    def __init__(self, card_width: int = CARD_W, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.card_width = card_width
        self.thumb = card_width - 2 * PAD
        self.hover_link: QPersistentModelIndex | None = None
        self._cards: OrderedDict[tuple[Any, ...], QPixmap] = OrderedDict()  # rendered cards, least recent first
        self.budget: int | None = None  # cards still to render in this paint pass (None: no limit)
        self.deferred = False  # a card was left for a later pass

    # ---- geometry ---------------------------------------------------------------------------
    @staticmethod
    def _fonts(option: QStyleOptionViewItem) -> tuple[QFont, QFont, QFont]:
        base = QFont(option.font)
        bold = QFont(base)
        bold.setBold(True)
        small = QFont(base)
        small.setPointSizeF(max(7.0, base.pointSizeF() * 0.9))
        return base, bold, small

    def card_size(self, option: QStyleOptionViewItem) -> QSize:
        base, bold, small = self._fonts(option)
        lh, sh = QFontMetrics(base).lineSpacing(), QFontMetrics(small).lineSpacing()
        height = (PAD + self.thumb + 6 + QFontMetrics(bold).lineSpacing() + sh + 4 + lh * self.CAPTION_LINES + 6
                  + sh + PAD)
        return QSize(self.card_width, height)

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:  # noqa: N802
        return self.card_size(option)

    def link_rect(self, option: QStyleOptionViewItem, rect: QRect) -> QRect:
        _, _, small = self._fonts(option)
        fm = QFontMetrics(small)
        w = fm.horizontalAdvance(LINK_TEXT) + 4
        return QRect(rect.left() + PAD, rect.bottom() - PAD - fm.lineSpacing() + 1, w, fm.lineSpacing())

    # ---- painting ---------------------------------------------------------------------------
    CACHED_CARDS = 96  # rendered cards kept (a few screens' worth: ~20 MB at 1x)

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        """A card is rendered once into a pixmap (its picture, badges and text) and blitted after that: only
        the border (selection, hover) and the link (its underline follows the mouse) are drawn every time."""
        hit: Hit | None = index.data(ResultModel.HitRole)
        if hit is None:
            return
        rect = option.rect.adjusted(2, 2, -2, -2)
        pm = index.data(Qt.ItemDataRole.DecorationRole)
        peer = index.data(ResultModel.PeerRole)
        dpr = painter.device().devicePixelRatioF() if painter.device() is not None else 1.0
        key = (hit.item_id, hit.rank, hit.score, hit.confidence, hit.matched_text, peer,
               pm.cacheKey() if isinstance(pm, QPixmap) else 0, rect.width(), rect.height(), dpr,
               option.font.key(), option.palette.cacheKey())
        card = self._cards.get(key)
        if card is None and self.budget is not None and self.budget <= 0:
            self.deferred = True  # rendered in a later pass: an empty card meanwhile
        elif card is None:
            if self.budget is not None:
                self.budget -= 1
            card = QPixmap(max(1, round(rect.width() * dpr)), max(1, round(rect.height() * dpr)))
            card.setDevicePixelRatio(dpr)
            card.fill(Qt.GlobalColor.transparent)
            local = QPainter(card)
            self._paint_card(local, option, QRect(0, 0, rect.width(), rect.height()), hit, pm, peer)
            local.end()
            self._cards[key] = card
            while len(self._cards) > self.CACHED_CARDS:
                self._cards.popitem(last=False)
        else:
            self._cards.move_to_end(key)

        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        path = QPainterPath()
        path.addRoundedRect(QRectF(rect), 8, 8)
        if card is None:
            painter.fillPath(path, option.palette.color(QPalette.ColorRole.Base))
        else:
            painter.drawPixmap(rect.topLeft(), card)
        border = ACCENT if selected else (QColor("#9aa0a6") if hovered else QColor("#dadce0"))
        painter.setPen(QPen(border, 2 if selected else 1))
        painter.drawPath(path)

        # "More like this"
        _, _, small = self._fonts(option)
        link = self.link_rect(option, rect)
        link_font = QFont(small)
        link_font.setUnderline(self.hover_link is not None and self.hover_link == QPersistentModelIndex(index))
        painter.setFont(link_font)
        painter.setPen(ACCENT)
        painter.drawText(link, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, LINK_TEXT)
        painter.restore()

    @property
    def cached_cards(self) -> int:
        return len(self._cards)

    def forget_cards(self) -> None:
        """Drop the rendered cards (they are rendered again when next painted)."""
        self._cards.clear()

    def begin_pass(self, budget: int | None) -> None:
        """At most ``budget`` cards not yet cached are rendered in the paint pass that starts (None: all)."""
        self.budget = budget
        self.deferred = False

    def end_pass(self) -> bool:
        """True when cards were left for a later pass."""
        self.budget = None
        return self.deferred

    def _paint_card(self, painter: QPainter, option: QStyleOptionViewItem, rect: QRect, hit: Hit, pm: Any,
                    peer: tuple[str, int | None] | None) -> None:
        """Everything of a card but its border and link, in ``rect``."""
        base, bold, small = self._fonts(option)
        pal = option.palette
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)

        # card
        path = QPainterPath()
        path.addRoundedRect(QRectF(rect), 8, 8)
        painter.fillPath(path, pal.color(QPalette.ColorRole.Base))
        box = self._paint_picture(painter, rect, pm)

        # the confidence badge (top right); an A/B comparison marks the picture (bottom left) with the other run's rank
        painter.setFont(small)
        fm_small = QFontMetrics(small)
        badge_text, badge_colour = score_badge(hit)
        self._badge(painter, fm_small, QPoint(box.right() - 4, box.top() + 5), badge_text, badge_colour,
                    QColor("white"), left=False)
        if peer is not None:
            label, rank = peer
            text = f"{label} #{rank}" if rank is not None else f"not in {label}"
            colour = QColor("#188038") if rank is not None else QColor("#b06000")
            self._badge(painter, fm_small, QPoint(box.left() + 5, box.bottom() - 5 - fm_small.height() - 4),
                        text, colour, QColor("white"), left=True)

        # key; rank · category · split · views; caption
        width = rect.width() - 2 * PAD
        x = rect.left() + PAD
        y = self._paint_heading(painter, pal, hit, bold, small, QPoint(x, box.bottom() + 6), width)
        self._paint_caption(painter, pal, hit, base, QPoint(x, y), width)
        if len(hit.captions) > 1:
            self._paint_more_captions(painter, option, rect, hit, small)

    def _paint_picture(self, painter: QPainter, rect: QRect, pm: Any) -> QRect:
        """The picture box at the top of the card, the picture centred in it; returns the box."""
        box = QRect(rect.left() + PAD - 2, rect.top() + PAD - 2, self.thumb, self.thumb)
        box_path = QPainterPath()
        box_path.addRoundedRect(QRectF(box), 6, 6)
        painter.fillPath(box_path, QColor("#f8f9fa"))
        if isinstance(pm, QPixmap) and not pm.isNull():
            scaled = pm.size().scaled(box.size(), Qt.AspectRatioMode.KeepAspectRatio)
            if pm.width() < box.width() * 0.7 and pm.height() < box.height() * 0.7:
                scaled = pm.size()  # never blow a small picture up (a card a little wider than usual: scaled)
            target = QRect(QPoint(0, 0), scaled)
            target.moveCenter(box.center())
            painter.save()
            painter.setClipPath(box_path)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawPixmap(target, pm)
            painter.restore()
        return box

    def _paint_heading(self, painter: QPainter, pal: QPalette, hit: Hit, bold: QFont, small: QFont, at: QPoint,
                       width: int) -> int:
        """The key, then rank · category · split · views, from ``at``; returns the y below them."""
        x, y = at.x(), at.y()
        fm_small = QFontMetrics(small)
        fm_bold = QFontMetrics(bold)
        painter.setFont(bold)
        painter.setPen(pal.color(QPalette.ColorRole.Text))
        key_w = width
        painter.drawText(QRect(x, y, key_w, fm_bold.lineSpacing()), Qt.AlignmentFlag.AlignLeft,
                         elide_key(hit.key, fm_bold, key_w))
        y += fm_bold.lineSpacing()
        painter.setFont(small)
        painter.setPen(MUTED)
        views = f"{len(hit.thumbnails)} views" if len(hit.thumbnails) > 1 else ""
        sub = " · ".join(p for p in (f"#{hit.rank}", hit.category, hit.split, views) if p)
        painter.drawText(QRect(x, y, width, fm_small.lineSpacing()), Qt.AlignmentFlag.AlignLeft,
                         fm_small.elidedText(sub, Qt.TextElideMode.ElideRight, width))
        return y + fm_small.lineSpacing() + 4

    def _paint_caption(self, painter: QPainter, pal: QPalette, hit: Hit, base: QFont, at: QPoint,
                       width: int) -> None:
        """The first caption (the matched one marked by an accent bar), wrapped, from ``at``."""
        x, y = at.x(), at.y()
        caption = caption_of(hit)
        matched = bool(hit.matched_text) and caption == hit.matched_text
        fm = QFontMetrics(base)
        painter.setFont(base)
        indent = 8 if matched else 0
        lines = wrap_lines(f"“{caption}”" if caption else "no caption", fm, width - indent, self.CAPTION_LINES)
        if matched:  # the caption that matched the query: marked by an accent bar
            painter.fillRect(QRect(x, y + 2, 3, fm.lineSpacing() * len(lines) - 4), ACCENT)
        painter.setPen(pal.color(QPalette.ColorRole.Text) if caption else MUTED)
        for line in lines:
            painter.drawText(QRect(x + indent, y, width - indent, fm.lineSpacing()), Qt.AlignmentFlag.AlignLeft, line)
            y += fm.lineSpacing()

    def _paint_more_captions(self, painter: QPainter, option: QStyleOptionViewItem, rect: QRect, hit: Hit,
                             small: QFont) -> None:
        """How many more captions the hit has, right of the "More like this" link."""
        link = self.link_rect(option, rect)
        painter.setFont(small)
        painter.setPen(MUTED)
        room = QRect(link.right() + 6, link.top(), rect.right() - PAD - link.right() - 6, link.height())
        more = f"+{len(hit.captions) - 1} captions"
        if QFontMetrics(small).horizontalAdvance(more) > room.width():
            more = f"+{len(hit.captions) - 1}"
        painter.drawText(room, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, more)

    @staticmethod
    def _badge(painter: QPainter, fm: QFontMetrics, anchor: QPoint, text: str, fill: QColor, ink: QColor,
               left: bool) -> None:
        w, h = fm.horizontalAdvance(text) + 10, fm.height() + 4
        r = QRect(anchor.x() if left else anchor.x() - w, anchor.y(), w, h)
        badge = QPainterPath()
        badge.addRoundedRect(QRectF(r), h / 2, h / 2)
        painter.fillPath(badge, fill)
        painter.setPen(ink)
        painter.drawText(r, Qt.AlignmentFlag.AlignCenter, text)




class ResultGrid(QListView):
    """The result cards. Signals: ``item_activated(int)``, ``more_like_this(int)``."""

    item_activated = Signal(int)
    more_like_this = Signal(int)

    CARDS_PER_PAINT = 4  # cards rendered (not yet cached) per paint pass: ~1.5 ms each

    @property
    def cards_pending(self) -> bool:
        """Visible cards are still to be rendered (a later paint pass will)."""
        return self.delegate.deferred

    def __init__(self, thumbnails: ThumbnailCache, compact: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.delegate = ResultDelegate(COMPACT_W if compact else CARD_W, self)
        self.result_model = ResultModel(thumbnails, self.delegate.thumb, self)
        self._message = ""
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(True)
        self.setSpacing(6)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(40)
        self.setMouseTracking(True)
        self.setItemDelegate(self.delegate)
        self.setModel(self.result_model)
        self.setWordWrap(True)

    # ---- public -----------------------------------------------------------------------------
    def set_result(self, result: SearchResult | None) -> None:
        self.result_model.set_result(result)
        self._message = "" if result is None or result.hits else "No results."
        self.scrollToTop()
        self.viewport().update()

    MAX_STRETCH = 1.3  # cards widen up to this much to fill the row (no empty strip on the right)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self.fit_cards()

    def fit_cards(self) -> None:
        """Widen the cards so that a row of them fills the viewport (up to ``MAX_STRETCH`` x their width)."""
        base = getattr(self, "_base_width", None)
        if base is None:
            base = self._base_width = self.delegate.card_width
        s = self.spacing()
        avail = self.viewport().width() - s - 1  # the list wraps a row that reaches the viewport's last pixel
        cols = max(1, avail // (base + s))
        width = max(base, min(int(base * self.MAX_STRETCH), avail // cols - s))
        if width != self.delegate.card_width:
            self.delegate.card_width = width
            self.delegate.thumb = width - 2 * PAD
            self.delegate.forget_cards()
            self.scheduleDelayedItemsLayout()

    def set_message(self, text: str) -> None:
        """A line shown in the middle of the grid while it has no cards (an empty query, an error...)."""
        self._message = text
        self.viewport().update()

    def clear(self, message: str = "") -> None:
        self.result_model.set_result(None)
        self.set_message(message)

    @property
    def message(self) -> str:
        return self._message

    def hits(self) -> list[Hit]:
        return self.result_model.hits()

    def card_rect(self, row: int) -> QRect:
        return self.visualRect(self.result_model.index(row))

    def link_rect(self, row: int) -> QRect:
        """The "More like this" link of a card, in viewport coordinates."""
        option = QStyleOptionViewItem()
        self.initViewItemOption(option)
        return self.delegate.link_rect(option, self.card_rect(row).adjusted(2, 2, -2, -2))

    # ---- events -----------------------------------------------------------------------------
    def _link_at(self, pos: QPoint) -> QModelIndex | None:
        index = self.indexAt(pos)
        if index.isValid() and self.link_rect(index.row()).contains(pos):
            return index
        return None

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        pos = event.position().toPoint()
        index = self.indexAt(pos)
        super().mouseReleaseEvent(event)
        if event.button() != Qt.MouseButton.LeftButton or not index.isValid():
            return
        item_id = int(index.data(ResultModel.ItemIdRole))
        if self._link_at(pos) is not None:
            self.more_like_this.emit(item_id)
        else:
            self.item_activated.emit(item_id)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        super().mouseMoveEvent(event)
        link = self._link_at(event.position().toPoint())
        new = QPersistentModelIndex(link) if link is not None else None
        if new != self.delegate.hover_link:
            old = self.delegate.hover_link
            self.delegate.hover_link = new
            for idx in (old, new):
                if idx is not None and idx.isValid():
                    self.update(QModelIndex(idx))
        shape = Qt.CursorShape.PointingHandCursor if link is not None else Qt.CursorShape.ArrowCursor
        self.viewport().setCursor(shape)

    def leaveEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if self.delegate.hover_link is not None:
            old, self.delegate.hover_link = self.delegate.hover_link, None
            if old.isValid():
                self.update(QModelIndex(old))
        super().leaveEvent(event)

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self.item_activated.emit(int(self.currentIndex().data(ResultModel.ItemIdRole)))
            return
        super().keyPressEvent(event)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:  # noqa: N802 - Qt override
        index = self.indexAt(event.pos())
        hit: Hit | None = index.data(ResultModel.HitRole) if index.isValid() else None
        if hit is None:
            return
        menu = QMenu(self)
        menu.addAction("Open details", lambda: self.item_activated.emit(hit.item_id))
        menu.addAction(LINK_TEXT, lambda: self.more_like_this.emit(hit.item_id))
        menu.addSeparator()
        menu.addAction("Copy key", lambda: QGuiApplication.clipboard().setText(hit.key))
        menu.exec(event.globalPos())

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        # A page of new results is rendered a few cards per pass (each pass a separate turn of the event loop),
        # so the GUI thread never spends one long stretch painting; cached cards are blitted at once.
        self.delegate.begin_pass(self.CARDS_PER_PAINT)
        try:
            super().paintEvent(event)
        finally:
            if self.delegate.end_pass():
                QTimer.singleShot(0, self.viewport().update)
        if self.result_model.rowCount() == 0 and self._message:
            painter = QPainter(self.viewport())
            painter.setPen(MUTED)
            r = self.viewport().rect().adjusted(24, 24, -24, -24)
            painter.drawText(r, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._message)
            painter.end()
