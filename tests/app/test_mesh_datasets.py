"""A mesh dataset made usable from the app (issue 20, section 2): the Import dialog's up axis with a preview, a
render right after the import, the Datasets page's Render… for a dataset whose meshes have no views, and a mesh
dropped on the Search page drawn in its query chip.

Real meshes (trimesh), real EGL renders (pyrender), a real SQLite catalogue, real ``trainer import`` and
``trainer render`` child processes (three in all), real widgets; every wait is on a signal or a condition. Tiny: 3
meshes, 2 views of 32 px. Screenshots go under ``$CROSSFOLD_SHOTS`` (default: the system's temp folder).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from app.dialogs.import_dialog import ImportDialog
from app.mesh_source import first_mesh
from app.pages.datasets import DatasetsPage
from app.pages.search import SearchPage
from app.render_job import RenderRequest, needs_render
from app.thumbnails import ThumbnailCache
from app.widgets.item_grid import ItemGridModel
from app.widgets.render_notice import not_rendered_picture
from engine.data.importers import run_import
from engine.workspace import Workspace
from tests.app.shots import save_shots
from tests.app.test_search_page import drop_on

WAIT = 60_000  # ms: the first frame loads trimesh and pyrender and makes a GL context (bounds, not timings)
JOB_WAIT = 180_000  # a child `trainer import` / `trainer render` on a busy 2-core machine
SHOTS = Path(os.environ.get("CROSSFOLD_SHOTS", tempfile.gettempdir()))
SHAPES = ("chair", "lamp", "table")


def _figure(path: Path, height: float) -> Path:
    """A red block with a blue post standing on it along z (a Z-up file, as ModelNet's): lying down when read y-up."""
    block = trimesh.creation.box(extents=(1.0, 0.3, 0.5))
    block.visual.face_colors = (210, 40, 40, 255)
    post = trimesh.creation.box(extents=(0.2, height, 0.2))
    post.apply_translation((0.3, 0.5, 0.0))
    post.visual.face_colors = (40, 40, 210, 255)
    figure = trimesh.util.concatenate([block, post])
    figure.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, (1, 0, 0)))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.export(path)
    return path


@pytest.fixture
def mesh_folder(tmp_path: Path) -> Path:
    """Three meshes in category folders, a caption file beside one."""
    folder = tmp_path / "my-shapes"
    for i, name in enumerate(SHAPES):
        _figure(folder / name / f"{name}_{i}.obj", 0.6 + 0.3 * i)
    (folder / "chair" / "chair_0.txt").write_text("a chair\n")
    return folder


@pytest.fixture
def photo_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(2):
        Image.new("RGB", (32, 24), (40 * i, 120, 200)).save(folder / f"IMG_{i}.png")
    return folder


def _object_box(image: QImage) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the non-white pixels."""
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    data = np.frombuffer(image.constBits(), np.uint8, image.sizeInBytes())
    rgb = data.reshape(image.height(), image.bytesPerLine())[:, : image.width() * 3].reshape(
        image.height(), image.width(), 3)
    rows, cols = np.nonzero(np.abs(rgb.astype(int) - 255).sum(axis=2) > 30)
    return int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())


def _wait_frame(qtbot, view) -> QImage:
    qtbot.waitUntil(lambda: view.frame is not None and view.frame_serial == view.requested, timeout=WAIT)
    return QImage(view.frame)


def _shot(widget, name: str) -> None:
    save_shots(widget, SHOTS, name)


def _page(qtbot, ws: Workspace) -> DatasetsPage:
    page = DatasetsPage(ws, thumbnails=ThumbnailCache())
    qtbot.addWidget(page)
    page.resize(1280, 720)
    page.show()
    return page


def _views_shown(page: DatasetsPage, views: int) -> bool:
    """Every card shows its rendered view, and the detail its ``views`` views, decoded."""
    model = page.model
    cards = [model.data(model.index(r), ItemGridModel.CardRole) for r in range(model.rowCount())]
    ready = [model.data(model.index(r), ItemGridModel.ThumbnailReadyRole) for r in range(model.rowCount())]
    detail = page.detail
    return (bool(cards) and all(c is not None and c.thumbnail for c in cards) and all(ready)
            and detail.views.count() == views and all(detail.picture_ready(i) for i in range(views)))


def test_first_mesh_is_a_bounded_scan(mesh_folder: Path, photo_folder: Path) -> None:
    assert first_mesh(mesh_folder) == mesh_folder / "chair" / "chair_0.obj"
    assert first_mesh(photo_folder) is None
    assert first_mesh(mesh_folder, limit=3) is None  # three entries (the category folders) and no further


def test_import_dialog_asks_the_up_axis_of_meshes_only_and_previews_it(qtbot, tmp_path: Path, mesh_folder: Path,
                                                                       photo_folder: Path) -> None:
    dialog = ImportDialog(Workspace.open(tmp_path / "ws"))
    qtbot.addWidget(dialog)
    dialog.resize(1280, 720)
    dialog.show()
    dialog.set_format("folder")
    dialog.source.setText(str(photo_folder))
    qtbot.waitUntil(lambda: not dialog.scanning, timeout=WAIT)
    assert not dialog.axis.isVisibleTo(dialog) and not dialog.render_row.isVisibleTo(dialog)
    assert "--up" not in dialog.args()

    dialog.source.setText(str(mesh_folder))
    qtbot.waitUntil(lambda: not dialog.scanning and dialog.axis.isVisibleTo(dialog), timeout=WAIT)
    assert dialog.render_row.isVisibleTo(dialog) and dialog.render_after.isChecked()
    assert dialog.axis.path == str(mesh_folder / "chair" / "chair_0.obj")
    assert "ModelNet" in dialog.axis.combo.toolTip()  # the README's table
    lying = _object_box(_wait_frame(qtbot, dialog.axis.view))  # y up: the Z-up figure lies on its back
    dialog.axis.set_axis("z")
    standing = _object_box(_wait_frame(qtbot, dialog.axis.view))
    assert dialog.axis.view.up_axis == "z" and standing != lying
    # the post stands up: the figure is taller than it was lying down
    assert standing[1] - standing[0] > lying[1] - lying[0]
    assert dialog.args()[-4:] == ["--up", "z", "--events", "-"]
    _shot(dialog, "mesh_import_dialog.png")


def test_import_with_render_after_turns_the_crosses_into_views(qtbot, tmp_path: Path, mesh_folder: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    page = _page(qtbot, ws)
    dialog = page.open_import_dialog()
    dialog.set_format("folder")
    dialog.source.setText(str(mesh_folder))
    qtbot.waitUntil(lambda: not dialog.scanning and dialog.axis.isVisibleTo(dialog), timeout=WAIT)
    dialog.axis.set_axis("z")
    dialog.render_fields.views.setValue(2)
    dialog.render_fields.size.setValue(32)
    with qtbot.waitSignal(page.render_finished, timeout=JOB_WAIT) as ended:
        assert dialog.start_import()
        qtbot.waitUntil(lambda: page.render_job is not None, timeout=JOB_WAIT)
        assert page.job_bar.isVisibleTo(page) and page.job_cancel.isEnabled()  # progress, cancellable
    dataset, outcome, line = ended.args
    assert (dataset, outcome) == ("my-shapes", "finished"), line
    assert line == "Rendered my-shapes: 3 meshes rendered, 0 from cache, 0 failed"
    summary = ws.catalog().summaries()[0]
    assert summary.meta["up_axis"] == "z" and summary.by_modality["view"] == 6
    dialog.close()
    qtbot.waitUntil(lambda: _views_shown(page, 2), timeout=WAIT)
    assert not page.render_notice.isVisibleTo(page) and not page.render_button.isEnabled()


def test_render_on_an_unrendered_mesh_dataset_renders_it(qtbot, tmp_path: Path, mesh_folder: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    run_import(ws.catalog(), ws, "folder", mesh_folder, "my-shapes", up_axis="z")
    page = _page(qtbot, ws)
    qtbot.waitUntil(lambda: page.model.rowCount() == 3 and page.detail.detail is not None, timeout=WAIT)
    assert needs_render(page.summary("my-shapes")) and page.render_button.isEnabled()
    assert page.render_notice.isVisibleTo(page) and "All 3 shapes not rendered yet" in page.render_notice.text()
    first = page.model.index(0)
    qtbot.waitUntil(lambda: page.model.data(first, page.model.CardRole) is not None, timeout=WAIT)  # card loaded
    card_picture = page.model.data(first, Qt.ItemDataRole.DecorationRole)
    assert card_picture.toImage() == not_rendered_picture(page.model.icon_size).toImage()  # no red ✕
    assert "not rendered yet: <a href='render'>Render…</a>" in page.detail.views_label.text()
    _wait_frame(qtbot, page.detail.mesh_view)  # the 3D view, z up, for the shot
    _shot(page, "mesh_datasets_before.png")

    page.render_notice.linkActivated.emit("render")  # the link above the grid
    dialog = page.render_dialog
    assert dialog is not None and dialog.isVisible()
    assert (dialog.fields.views.value(), dialog.fields.size.value()) == (8, 224)  # trainer render's defaults
    _shot(dialog, "mesh_render_dialog.png")
    dialog.fields.views.setValue(2)
    dialog.fields.size.setValue(32)
    with qtbot.waitSignal(page.render_finished, timeout=JOB_WAIT) as ended:
        dialog.render_button.click()
    assert ended.args[1] == "finished", ended.args[2]
    assert page.render_job is not None and page.render_job.args[:6] == RenderRequest("my-shapes", 2, 32).args()[:6]
    qtbot.waitUntil(lambda: _views_shown(page, 2), timeout=WAIT)
    assert not page.render_notice.isVisibleTo(page) and "2 views" in page.detail.views_label.text()
    _shot(page, "mesh_datasets_after.png")


def test_a_dropped_mesh_is_drawn_in_the_query_chip_with_its_up_axis(qtbot, tmp_path: Path,
                                                                     mesh_folder: Path) -> None:
    page = SearchPage(Workspace.open(tmp_path / "ws"), thumbnails=ThumbnailCache())
    qtbot.addWidget(page)
    page.resize(1280, 720)
    page.show()
    mesh = mesh_folder / "lamp" / "lamp_1.obj"
    assert drop_on(page.query_edit, mesh).isAccepted()
    chip = page.subject_mesh
    assert page.mesh == str(mesh) and chip.isVisibleTo(page) and not page.subject_picture.isVisibleTo(page)
    lying = _object_box(_wait_frame(qtbot, chip.picture))
    assert chip.up_axis() is None and chip.axis() == "y"  # the dataset's (no run: the default)
    chip.combo.setCurrentIndex(chip.combo.findData("z"))
    chip.combo.activated.emit(chip.combo.currentIndex())
    standing = _object_box(_wait_frame(qtbot, chip.picture))
    assert chip.picture.up_axis == "z" and standing != lying
    assert page.current_query() is None or page.current_query().up_axis == "z"
    _shot(page, "mesh_search_chip.png")
    page.shutdown()
