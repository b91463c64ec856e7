"""An interactive 3D view of a mesh: drag to turn it, the wheel to zoom, double-click to reset.

Frames come from our own offscreen renderer (:mod:`engine.render`, pyrender on EGL), the same one that
renders a dataset's views, so the view looks like the views beside it and needs no OpenGL in Qt: a
``QOpenGLWidget`` (and so pyqtgraph's ``GLViewWidget``) gets no GL context on the ``offscreen`` platform the
tests run on, nor on machines without a GPU driver for the display.

Each :class:`MeshView` has one render thread (a GL context belongs to the thread that made it current). The
thread loads the mesh (trimesh) and builds its scene once, then renders a frame per request. The GUI thread
only posts requests and paints the frames it gets back, never waiting:

* **The latest request wins.** Requests are a single slot that each new one overwrites: while a frame renders,
  a drag's many mouse moves collapse into one request for where the drag has got to.
* **Stale frames are dropped.** A frame of a mesh no longer shown, or older than the frame on screen, is
  thrown away when it arrives.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QResizeEvent, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.thread_priority import lower_this_thread

DEFAULT_AZIMUTH = 30.0  # degrees: a three-quarter view, like the datasets' views
DEFAULT_ELEVATION = 25.0
FOV_DEG = 40.0
MARGIN = 1.03  # as the dataset renderer: the unit sphere fills the view with a little room
ZOOM_RANGE = (0.45, 3.0)  # camera distance as a multiple of the distance at which the mesh just fits
DEGREES_PER_PIXEL = 0.5
WHEEL_STEP = 0.88  # zoom factor per wheel notch (120 eighths of a degree) forward
MAX_FRAME = 640  # px: frames are rendered at most this big (scaled up beyond)
BACKGROUND = (255, 255, 255)


@dataclass(frozen=True)
class ViewAngles:
    azimuth: float = DEFAULT_AZIMUTH
    elevation: float = DEFAULT_ELEVATION
    zoom: float = 1.0

    def distance(self) -> float:
        return self.zoom * MARGIN / math.sin(math.radians(FOV_DEG) / 2.0)


@dataclass(frozen=True)
class _Request:
    serial: int
    generation: int  # which mesh (bumped by set_mesh)
    path: str
    up_axis: str
    roots: tuple[str, ...]  # side files (textures) from inside these folders
    angles: ViewAngles
    size: int


class _Relay(QObject):
    """Carries frames and errors from the render thread to the GUI thread (queued: it lives there)."""

    frame = Signal(int, int, object)  # serial, generation, QImage
    error = Signal(int, int, str)  # serial, generation, one-line reason


class _RenderThread:
    """The render thread of one view: the latest request in a slot, one GL context, the current mesh's scene."""

    def __init__(self, relay: _Relay) -> None:
        self._relay = relay
        self._cond = threading.Condition()
        self._pending: _Request | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._main, name="crossfold-mesh-view", daemon=True)
        self._thread.start()

    def post(self, request: _Request) -> None:
        with self._cond:
            self._pending = request  # overwrites one not yet started: the latest request wins
            self._cond.notify()

    def stop(self, wait_s: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._pending = None
            self._cond.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(wait_s)

    def _next(self) -> _Request | None:
        with self._cond:
            while self._pending is None and not self._stopping:
                self._cond.wait()
            if self._stopping:
                return None
            request, self._pending = self._pending, None
            return request

    def _main(self) -> None:
        lower_this_thread()
        from engine.errors import CrossfoldError
        from engine.render import MultiViewRenderer, load_mesh
        from engine.render.cameras import orbit_pose

        renderer = MultiViewRenderer()  # this thread's own GL context
        loaded: tuple[str, str] | None = None
        stage: Any = None
        load_error = ""
        try:
            while (request := self._next()) is not None:
                try:
                    if loaded != (request.path, request.up_axis):
                        loaded, stage, load_error = (request.path, request.up_axis), None, ""
                        try:
                            mesh = load_mesh(request.path, request.up_axis, tuple(Path(r) for r in request.roots))
                            stage = renderer.stage(mesh, BACKGROUND, FOV_DEG)
                        except CrossfoldError as exc:
                            load_error = str(exc).splitlines()[0]
                    if stage is None:
                        self._relay.error.emit(request.serial, request.generation, load_error)
                        continue
                    a = request.angles
                    pixels = stage.shoot(orbit_pose(a.azimuth, a.elevation, a.distance()), a.distance(), request.size)
                    self._relay.frame.emit(request.serial, request.generation, _to_qimage(pixels))
                except CrossfoldError as exc:
                    self._relay.error.emit(request.serial, request.generation, str(exc).splitlines()[0])
                except Exception as exc:  # noqa: BLE001 - a GL or library error: said in the view, never raised
                    renderer.close()  # a fresh context for the next request
                    loaded, stage = None, None
                    self._relay.error.emit(request.serial, request.generation,
                                           f"{Path(request.path).name}: {type(exc).__name__}: {exc}".splitlines()[0])
        finally:
            renderer.close()


class _ThreadHolder:
    """The view's render thread, stopped when the view is destroyed (a plain object: it outlives the C++ view)."""

    def __init__(self) -> None:
        self.thread: _RenderThread | None = None

    def stop(self, *_args: object) -> None:
        if self.thread is not None:
            self.thread.stop()
            self.thread = None


def _to_qimage(pixels: np.ndarray) -> QImage:
    h, w, _ = pixels.shape
    data = np.ascontiguousarray(pixels)
    return QImage(data.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()  # copy: owns its bytes


class MeshView(QWidget):
    """Shows ``set_mesh(path, up_axis)`` turned by the mouse. Signals: ``frame_shown(serial)`` after a new
    frame is painted in, ``failed(message)`` when the mesh cannot be shown (the message is shown too)."""

    frame_shown = Signal(int)
    failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(120, 120)
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        self.setToolTip("Drag to turn the shape, scroll to zoom, double-click to reset the view")
        self.angles = ViewAngles()
        self.frame: QImage | None = None
        self.frame_serial = 0  # the serial of the frame on screen (0: none yet)
        self.message = ""
        self._path: str | None = None
        self._up_axis = "y"
        self._roots: tuple[str, ...] = ()
        self._generation = 0
        self._serial = 0
        self._drag: tuple[QPointF, ViewAngles] | None = None
        self._relay = _Relay()  # no parent: the render thread keeps it alive while it may still emit
        self._relay.frame.connect(self._frame_arrived)
        self._relay.error.connect(self._error_arrived)
        self._threads = _ThreadHolder()
        self.destroyed.connect(self._threads.stop)

    # ---- public -----------------------------------------------------------------------------
    @property
    def path(self) -> str | None:
        return self._path

    @property
    def up_axis(self) -> str:
        return self._up_axis

    @property
    def requested(self) -> int:
        """The serial of the latest frame asked for."""
        return self._serial

    def set_mesh(self, path: str | Path | None, up_axis: str = "y", roots: tuple[str, ...] = ()) -> None:
        """Show this mesh file from the default angle (None: show nothing); its textures from inside ``roots``
        (the dataset's folders; none: below the mesh's own folder)."""
        self._generation += 1
        self._path = str(path) if path else None
        self._up_axis = up_axis
        self._roots = tuple(roots)
        self.angles = ViewAngles()
        self.frame, self.frame_serial = None, 0
        self.message = "Rendering…" if self._path else ""
        self.update()
        if self._path:
            self._request()

    def set_angles(self, angles: ViewAngles) -> None:
        lo, hi = ZOOM_RANGE
        self.angles = ViewAngles(angles.azimuth % 360.0, max(-85.0, min(85.0, angles.elevation)),
                                 max(lo, min(hi, angles.zoom)))
        self._request()

    def reset_view(self) -> None:
        self.set_angles(ViewAngles())

    def shutdown(self) -> None:
        """Stop the render thread (the view is going away); a later ``set_mesh`` starts a new one."""
        self._threads.stop()

    # ---- rendering --------------------------------------------------------------------------
    def _frame_size(self) -> int:
        side = min(self.width(), self.height()) * self.devicePixelRatioF()
        return int(max(64, min(MAX_FRAME, side)))

    def _request(self) -> None:
        if not self._path:
            return
        if self._threads.thread is None:
            self._threads.thread = _RenderThread(self._relay)
        self._serial += 1
        self._threads.thread.post(_Request(self._serial, self._generation, self._path, self._up_axis, self._roots,
                                   self.angles,
                                   self._frame_size()))

    def _frame_arrived(self, serial: int, generation: int, image: QImage) -> None:
        if generation != self._generation or serial <= self.frame_serial:
            return  # stale: another mesh, or older than the frame on screen
        self.frame, self.frame_serial, self.message = image, serial, ""
        self.update()
        self.frame_shown.emit(serial)

    def _error_arrived(self, serial: int, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        self.frame, self.message = None, message
        self.update()
        self.failed.emit(message)

    # ---- Qt ---------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(*BACKGROUND))
        if self.frame is not None:
            side = min(self.width(), self.height())
            target = QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(target, self.frame)
        if self.message:
            painter.setPen(QColor("#c5221f") if self.frame is None and self.message != "Rendering…"
                           else QColor("#5f6368"))
            painter.drawText(self.rect().adjusted(8, 8, -8, -8),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.message)
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag = (event.position(), self.angles)
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
        else:
            super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self._drag is None:
            return super().mouseMoveEvent(event)
        start, angles = self._drag
        delta = event.position() - start
        self.set_angles(ViewAngles(angles.azimuth - delta.x() * DEGREES_PER_PIXEL,
                                   angles.elevation + delta.y() * DEGREES_PER_PIXEL, angles.zoom))
        event.accept()
        return None

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self._drag is not None and event.button() == Qt.MouseButton.LeftButton:
            self._drag = None
            self.setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
        else:
            super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self.reset_view()
        event.accept()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        notches = event.angleDelta().y() / 120.0
        if notches:
            a = self.angles
            self.set_angles(ViewAngles(a.azimuth, a.elevation, a.zoom * WHEEL_STEP ** notches))
        event.accept()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if self._path and (self.frame is None or self._frame_size() > self.frame.width() * 1.2):
            self._request()  # laid out or grown: a frame of the new size (the latest request wins)

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        self.shutdown()
        super().closeEvent(event)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(260, 260)
