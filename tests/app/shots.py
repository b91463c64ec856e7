"""Pictures of what a person sees, at the two window sizes the app is judged at (1280x720 and 1920x1080).

``save_shots(widget, folder, "name.png")`` lays the widget out at each size, grabs it and saves
``name_1280x720.png`` and ``name_1920x1080.png``, then gives it back its size. ``ready``: whether everything is
drawn (a grid draws a few cards per paint pass): grabbed again, a paint pass each, until it is. A test asserts
on the widget; the pictures are for a person to open.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QApplication, QWidget

SIZES = ((1280, 720), (1920, 1080))


def save_shots(widget: QWidget, folder: Path, name: str, ready: Callable[[], bool] | None = None) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    size = widget.size()
    stem, suffix = Path(name).stem, Path(name).suffix or ".png"
    saved = []
    for width, height in SIZES:
        widget.resize(width, height)
        QApplication.processEvents()
        picture = widget.grab()
        for _ in range(200):  # each grab is a paint pass
            if ready is None or ready():
                break
            QApplication.processEvents()
            picture = widget.grab()
        path = folder / f"{stem}_{width}x{height}{suffix}"
        assert picture.save(str(path))
        saved.append(path)
    widget.resize(size)
    QApplication.processEvents()
    return saved
