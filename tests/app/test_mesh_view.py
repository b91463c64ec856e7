"""The interactive 3D view on real offscreen renders (pyrender on EGL) under QT_QPA_PLATFORM=offscreen.

No sleeps: every wait is on a signal or a condition, with generous bounds for a busy 2-core machine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

from app.thumbnails import ThumbnailCache
from app.widgets.item_detail import ItemDetailView
from app.widgets.item_grid import CatalogHandle
from app.widgets.mesh_view import MeshView
from engine.data.importers import run_import
from engine.workspace import Workspace

WAIT = 60_000  # ms: the first frame loads trimesh and pyrender and makes a GL context


def _figure(path: Path, up: str = "y") -> Path:
    """A red block with a blue post standing on it (along ``up``): asymmetric, so every turn shows."""
    block = trimesh.creation.box(extents=(1.0, 0.3, 0.5))
    block.visual.face_colors = (210, 40, 40, 255)
    post = trimesh.creation.box(extents=(0.2, 0.8, 0.2))
    post.apply_translation((0.3, 0.5, 0.0))
    post.visual.face_colors = (40, 40, 210, 255)
    figure = trimesh.util.concatenate([block, post])
    if up == "z":  # the same figure as a Z-up file
        figure.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, (1, 0, 0)))
    figure.export(path)
    return path


def pixels(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    data = np.frombuffer(image.constBits(), np.uint8, image.sizeInBytes())
    return data.reshape(image.height(), image.bytesPerLine())[:, : image.width() * 3].reshape(
        image.height(), image.width(), 3).copy()


def object_box(image: QImage) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the non-white pixels."""
    rows, cols = np.nonzero(np.abs(pixels(image).astype(int) - 255).sum(axis=2) > 30)
    return int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())


def wait_frame(qtbot, view: MeshView) -> QImage:
    """The frame of the latest request, once it is on screen."""
    qtbot.waitUntil(lambda: view.frame is not None and view.frame_serial == view.requested, timeout=WAIT)
    return QImage(view.frame)


def mouse(view: MeshView, kind: QMouseEvent.Type, pos: QPoint, buttons: Qt.MouseButton) -> None:
    button = Qt.MouseButton.NoButton if kind == QMouseEvent.Type.MouseMove else Qt.MouseButton.LeftButton
    event = QMouseEvent(kind, QPointF(pos), QPointF(view.mapToGlobal(pos)), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view, event)


@pytest.fixture()
def view(qtbot) -> MeshView:
    widget = MeshView()
    qtbot.addWidget(widget)
    widget.resize(240, 240)
    widget.show()
    return widget


def test_shows_a_frame_turns_with_a_drag_and_zooms_with_the_wheel(qtbot, view: MeshView, tmp_path: Path) -> None:
    view.set_mesh(_figure(tmp_path / "figure.glb"))
    with qtbot.waitSignal(view.frame_shown, timeout=WAIT):
        pass
    first = wait_frame(qtbot, view)
    top, bottom, left, right = object_box(first)
    assert first.width() == 240 and 0 < top < bottom < 239 and 0 < left < right < 239  # all of it, framed
    assert abs((top + bottom) / 2 - 120) < 24 and abs((left + right) / 2 - 120) < 24  # centred

    centre = view.rect().center()  # drag 90 px to the left: the figure turns 45 degrees
    mouse(view, QMouseEvent.Type.MouseButtonPress, centre, Qt.MouseButton.LeftButton)
    for step in range(1, 4):
        mouse(view, QMouseEvent.Type.MouseMove, centre - QPoint(30 * step, 0), Qt.MouseButton.LeftButton)
    mouse(view, QMouseEvent.Type.MouseButtonRelease, centre - QPoint(90, 0), Qt.MouseButton.NoButton)
    assert view.angles.azimuth == pytest.approx((30.0 + 45.0) % 360)
    turned = wait_frame(qtbot, view)
    assert np.abs(pixels(turned).astype(int) - pixels(first)).sum(axis=2).astype(bool).mean() > 0.05

    zoom = view.angles.zoom  # two notches forward: closer, so the figure fills more of the frame
    QApplication.sendEvent(view, QWheelEvent(QPointF(centre), QPointF(view.mapToGlobal(centre)), QPoint(),
                                             QPoint(0, 240), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                                             Qt.ScrollPhase.NoScrollPhase, False))
    assert view.angles.zoom < zoom
    closer = wait_frame(qtbot, view)
    t0, b0, l0, r0 = object_box(turned)
    t1, b1, l1, r1 = object_box(closer)
    assert (b1 - t1) * (r1 - l1) > 1.3 * (b0 - t0) * (r0 - l0)

    view.grab().save(str(tmp_path / "view.png"))  # what the widget paints: the frame, not a blank
    assert object_box(QImage(str(tmp_path / "view.png")))[0] > 0


def test_a_broken_mesh_says_why_and_a_new_mesh_drops_old_frames(qtbot, view: MeshView, tmp_path: Path) -> None:
    broken = tmp_path / "broken.obj"
    broken.write_text("this is not a mesh\n")
    with qtbot.waitSignal(view.failed, timeout=WAIT) as blocker:
        view.set_mesh(broken)
    message = blocker.args[0]
    assert "broken.obj" in message and "\n" not in message
    assert view.frame is None and view.message == message

    view.set_mesh(_figure(tmp_path / "a.glb"))
    view.set_angles(view.angles.__class__(90.0, 10.0, 1.0))  # requests pile up: the latest one wins
    view.set_mesh(_figure(tmp_path / "b.ply"))  # a new mesh before any frame of the old one arrived
    shown: list[int] = []
    view.frame_shown.connect(shown.append)
    wait_frame(qtbot, view)
    assert view.path == str(tmp_path / "b.ply") and shown and all(s > 2 for s in shown)  # none of a.glb's


def test_item_detail_shows_a_z_up_mesh_upright_beside_its_views(qtbot, tmp_path: Path) -> None:
    folder = tmp_path / "meshes"
    folder.mkdir()
    _figure(folder / "figure.ply", up="z")  # ply keeps the colours
    (folder / "figure.txt").write_text("a block with a post\n")
    ws = Workspace.open(tmp_path / "ws")
    run_import(ws.catalog(), ws, "folder", folder, "zup", up_axis="z")
    item = ws.catalog().items(ws.catalog().require_dataset("zup").id)[0]

    detail = ItemDetailView(CatalogHandle(ws), ThumbnailCache())
    qtbot.addWidget(detail)
    detail.resize(480, 640)
    detail.show()
    with qtbot.waitSignal(detail.loaded, timeout=WAIT):
        detail.show_item(item.id)
    assert detail.mesh_view.isVisibleTo(detail) and detail.mesh_view.up_axis == "z"
    assert "3D" in detail.views_label.text()
    frame = wait_frame(qtbot, detail.mesh_view)
    top, bottom, left, right = object_box(frame)
    post = pixels(frame)[top : top + (bottom - top) // 4, left : right + 1]
    blue = (post[..., 2] > 120) & (post[..., 0] < 100)
    assert blue.sum() > 20  # the post stands up: the top of the picture is the blue post

    detail.clear()
    assert not detail.mesh_view.isVisibleTo(detail) and detail.mesh_view.path is None
