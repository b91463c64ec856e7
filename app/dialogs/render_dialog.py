"""Render a mesh dataset's views: the views and size fields (also in the Import dialog) and the Datasets page's
"Render…" dialog. Accepting emits a :class:`~app.render_job.RenderRequest`; the page runs it as a job."""

from __future__ import annotations

import html

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from app.render_job import RenderRequest
from engine.mesh_files import DEFAULT_VIEW_SIZE, DEFAULT_VIEWS

MAX_VIEWS = 64
SIZE_RANGE = (16, 1024)  # px


class RenderFields(QWidget):
    """Views per shape and their size, at the defaults of ``trainer render``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.views = QSpinBox()
        self.views.setRange(1, MAX_VIEWS)
        self.views.setValue(DEFAULT_VIEWS)
        self.views.setToolTip("Views per shape, evenly spaced around it")
        self.size = QSpinBox()
        self.size.setRange(*SIZE_RANGE)
        self.size.setValue(DEFAULT_VIEW_SIZE)
        self.size.setSuffix(" px")
        self.size.setToolTip("Each view's side in pixels (at least the model's input size)")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Views"))
        layout.addWidget(self.views)
        layout.addSpacing(12)
        layout.addWidget(QLabel("Size"))
        layout.addWidget(self.size)
        layout.addStretch(1)

    def request(self, dataset: str) -> RenderRequest:
        return RenderRequest(dataset, self.views.value(), self.size.value())


class RenderDialog(QDialog):
    """Asks for the views and size of ``dataset``'s render; ``requested(RenderRequest)`` on Render."""

    requested = Signal(object)

    def __init__(self, dataset: str, unrendered: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.dataset = dataset
        self.setWindowTitle(f"Render {dataset}")
        noun = "mesh" if unrendered == 1 else "meshes"
        text = QLabel(f"Render the views of <b>{html.escape(dataset)}</b>: {unrendered:,} {noun} not rendered yet. "
                      "Views rendered before come from the cache.")
        text.setWordWrap(True)
        self.fields = RenderFields()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.render_button = self.buttons.addButton("Render", QDialogButtonBox.ButtonRole.AcceptRole)
        self.render_button.setDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(self.fields)
        layout.addWidget(self.buttons)
        self.resize(420, self.sizeHint().height())

    def accept(self) -> None:
        self.requested.emit(self.fields.request(self.dataset))
        super().accept()
