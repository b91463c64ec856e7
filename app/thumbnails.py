"""Thumbnails decoded off the GUI thread, kept in an in-memory LRU cache keyed by (path, size).

``ThumbnailCache.get(path, size)`` answers at once: the pixmap when it is cached, else ``None``
after queueing the file for decoding; ``ready(path, size)`` is emitted (on the GUI thread) when it
arrives. Decoding (``QImageReader``, scaled while reading) runs on the cache's own small thread pool;
only the cheap ``QImage`` -> ``QPixmap`` conversion happens on the GUI thread.

The queue is served newest first and holds at most ``queue_limit`` requests: while the user scrolls
fast through a large grid, the cells now on screen load first and those long scrolled past are
dropped (a view asks again when it paints them again).
"""

from __future__ import annotations

from collections import OrderedDict

from PySide6.QtCore import QObject, QRunnable, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QColor, QImage, QImageReader, QPainter, QPen, QPixmap

from app.thread_priority import lower_this_thread

Key = tuple[str, int]


def decode_thumbnail(path: str, size: int) -> QImage:
    """Read ``path`` scaled to fit a ``size`` x ``size`` box (aspect kept). Safe on any thread."""
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    source = reader.size()
    if source.isValid() and not source.isEmpty():
        reader.setScaledSize(source.scaled(QSize(size, size), Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    if image.isNull():
        raise OSError(f"{path}: {reader.errorString()}")
    return image


class _Relay(QObject):
    """Carries a decoded image from a worker to the GUI thread (queued: the relay lives there)."""

    decoded = Signal(str, int, QImage, str)


class _Decode(QRunnable):
    def __init__(self, key: Key, relay: _Relay) -> None:
        super().__init__()
        self.key = key
        self.relay = relay  # a Python reference: the relay outlives this run even if the cache is gone

    def run(self) -> None:
        lower_this_thread()
        path, size = self.key
        try:
            image = decode_thumbnail(path, size)
        except Exception as exc:  # noqa: BLE001 - reported as a broken thumbnail, never raised on a worker
            self.relay.decoded.emit(path, size, QImage(), str(exc) or type(exc).__name__)
        else:
            self.relay.decoded.emit(path, size, image, "")


def _framed(size: int, fill: str, cross: bool = False) -> QPixmap:
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(QPen(QColor("#b8bcc4"), 1))
    p.setBrush(QColor(fill))
    p.drawRoundedRect(1, 1, size - 2, size - 2, 6, 6)
    if cross:
        p.setPen(QPen(QColor("#c0392b"), 2))
        m = size // 3
        p.drawLine(m, m, size - m, size - m)
        p.drawLine(size - m, m, m, size - m)
    p.end()
    return pm


class ThumbnailCache(QObject):
    """LRU cache of decoded thumbnails with a newest-first decoding queue. Use on the GUI thread."""

    ready = Signal(str, int)  # path, size: now cached (or known broken)

    def __init__(
        self,
        max_bytes: int = 96 * 1024 * 1024,
        threads: int = 2,
        queue_limit: int = 400,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.max_bytes = max_bytes
        self.queue_limit = queue_limit
        self._pixmaps: OrderedDict[Key, QPixmap] = OrderedDict()
        self._bytes = 0
        self._failed: dict[Key, str] = {}
        self._queue: OrderedDict[Key, None] = OrderedDict()
        self._running: set[Key] = set()
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max(1, threads))
        self._relay = _Relay()
        self._relay.decoded.connect(self._decoded)
        self._placeholders: dict[tuple[int, str], QPixmap] = {}
        self.decoded_count = 0  # files decoded so far (for tests and diagnostics)

    # ---- queries (GUI thread) ----------------------------------------------------------------
    def get(self, path: str, size: int) -> QPixmap | None:
        """The cached pixmap (now most recently used), else None after queueing it."""
        key = (path, size)
        pm = self._pixmaps.get(key)
        if pm is not None:
            self._pixmaps.move_to_end(key)
            return pm
        if key in self._failed:
            return self.broken(size)
        self.request(path, size)
        return None

    def peek(self, path: str, size: int) -> QPixmap | None:
        return self._pixmaps.get((path, size))

    def error(self, path: str, size: int) -> str | None:
        return self._failed.get((path, size))

    def request(self, path: str, size: int) -> None:
        key = (path, size)
        if not path or key in self._pixmaps or key in self._failed or key in self._running:
            return
        self._queue[key] = None
        self._queue.move_to_end(key)
        while len(self._queue) > self.queue_limit:
            self._queue.popitem(last=False)
        self._pump()

    def placeholder(self, size: int) -> QPixmap:
        """The pixmap shown until a thumbnail arrives (one shared instance per size)."""
        return self._placeholder(size, "#e6e8ec")

    def broken(self, size: int) -> QPixmap:
        """Shown for a file that could not be read."""
        return self._placeholder(size, "#f4e1de", cross=True)

    def _placeholder(self, size: int, fill: str, cross: bool = False) -> QPixmap:
        key = (size, fill)
        pm = self._placeholders.get(key)
        if pm is None:
            pm = self._placeholders[key] = _framed(size, fill, cross)
        return pm

    @property
    def cached_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._pixmaps)

    def clear(self) -> None:
        self._pixmaps.clear()
        self._failed.clear()
        self._queue.clear()
        self._bytes = 0

    def wait_idle(self, msecs: int = -1) -> bool:
        return self._pool.waitForDone(msecs)

    # ---- decoding -----------------------------------------------------------------------------
    def _pump(self) -> None:
        while self._queue and len(self._running) < self._pool.maxThreadCount():
            key, _ = self._queue.popitem(last=True)
            self._running.add(key)
            self._pool.start(_Decode(key, self._relay))

    def _decoded(self, path: str, size: int, image: QImage, error: str) -> None:
        key = (path, size)
        self._running.discard(key)
        self.decoded_count += 1
        if error:
            self._failed[key] = error
        else:
            pm = QPixmap.fromImage(image)
            self._pixmaps[key] = pm
            self._bytes += _nbytes(pm)
            while self._bytes > self.max_bytes and len(self._pixmaps) > 1:
                _, old = self._pixmaps.popitem(last=False)
                self._bytes -= _nbytes(old)
        self._pump()
        self.ready.emit(path, size)


def _nbytes(pm: QPixmap) -> int:
    return pm.width() * pm.height() * max(pm.depth(), 8) // 8


_shared: ThumbnailCache | None = None


def shared_cache() -> ThumbnailCache:
    """The application-wide cache (created on first use, on the GUI thread)."""
    global _shared
    if _shared is None:
        _shared = ThumbnailCache()
    return _shared
