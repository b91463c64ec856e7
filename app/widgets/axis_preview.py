"""The up axis of a mesh source, with a preview of one of its meshes drawn with the chosen axis.

The Import dialog shows it when the source holds meshes. The preview is a :class:`~app.widgets.mesh_view.MeshView`
(our own offscreen renderer on the view's render thread: the GUI thread only posts requests and paints frames);
choosing another axis draws the mesh again, turned by it. The hint is the README's table of which way is up.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from app.mesh_source import up_axis_hint
from app.widgets.mesh_view import MeshView
from engine.mesh_files import DEFAULT_UP_AXIS, UP_AXES, UP_AXIS_TABLE

PREVIEW_SIZE = 150  # px: the preview's side


def axis_summary() -> str:
    """The table in one line, axis by axis: ``y: ShapeNet, Objaverse, … · z: ModelNet10/40, Thingi10K``."""
    by_axis: dict[str, list[str]] = {}
    for mesh_set, _format, axis in UP_AXIS_TABLE:
        by_axis.setdefault(axis, []).append(mesh_set.split(" (")[0].split(",")[0])
    return " · ".join(f"<b>{axis}</b>: {', '.join(sets)}" for axis, sets in by_axis.items())


class AxisPreview(QWidget):
    """The axis choice (``axis()``; ``axis_changed(str)`` when the user or :meth:`set_axis` changes it) beside a
    preview of ``set_mesh(path)``, drawn with that axis; ``chosen`` once the user has picked one."""

    axis_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.chosen = False
        self._path: str | None = None
        self.combo = QComboBox()
        for axis in UP_AXES:
            self.combo.addItem(axis, axis)
        self.combo.setToolTip(up_axis_hint())
        self.combo.activated.connect(self._picked)
        self.combo.currentIndexChanged.connect(self._changed)
        self.hint = QLabel(axis_summary() + "; other axes exist for the odd exporter.")
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #5f6368;")
        self.hint.setToolTip(up_axis_hint())
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setStyleSheet("color: #5f6368;")
        self.view = MeshView()
        self.view.setFixedSize(PREVIEW_SIZE, PREVIEW_SIZE)
        self.view.setToolTip("One mesh of the source, turned by the chosen axis: it should stand upright. "
                             "Drag to turn it.")
        left = QVBoxLayout()
        left.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(self.combo)
        row.addStretch(1)
        left.addLayout(row)
        left.addWidget(self.hint)
        left.addWidget(self.caption)
        left.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 0, Qt.AlignmentFlag.AlignTop)
        layout.addSpacing(8)
        layout.addLayout(left, 1)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)  # as tall as the preview
        self.set_mesh(None)

    def axis(self) -> str:
        return str(self.combo.currentData() or DEFAULT_UP_AXIS)

    def set_axis(self, axis: str) -> None:
        self.combo.setCurrentIndex(max(0, self.combo.findData(axis)))

    @property
    def path(self) -> str | None:
        return self._path

    def set_mesh(self, path: str | Path | None) -> None:
        """Preview this mesh (None: say that no mesh was found to preview)."""
        self._path = str(path) if path else None
        self.caption.setText(f"Preview: {Path(self._path).name}" if self._path else
                             "No mesh found to preview yet.")
        self.caption.setToolTip(self._path or "")
        self.view.set_mesh(self._path, self.axis())

    def shutdown(self) -> None:
        self.view.shutdown()

    def _picked(self, _index: int) -> None:
        self.chosen = True

    def _changed(self, _index: int) -> None:
        if self._path and self.view.up_axis != self.axis():
            self.view.set_mesh(self._path, self.axis())
        self.axis_changed.emit(self.axis())
