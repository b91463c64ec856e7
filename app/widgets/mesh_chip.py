"""A mesh query's part of the Search page's query chip: the mesh drawn (our offscreen renderer, on the view's own
render thread: :class:`~app.widgets.mesh_view.MeshView`) and its up axis, by default the one of the run's dataset
(as the engine renders the query for that run)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QWidget

from app.mesh_source import up_axis_hint
from app.widgets.mesh_view import MeshView
from engine.mesh_files import DEFAULT_UP_AXIS, UP_AXES

PICTURE_SIZE = 56  # px
AS_DATASET = ""  # the combo's data for "the dataset's axis"


class MeshChip(QWidget):
    """``set_mesh(path)`` draws it with :meth:`axis`; ``up_axis()`` is what the search is told (None: the run's
    dataset's); ``axis_changed(str)`` when the user picks another."""

    axis_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.dataset = ""
        self.dataset_axis = DEFAULT_UP_AXIS
        self.picture = MeshView()
        self.picture.setFixedSize(PICTURE_SIZE, PICTURE_SIZE)
        self.combo = QComboBox()
        self.combo.addItem("", AS_DATASET)
        for axis in UP_AXES:
            self.combo.addItem(f"{axis} up", axis)
        self.combo.setToolTip(up_axis_hint())
        self.combo.activated.connect(self._picked)
        self._label_dataset_entry()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.picture)
        layout.addWidget(self.combo)

    def axis(self) -> str:
        """The axis the mesh is drawn (and searched) with."""
        return self.up_axis() or self.dataset_axis

    def up_axis(self) -> str | None:
        return str(self.combo.currentData()) or None

    def set_mesh(self, path: str | Path | None) -> None:
        """Draw this mesh with :meth:`axis` (None: nothing; a new mesh starts at the dataset's axis)."""
        path = str(path) if path else None
        if path != self.picture.path:
            self.combo.setCurrentIndex(0)
        if (path, self.axis()) != (self.picture.path, self.picture.up_axis):
            self.picture.set_mesh(path, self.axis())

    def set_dataset_axis(self, dataset: str, axis: str) -> None:
        """The run's dataset and its up axis: the default, redrawn if the chip follows it."""
        self.dataset, self.dataset_axis = dataset, axis
        self._label_dataset_entry()
        if self.picture.path and self.picture.up_axis != self.axis():
            self.picture.set_mesh(self.picture.path, self.axis())

    def shutdown(self) -> None:
        self.picture.shutdown()

    def _label_dataset_entry(self) -> None:
        whose = f"as {self.dataset}" if self.dataset else "as the dataset"
        self.combo.setItemText(0, f"{self.dataset_axis} up ({whose})")

    def _picked(self, _index: int) -> None:
        if self.picture.path and self.picture.up_axis != self.axis():
            self.picture.set_mesh(self.picture.path, self.axis())
        self.axis_changed.emit(self.axis())
