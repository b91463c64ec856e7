"""What a mesh dataset shows where its views are missing: "not rendered yet: Render…" (a link that asks for the
render) above the grid, and a grey "not rendered" card in place of the red ✕ of an unreadable picture."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QLabel, QWidget

RENDER_LINK = "render"  # the href of every "Render…" link

_pictures: dict[int, QPixmap] = {}


def not_rendered_picture(size: int) -> QPixmap:
    """A card's picture for a mesh without views: a grey frame saying "not rendered yet" (one per size)."""
    pm = _pictures.get(size)
    if pm is None:
        pm = QPixmap(size, size)
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(QPen(QColor("#b8bcc4"), 1, Qt.PenStyle.DashLine))
        p.setBrush(QColor("#f1f3f4"))
        p.drawRoundedRect(1, 1, size - 2, size - 2, 6, 6)
        p.setPen(QColor("#5f6368"))
        p.drawText(pm.rect().adjusted(4, 4, -4, -4), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                   "not rendered yet")
        p.end()
        _pictures[size] = pm
    return pm


def render_link_text(unrendered: int, items: int) -> str:
    """``12 of 12 shapes not rendered yet: Render…`` with Render… a link."""
    noun = "shape" if items == 1 else "shapes"
    count = f"{unrendered:,} of {items:,} {noun}" if unrendered < items else f"All {items:,} {noun}"
    return (f"{count} not rendered yet: <a href='{RENDER_LINK}'>Render…</a> "
            "<span style='color:#5f6368'>(their views are what training and search see)</span>")


class RenderNotice(QLabel):
    """The line above a mesh dataset's grid while some of its shapes have no views; ``render_clicked`` on the link."""

    render_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("renderNotice")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setStyleSheet("#renderNotice { background: #fef7e0; border: 1px solid #f9e0a2; border-radius: 6px; "
                           "padding: 4px 8px; }")
        self.linkActivated.connect(lambda _link: self.render_clicked.emit())
        self.hide()

    def show_count(self, unrendered: int, items: int) -> None:
        """Say how many shapes have no views (0: hide)."""
        self.setText(render_link_text(unrendered, items) if unrendered else "")
        self.setVisible(unrendered > 0)
