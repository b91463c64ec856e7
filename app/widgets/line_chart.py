"""A multi-series line chart drawn with QPainter: axes with round ticks, a legend, markers (a star at a run's best).

No QtCharts (PySide6-Essentials does not ship it). Series are lists of (x, y) points; appending points only
repaints. Long series are drawn decimated to three points per pixel column (first, min and max of each column),
so a run of a million steps draws as fast as one of a thousand.

The y axis follows the data (``y_min``/``y_max`` fix a bound; ``y_floor``/``y_ceiling`` only keep the padding
inside a valid range, e.g. 0-100 % for rates); ``x_integer`` keeps the x ticks on whole numbers (steps). The
legend goes in the corner of the plot that covers the fewest points. A series may carry a marker shape
(``circle``, ``square``, ``triangle``, ``diamond``, ``cross``), drawn at every point in its colour and shown in
the legend: runs overlaid on one chart stay distinguishable, even one with a single point.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

#: Distinguishable colours (matplotlib's tab10), in order.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")


def palette_colour(i: int) -> QColor:
    return QColor(PALETTE[i % len(PALETTE)])


@dataclass
class Series:
    key: str
    label: str
    colour: QColor
    xs: list[float] = field(default_factory=list)
    ys: list[float] = field(default_factory=list)
    width: float = 1.6
    dashed: bool = False
    dots: bool = False  # draw a dot at every point (sparse series: evaluations)
    marker: str = "circle"  # the dots' shape (circle, square, triangle, diamond, cross)
    bounds: tuple[float, float, float, float] | None = None  # x min, x max, y min, y max of the finite points
    cached: tuple[int, np.ndarray, np.ndarray] | None = None  # numpy copies of xs, ys and their length

    def extend_bounds(self, xs: Sequence[float], ys: Sequence[float]) -> None:
        pts = [(x, y) for x, y in zip(xs, ys, strict=False) if math.isfinite(x) and math.isfinite(y)]
        if not pts:
            return
        bx = [p[0] for p in pts]
        by = [p[1] for p in pts]
        b = (min(bx), max(bx), min(by), max(by))
        if self.bounds is not None:
            b = (min(b[0], self.bounds[0]), max(b[1], self.bounds[1]), min(b[2], self.bounds[2]),
                 max(b[3], self.bounds[3]))
        self.bounds = b

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        n = min(len(self.xs), len(self.ys))
        if self.cached is None or self.cached[0] != n:
            self.cached = (n, np.asarray(self.xs[:n], dtype=np.float64), np.asarray(self.ys[:n], dtype=np.float64))
        return self.cached[1], self.cached[2]


@dataclass
class Marker:
    x: float
    y: float
    label: str = ""
    colour: QColor = field(default_factory=lambda: QColor("#f2b200"))


MARKERS = ("circle", "square", "triangle", "diamond", "cross")


def nice_ticks(lo: float, hi: float, target: int = 5, integer: bool = False) -> list[float]:
    """Round tick values (1, 2, 5 x 10^n steps) covering [lo, hi]; whole numbers only when ``integer``."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(1, target)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    if integer:
        step = max(1.0, step if float(step).is_integer() else math.ceil(step))
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    v = first
    while v <= hi + step * 1e-9:
        ticks.append(0.0 if abs(v) < step * 1e-9 else v)
        v += step
    return ticks


def format_tick(v: float, step: float) -> str:
    """A tick label with as many decimals as the tick step needs."""
    if step <= 0 or not math.isfinite(step):
        return f"{v:g}"
    if abs(v) >= 1e6:
        return f"{v:.3g}"
    exp = math.floor(math.log10(step))
    mantissa = step / 10**exp
    digits = max(0, -exp + (1 if abs(mantissa - 2.5) < 1e-6 else 0))
    return f"{v:.{min(digits, 6)}f}"


@dataclass(frozen=True)
class _Ink:
    """The colours and fonts of one paint."""

    text: QColor
    faint: QColor  # axes, axis labels, the empty chart's text
    grid: QColor
    title: QFont
    small: QFont  # ticks, labels, legend
    fm: QFontMetrics  # of ``small``

    @classmethod
    def of(cls, text_colour: QColor, font: QFont) -> _Ink:
        """The ink of a chart whose text is ``text_colour`` and whose font is ``font``."""
        faint = QColor(text_colour)
        faint.setAlpha(110)
        grid = QColor(text_colour)
        grid.setAlpha(28)
        small = QFont(font)
        small.setPointSizeF(max(6.5, font.pointSizeF() * 0.85))
        title_font = QFont(font)
        title_font.setBold(True)
        return cls(text_colour, faint, grid, title_font, small, QFontMetrics(small))


@dataclass(frozen=True)
class _Frame:
    """Where one paint puts the data: the plot's rectangle, the ranges it shows and their ticks."""

    plot: QRectF
    x0: float
    x1: float
    y0: float
    y1: float
    left: float  # px: the plot's left edge (the y tick labels are left of it)
    y_ticks: list[float]
    y_texts: list[str]
    x_ticks: list[float]
    x_step: float

    def sx(self, x: float) -> float:
        return self.plot.left() + (x - self.x0) / (self.x1 - self.x0) * self.plot.width()

    def sy(self, y: float) -> float:
        return self.plot.bottom() - (y - self.y0) / (self.y1 - self.y0) * self.plot.height()


class LineChart(QWidget):
    """``set_series(key, xs, ys, ...)`` / ``append(key, xs, ys)`` / ``set_markers([...])`` / ``clear()``."""

    def __init__(self, title: str = "", x_label: str = "step", y_label: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.x_label = x_label
        self.y_label = y_label
        self.empty_text = "No points yet"
        self.y_format: str = ""  # "percent": tick labels as percentages of fractions
        self.y_min: float | None = None  # fixed lower bound (e.g. 0 for rates)
        self.y_max: float | None = None
        self.y_floor: float | None = None  # the axis never goes below / above these (padding is clipped)
        self.y_ceiling: float | None = None
        self.x_integer = False  # x ticks on whole numbers only (steps)
        self.legend_rect = QRectF()  # where the legend was drawn last (empty: none)
        self.x_min: float | None = None  # fixed x range (e.g. to line up with another chart)
        self.x_max: float | None = None
        self._series: dict[str, Series] = {}
        self._markers: list[Marker] = []
        self.repaints = 0  # how many times the chart was painted (tests check it repaints on new points)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(260, 180)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)

    # ---- data
    def set_series(self, key: str, xs: Sequence[float], ys: Sequence[float], label: str | None = None,
                   colour: QColor | str | None = None, width: float = 1.6, dashed: bool = False,
                   dots: bool = False, marker: str = "circle") -> None:
        colour = QColor(colour) if colour is not None else palette_colour(len(self._series))
        series = Series(key, label if label is not None else key, colour, [float(x) for x in xs],
                        [float(y) for y in ys], width, dashed, dots, marker)
        series.extend_bounds(series.xs, series.ys)
        self._series[key] = series
        self.update()

    def append(self, key: str, xs: Iterable[float], ys: Iterable[float]) -> None:
        s = self._series.get(key)
        if s is None:
            self.set_series(key, list(xs), list(ys))
            return
        new_x = [float(x) for x in xs]
        new_y = [float(y) for y in ys]
        if new_x:
            s.xs.extend(new_x)
            s.ys.extend(new_y)
            s.extend_bounds(new_x, new_y)
            self.update()

    def remove_series(self, key: str) -> None:
        if self._series.pop(key, None) is not None:
            self.update()

    def set_x_range(self, lo: float | None, hi: float | None) -> None:
        """Show at least [lo, hi] on the x axis (None: follow the data)."""
        if (lo, hi) != (self.x_min, self.x_max):
            self.x_min, self.x_max = lo, hi
            self.update()

    def set_markers(self, markers: Sequence[Marker]) -> None:
        if list(markers) != self._markers:
            self._markers = list(markers)
            self.update()

    def clear(self) -> None:
        if self._series or self._markers:
            self._series.clear()
            self._markers.clear()
            self.update()

    def series(self, key: str) -> Series | None:
        return self._series.get(key)

    def series_keys(self) -> list[str]:
        return list(self._series)

    def point_count(self, key: str | None = None) -> int:
        if key is not None:
            s = self._series.get(key)
            return len(s.xs) if s else 0
        return sum(len(s.xs) for s in self._series.values())

    @property
    def markers(self) -> list[Marker]:
        return list(self._markers)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(420, 260)

    # ---- geometry
    def _ranges(self) -> tuple[float, float, float, float] | None:
        bounds = [s.bounds for s in self._series.values() if s.bounds is not None]
        xs = [b[0] for b in bounds] + [b[1] for b in bounds] + [m.x for m in self._markers]
        ys = [b[2] for b in bounds] + [b[3] for b in bounds] + [m.y for m in self._markers]
        if not xs or not ys:
            return None
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        if self.x_min is not None:
            x0 = min(x0, self.x_min)
        if self.x_max is not None:
            x1 = max(x1, self.x_max)
        if x1 == x0:
            x0, x1 = x0 - 1, x1 + 1
        if y1 == y0:
            pad = abs(y0) * 0.05 or 0.5
            y0, y1 = y0 - pad, y1 + pad
        else:
            pad = (y1 - y0) * 0.06
            y0, y1 = y0 - pad, y1 + pad
        if self.y_floor is not None and y0 < self.y_floor <= min(ys):
            y0 = self.y_floor
        if self.y_ceiling is not None and y1 > self.y_ceiling >= max(ys):
            y1 = self.y_ceiling
        if self.y_min is not None and self.y_min <= min(ys):
            y0 = self.y_min
        if self.y_max is not None and self.y_max >= max(ys):
            y1 = self.y_max
        return x0, x1, y0, y1

    def y_range(self) -> tuple[float, float] | None:
        """The y axis shown now (None: nothing to show)."""
        r = self._ranges()
        return None if r is None else (r[2], r[3])

    # ---- painting
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        self.repaints += 1
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        pal = self.palette()
        p.fillRect(self.rect(), pal.base())
        ink = _Ink.of(pal.text().color(), self.font())
        top = self._paint_title(p, ink)
        ranges = self._ranges()
        p.setFont(ink.small)
        if ranges is None:
            p.setPen(ink.faint)
            p.drawText(self.rect().adjusted(0, top, 0, 0), Qt.AlignmentFlag.AlignCenter, self.empty_text)
            p.end()
            return
        frame = self._frame(ranges, top, ink.fm)
        self._paint_grid(p, frame, ink)
        self._paint_tick_labels(p, frame, ink)
        self._paint_axis_labels(p, frame, ink)
        self._paint_series(p, frame, pal.base().color())
        self._paint_marker_labels(p, frame, ink)
        self._draw_legend(p, frame.plot, ink.small, ink.fm, ink.text, frame.sx, frame.sy)
        p.end()

    def _paint_title(self, p: QPainter, ink: _Ink) -> int:
        """The title, if any, top left; returns where the plot may start (px from the top)."""
        top = 8
        if self.title:
            p.setFont(ink.title)
            p.setPen(ink.text)
            p.drawText(QRectF(10, 4, self.width() - 20, QFontMetrics(ink.title).height() + 4),
                       Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.title)
            top += QFontMetrics(ink.title).height() + 2
        return top

    def _frame(self, ranges: tuple[float, float, float, float], top: int, fm: QFontMetrics) -> _Frame:
        """The plot's rectangle below ``top``, beside its y tick labels and above its x ones, and its ticks."""
        x0, x1, y0, y1 = ranges
        y_ticks = nice_ticks(y0, y1, max(2, (self.height() - top - 40) // 45))
        y_step = (y_ticks[1] - y_ticks[0]) if len(y_ticks) > 1 else (y1 - y0 or 1)
        y_texts = [self._y_text(v, y_step) for v in y_ticks]
        left = 12 + max((fm.horizontalAdvance(t) for t in y_texts), default=20) + (fm.height() if self.y_label else 0)
        bottom = fm.height() * (2 if self.x_label else 1) + 10
        plot = QRectF(left, top + 4, max(10, self.width() - left - 14), max(10, self.height() - top - 4 - bottom))
        x_ticks = nice_ticks(x0, x1, max(2, int(plot.width() // 90)), integer=self.x_integer)
        x_step = (x_ticks[1] - x_ticks[0]) if len(x_ticks) > 1 else 1
        return _Frame(plot, x0, x1, y0, y1, left, y_ticks, y_texts, x_ticks, x_step)

    @staticmethod
    def _paint_grid(p: QPainter, f: _Frame, ink: _Ink) -> None:
        """A faint line at every tick, then the two axes."""
        plot = f.plot
        p.setPen(QPen(ink.grid, 1))
        for v in f.y_ticks:
            if f.y0 <= v <= f.y1:
                p.drawLine(QPointF(plot.left(), f.sy(v)), QPointF(plot.right(), f.sy(v)))
        for v in f.x_ticks:
            if f.x0 <= v <= f.x1:
                p.drawLine(QPointF(f.sx(v), plot.top()), QPointF(f.sx(v), plot.bottom()))
        p.setPen(QPen(ink.faint, 1))
        p.drawLine(plot.bottomLeft(), plot.bottomRight())
        p.drawLine(plot.bottomLeft(), plot.topLeft())

    @staticmethod
    def _paint_tick_labels(p: QPainter, f: _Frame, ink: _Ink) -> None:
        fm = ink.fm
        p.setPen(ink.text)
        for v, t in zip(f.y_ticks, f.y_texts, strict=True):
            if f.y0 <= v <= f.y1:
                p.drawText(QRectF(0, f.sy(v) - fm.height() / 2, f.left - 6, fm.height()),
                           Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, t)
        for v in f.x_ticks:
            if f.x0 <= v <= f.x1:
                t = format_tick(v, f.x_step)
                w = fm.horizontalAdvance(t)
                p.drawText(QRectF(f.sx(v) - w / 2 - 2, f.plot.bottom() + 3, w + 4, fm.height()),
                           Qt.AlignmentFlag.AlignCenter, t)

    def _paint_axis_labels(self, p: QPainter, f: _Frame, ink: _Ink) -> None:
        """The x label under the x tick labels; the y label turned, left of the y ones."""
        fm, plot = ink.fm, f.plot
        p.setPen(ink.faint)
        if self.x_label:
            p.drawText(QRectF(plot.left(), plot.bottom() + fm.height() + 4, plot.width(), fm.height()),
                       Qt.AlignmentFlag.AlignHCenter, self.x_label)
        if self.y_label:
            p.save()
            p.translate(2, plot.center().y())
            p.rotate(-90)
            p.drawText(QRectF(-plot.height() / 2, 0, plot.height(), fm.height()), Qt.AlignmentFlag.AlignCenter,
                       self.y_label)
            p.restore()

    def _paint_series(self, p: QPainter, f: _Frame, outline: QColor) -> None:
        """Every series, then the markers' stars, clipped to the plot (a little beyond: dots on its edge)."""
        p.save()
        p.setClipRect(f.plot.adjusted(-3, -3, 3, 3))
        for s in self._series.values():
            self._paint_one_series(p, s, f, outline)
        for m in self._markers:
            self._draw_star(p, QPointF(f.sx(m.x), f.sy(m.y)), 8, m.colour)
        p.restore()

    def _paint_one_series(self, p: QPainter, s: Series, f: _Frame, outline: QColor) -> None:
        """One series: its line (a dot when it has one point), and its markers when it has room for them."""
        pen = QPen(s.colour, s.width)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        if s.dashed:
            pen.setStyle(Qt.PenStyle.DashLine)
        p.setPen(pen)
        pts = self._screen_points(s, f.sx, f.sy, f.plot)
        if len(pts) == 1 and not s.dots:
            p.setBrush(s.colour)
            p.drawEllipse(pts[0], 2.5, 2.5)
        elif len(pts) > 1:
            p.setBrush(Qt.BrushStyle.NoBrush)
            dense = len(pts) > f.plot.width()  # decimated: vertical strokes, a thin aliased pen is enough
            if dense:
                thin = QPen(pen)
                thin.setWidthF(1.0)
                thin.setCapStyle(Qt.PenCapStyle.FlatCap)
                thin.setJoinStyle(Qt.PenJoinStyle.BevelJoin)
                thin.setStyle(Qt.PenStyle.SolidLine)
                p.setPen(thin)
            p.setRenderHint(QPainter.RenderHint.Antialiasing, not dense)
            p.drawPolyline(QPolygonF(pts))
            p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        if s.dots and len(s.xs) <= f.plot.width() / 4:
            for x, y in zip(s.xs, s.ys, strict=False):
                if math.isfinite(x) and math.isfinite(y):
                    self._draw_marker(p, QPointF(f.sx(x), f.sy(y)), s.marker, s.colour, outline)

    def _paint_marker_labels(self, p: QPainter, f: _Frame, ink: _Ink) -> None:
        """Each labelled marker's label, above its star (below when there is no room), inside the plot."""
        fm, plot = ink.fm, f.plot
        for m in self._markers:
            if m.label:
                c = QPointF(f.sx(m.x), f.sy(m.y))
                w = fm.horizontalAdvance(m.label)
                x = min(max(c.x() - w / 2, plot.left()), plot.right() - w)
                y = c.y() - 12 - fm.height() if c.y() - 12 - fm.height() > plot.top() else c.y() + 10
                p.setPen(ink.text)
                p.drawText(QRectF(x, y, w + 2, fm.height()), Qt.AlignmentFlag.AlignCenter, m.label)

    def _y_text(self, v: float, step: float) -> str:
        if self.y_format == "percent":
            return format_tick(v * 100, step * 100) + "%"
        return format_tick(v, step)

    @staticmethod
    def _screen_points(s: Series, sx, sy, plot: QRectF) -> list[QPointF]:  # noqa: ANN001
        """Screen points of a series; more than two per pixel column are reduced to each column's first,
        lowest and highest point (vectorised: a long run paints in milliseconds)."""
        if len(s.xs) <= 2 * plot.width():
            return [QPointF(sx(x), sy(y)) for x, y in zip(s.xs, s.ys, strict=False)
                    if math.isfinite(x) and math.isfinite(y)]
        xs, ys = s.arrays()
        keep = np.isfinite(xs) & np.isfinite(ys)
        xs, ys = xs[keep], ys[keep]
        if xs.size == 0:
            return []
        x0, x1 = sx(0.0), sx(1.0)  # sx is affine: recover its scale and offset
        y0, y1 = sy(0.0), sy(1.0)
        px = x0 + xs * (x1 - x0)
        py = y0 + ys * (y1 - y0)
        cols = np.floor(px).astype(np.int64)
        starts = np.flatnonzero(np.r_[True, cols[1:] != cols[:-1]])
        lo = np.minimum.reduceat(py, starts)
        hi = np.maximum.reduceat(py, starts)
        first = py[starts]
        c = cols[starts].astype(np.float64)
        out = np.empty((starts.size * 3, 2))
        out[0::3, 0] = out[1::3, 0] = out[2::3, 0] = c
        out[0::3, 1], out[1::3, 1], out[2::3, 1] = first, lo, hi
        return [QPointF(x, y) for x, y in out.tolist()]

    @staticmethod
    def _draw_marker(p: QPainter, c: QPointF, shape: str, colour: QColor, outline: QColor, r: float = 3.5) -> None:
        p.save()
        p.setBrush(colour)
        p.setPen(QPen(outline, 1))
        if shape == "square":
            p.drawRect(QRectF(c.x() - r, c.y() - r, 2 * r, 2 * r))
        elif shape == "triangle":
            p.drawPolygon(QPolygonF([QPointF(c.x(), c.y() - r - 1), QPointF(c.x() + r + 1, c.y() + r),
                                     QPointF(c.x() - r - 1, c.y() + r)]))
        elif shape == "diamond":
            p.drawPolygon(QPolygonF([QPointF(c.x(), c.y() - r - 1), QPointF(c.x() + r + 1, c.y()),
                                     QPointF(c.x(), c.y() + r + 1), QPointF(c.x() - r - 1, c.y())]))
        elif shape == "cross":
            p.setPen(QPen(colour, 2.2))
            p.drawLine(QPointF(c.x() - r, c.y() - r), QPointF(c.x() + r, c.y() + r))
            p.drawLine(QPointF(c.x() - r, c.y() + r), QPointF(c.x() + r, c.y() - r))
        else:
            p.drawEllipse(c, r, r)
        p.restore()

    @staticmethod
    def _draw_star(p: QPainter, centre: QPointF, radius: float, colour: QColor) -> None:
        poly = QPolygonF()
        for i in range(10):
            r = radius if i % 2 == 0 else radius * 0.45
            a = -math.pi / 2 + i * math.pi / 5
            poly.append(QPointF(centre.x() + r * math.cos(a), centre.y() + r * math.sin(a)))
        p.setPen(QPen(QColor("#7a5a00"), 1))
        p.setBrush(colour)
        p.drawPolygon(poly)

    def _legend_corner(self, plot: QRectF, width: float, height: float, sx, sy) -> QRectF:  # noqa: ANN001
        """The corner of the plot (top right first) whose box of that size covers the fewest points."""
        corners = [QRectF(plot.right() - width - 6, plot.top() + 6, width, height),
                   QRectF(plot.left() + 6, plot.top() + 6, width, height),
                   QRectF(plot.right() - width - 6, plot.bottom() - height - 6, width, height),
                   QRectF(plot.left() + 6, plot.bottom() - height - 6, width, height)]
        covered = [0] * len(corners)
        # plain floats (this runs on every repaint of a live run): each box grown by 4 px, as (left, top, right, bottom)
        boxes = [(b.left() - 4, b.top() - 4, b.right() + 4, b.bottom() + 4) for b in corners]
        for s in self._series.values():
            pts = [(q.x(), q.y()) for q in self._screen_points(s, sx, sy, plot)]
            step = max(1, len(pts) // 200)  # which corner is emptiest: a few hundred points of a series tell it
            pts = pts[::step] + ([pts[-1]] if pts and (len(pts) - 1) % step else [])
            if len(pts) > 1:  # a line crosses a box between its points too: sample each segment
                dense = [(ax + (bx - ax) * t / 4, ay + (by - ay) * t / 4)
                         for (ax, ay), (bx, by) in zip(pts, pts[1:], strict=False) for t in range(4)]
                pts = [*dense, pts[-1]]
            for i, (left, top, right, bottom) in enumerate(boxes):
                covered[i] += sum(1 for x, y in pts if left <= x <= right and top <= y <= bottom)
        for m in self._markers:
            for i, box in enumerate(corners):
                covered[i] += 10 * box.adjusted(-8, -8, 8, 8).contains(QPointF(sx(m.x), sy(m.y)))
        return corners[min(range(len(corners)), key=lambda i: (covered[i], i))]

    def _draw_legend(self, p: QPainter, plot: QRectF, font: QFont, fm: QFontMetrics, text_colour: QColor,
                     sx, sy) -> None:  # noqa: ANN001
        entries = [(s.label, s.colour, s.dashed, s.marker if s.dots else "") for s in self._series.values()
                   if s.label]
        if self._markers and any(not m.label for m in self._markers):
            entries.append(("★ best", QColor("#f2b200"), False, ""))
        self.legend_rect = QRectF()
        if not entries:
            return
        max_rows = max(1, int((plot.height() - 8) // (fm.height() + 2)))
        if len(entries) > max_rows:
            entries = entries[: max_rows - 1] + [(f"+{len(entries) - max_rows + 1} more", QColor("#999999"), False,
                                                  "")]
        width = max(fm.horizontalAdvance(label) for label, _, _, _ in entries) + 30
        height = len(entries) * (fm.height() + 2) + 6
        box = self._legend_corner(plot, width, height, sx, sy)
        self.legend_rect = QRectF(box)
        bg = QColor(self.palette().base().color())
        bg.setAlpha(215)
        p.setPen(QPen(QColor(0, 0, 0, 40), 1))
        p.setBrush(bg)
        p.drawRoundedRect(box, 4, 4)
        p.setFont(font)
        y = box.top() + 3
        for label, colour, dashed, marker in entries:
            mid = y + fm.height() / 2
            pen = QPen(colour, 2.2)
            if dashed:
                pen.setStyle(Qt.PenStyle.DashLine)
            p.setPen(pen)
            if label.startswith("★"):
                self._draw_star(p, QPointF(box.left() + 15, mid), 5, colour)
                label = label[1:].strip()
            else:
                p.drawLine(QPointF(box.left() + 7, mid), QPointF(box.left() + 23, mid))
                if marker:
                    self._draw_marker(p, QPointF(box.left() + 15, mid), marker, colour, bg, 3.0)
            p.setPen(text_colour)
            p.drawText(QRectF(box.left() + 27, y, width - 28, fm.height()),
                       Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, label)
            y += fm.height() + 2
