"""The Datasets page's Rescan (issue 19, section 4): a dataset imported from a folder follows the folder.

A folder of real PNGs (one of them a symlink to a picture outside it, imported with ``allow_outside``) is imported
through the engine's importer API; files are deleted, added and changed on disk; the Rescan button runs a real
``trainer import folder ... --events -`` child process (:class:`~app.engine_job.EngineJob`) with the progress bar,
and the page says what it did in one line and shows the grid as the folder now is. A folder that is gone or empty
says so in one line and nothing is lost; a dataset imported from another format cannot be rescanned.

Real files, a real SQLite catalogue, real widgets; every wait is on a signal or a condition. Screenshots go under
``$CROSSFOLD_SHOTS`` (default: the system's temp folder).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import trimesh
from PIL import Image, ImageDraw
from PySide6.QtCore import Qt

from app.pages.datasets import DatasetsPage
from app.rescan import FolderImport, folder_import, rescan_args, rescan_line
from app.thumbnails import ThumbnailCache
from app.widgets.item_grid import ItemGridModel
from engine.data.importers import run_import
from engine.workspace import Workspace

PHOTOS = 30  # in the folder: 29 files and one symlink to a picture outside it
WAIT = 30_000  # ms: bounds for a busy 2-core machine, not timing assertions
JOB_WAIT = 120_000  # a child `trainer import` (interpreter start and the import) on a busy machine
SHOTS = Path(os.environ.get("CROSSFOLD_SHOTS", tempfile.gettempdir())) / "crossfold-rescan"
COLOURS = ((230, 190, 90), (40, 140, 60), (110, 110, 160))


def _picture(path: Path, i: int, size: tuple[int, int] = (64, 48)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    picture = Image.new("RGB", size, COLOURS[i % len(COLOURS)])
    ImageDraw.Draw(picture).ellipse((2 + i % 40, 10, 22 + i % 40, 30), fill=(250, 250, 250))
    picture.save(path)
    return path


def _keys(ws: Workspace, name: str) -> set[str]:
    catalog = ws.catalog()
    return {item.key for item in catalog.items(catalog.require_dataset(name).id)}


@pytest.fixture
def holiday(tmp_path: Path) -> tuple[Workspace, Path]:
    """A workspace with "holiday": a folder of 30 pictures without captions, the last a symlink to a picture in
    another folder (imported with ``allow_outside``, as ``--allow-outside`` does)."""
    folder, outside = tmp_path / "holiday", tmp_path / "elsewhere"
    for i in range(PHOTOS - 1):
        _picture(folder / f"IMG_{i:04d}.png", i)
    (folder / f"IMG_{PHOTOS - 1:04d}.png").symlink_to(_picture(outside / "borrowed.png", PHOTOS - 1))
    ws = Workspace.open(tmp_path / "ws")
    report = run_import(ws.catalog(), ws, "folder", folder, "holiday", allow_outside=[outside])
    assert (report.items_added, report.skipped) == (PHOTOS, 0)
    return ws, folder


def _page(qtbot, ws: Workspace) -> DatasetsPage:
    page = DatasetsPage(ws, thumbnails=ThumbnailCache())
    qtbot.addWidget(page)
    page.resize(1100, 700)
    with qtbot.waitSignal(page.loaded, timeout=WAIT):
        page.show()
    return page


def _browse(qtbot, page: DatasetsPage, name: str) -> None:
    page.select_dataset(name)
    qtbot.waitUntil(lambda: page.facets is not None and page.facets.name == name and page.model.query is not None
                    and not page.filtering, timeout=WAIT)


def _rescan(qtbot, page: DatasetsPage, shot: str = "") -> list[object]:
    """Click Rescan and wait for the job to end and the page to show the catalogue after it; the signal's args
    (``shot``: a screenshot's name, taken while the job runs)."""
    with qtbot.waitSignal(page.items_shown, timeout=JOB_WAIT + WAIT):  # the grid, read again after the job
        with qtbot.waitSignal(page.rescan_finished, timeout=JOB_WAIT) as ended:
            qtbot.mouseClick(page.rescan_button, Qt.MouseButton.LeftButton)
            assert page.job_bar.isVisibleTo(page) and page.job_cancel.isEnabled()
            assert not page.rescan_button.isEnabled()  # one job at a time
            if shot:
                _shot(page, shot)
    qtbot.waitUntil(lambda: not page.filtering, timeout=WAIT)
    return ended.args


def _shot(widget: object, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    assert widget.grab().save(str(path))  # type: ignore[attr-defined]
    return path


def _grid_keys(page: DatasetsPage, qtbot) -> set[str]:
    model = page.model
    qtbot.waitUntil(lambda: all(model.data(model.index(r), ItemGridModel.CardRole) is not None
                                for r in range(model.rowCount())), timeout=WAIT)
    return {model.data(model.index(r), ItemGridModel.CardRole).key for r in range(model.rowCount())}


def test_rescan_follows_the_folder_deleted_added_and_changed_files(qtbot, holiday) -> None:
    ws, folder = holiday
    page = _page(qtbot, ws)
    _browse(qtbot, page, "holiday")
    assert page.rescan_button.isEnabled() and str(folder) in page.rescan_button.toolTip()
    assert page.model.rowCount() == PHOTOS

    # one file deleted, one added: the grid follows, the line says so; the symlink (allowed outside) is unchanged
    (folder / "IMG_0003.png").unlink()
    _picture(folder / "new" / "IMG_NEW.png", 7)
    progress: list[str] = []
    page.job_progress.valueChanged.connect(lambda _v: progress.append(page.job_progress.text()))
    dataset, outcome, line = _rescan(qtbot, page, shot="datasets-page-rescanning")
    assert (dataset, outcome) == ("holiday", "finished")
    assert line == "Rescanned holiday: added 1, removed 1, changed 0, unchanged 29"
    assert page.status.text() == line and page.job_bar.isHidden() and page.rescan_button.isEnabled()
    assert any(text.endswith(f"/ {PHOTOS} files") for text in progress), progress  # the bar counted the files
    assert page.model.rowCount() == PHOTOS and page.count_label.text() == f"{PHOTOS} items"
    row = next(r for r in range(page.table.rowCount()) if page.table.item(r, 0).text() == "holiday")
    assert page.table.item(row, 3).text() == str(PHOTOS) and page.current_dataset == "holiday"
    keys = _grid_keys(page, qtbot)
    assert "IMG_0003.png" not in keys and any(key.endswith("IMG_NEW.png") for key in keys)
    assert keys == _keys(ws, "holiday")
    model = page.model
    qtbot.waitUntil(lambda: all(model.data(model.index(r), ItemGridModel.ThumbnailReadyRole)
                                for r in range(model.rowCount())), timeout=WAIT)
    _shot(page, "datasets-page-rescanned")

    # a file changed (another size): changed 1, its new picture shown (not the old one from the cache)
    changed = _picture(folder / "IMG_0005.png", 5, size=(96, 40))
    dataset, outcome, line = _rescan(qtbot, page)
    assert line == "Rescanned holiday: added 0, removed 0, changed 1, unchanged 29", line
    assert "IMG_0005.png" in _grid_keys(page, qtbot)  # (waits for the cards)
    row = next(r for r in range(model.rowCount())
               if model.data(model.index(r), ItemGridModel.CardRole).key == "IMG_0005.png")
    qtbot.waitUntil(lambda: model.data(model.index(row), ItemGridModel.ThumbnailReadyRole), timeout=WAIT)
    icon = model.data(model.index(row), ItemGridModel.CardRole).thumbnail
    assert icon == str(changed)
    pixmap = page.thumbnails.peek(str(changed), model.icon_size)
    assert pixmap is not None and pixmap.width() > 2 * pixmap.height()  # 96 x 40 now, not 64 x 48


def test_a_folder_gone_or_emptied_says_so_and_nothing_is_lost(qtbot, holiday, tmp_path: Path) -> None:
    ws, folder = holiday
    page = _page(qtbot, ws)
    _browse(qtbot, page, "holiday")
    before = _keys(ws, "holiday")

    moved = folder.rename(tmp_path / "moved-away")
    dataset, outcome, line = _rescan(qtbot, page)
    assert (dataset, outcome) == ("holiday", "failed")
    assert line == f"Could not rescan holiday: {folder}: no such folder", line
    assert page.status.text() == line and page.model.rowCount() == PHOTOS and _keys(ws, "holiday") == before
    _shot(page, "datasets-page-rescan-folder-gone")

    folder.mkdir()  # an empty mount point where the folder was
    dataset, outcome, line = _rescan(qtbot, page)
    assert outcome == "failed" and line.startswith(f"Could not rescan holiday: {folder}: holds none of the "), line
    assert "nothing was removed" in line and "\n" not in line
    assert page.model.rowCount() == PHOTOS and _keys(ws, "holiday") == before

    folder.rmdir()
    moved.rename(folder)  # back: the next rescan finds everything as it was
    dataset, outcome, line = _rescan(qtbot, page)
    assert line == f"Rescanned holiday: added 0, removed 0, changed 0, unchanged {PHOTOS}", line


def test_a_rescan_can_be_cancelled_and_run_again(qtbot, holiday) -> None:
    ws, folder = holiday
    page = _page(qtbot, ws)
    _browse(qtbot, page, "holiday")
    (folder / "IMG_0001.png").unlink()
    with qtbot.waitSignal(page.rescan_finished, timeout=JOB_WAIT) as ended:
        assert page.rescan()
        page.job_cancel.click()  # at once: the child has not started importing
        assert page.job_label.text() == "Cancelling…" and not page.job_cancel.isEnabled()
    assert ended.args[1] == "cancelled", ended.args
    assert "cancelled" in page.status.text() and "Rescan again" in page.status.text()
    qtbot.waitUntil(lambda: page.job_bar.isHidden() and page.rescan_button.isEnabled(), timeout=WAIT)
    assert len(_keys(ws, "holiday")) == PHOTOS  # nothing was removed
    _, outcome, line = _rescan(qtbot, page)
    assert outcome == "finished" and line == "Rescanned holiday: added 0, removed 1, changed 0, unchanged 29"


def test_a_dataset_from_another_format_cannot_be_rescanned(qtbot, holiday, tmp_path: Path) -> None:
    ws, folder = holiday
    table = tmp_path / "captions.csv"
    table.write_text("filepath,title\n" + "".join(f"IMG_{i:04d}.png,A disc number {i}.\n" for i in range(5)),
                     encoding="utf-8")
    report = run_import(ws.catalog(), ws, "csv", table, "captioned", images_root=folder)
    assert report.items_added == 5
    page = _page(qtbot, ws)
    _browse(qtbot, page, "captioned")
    assert not page.rescan_button.isEnabled() and not page.rescan()
    assert "imported from a folder" in page.rescan_button.toolTip()
    _browse(qtbot, page, "holiday")
    assert page.rescan_button.isEnabled()


def test_a_rescan_repeats_the_options_the_import_recorded(tmp_path: Path) -> None:
    """The up axis of meshes and the ``--allow-outside`` folders, read from a real import's meta."""
    folder = tmp_path / "meshes"
    folder.mkdir()
    for i in range(3):
        trimesh.creation.box(extents=(1, 1 + i, 2)).export(folder / f"box{i}.obj")
    ws = Workspace.open(tmp_path / "ws")
    extra = tmp_path / "other"
    extra.mkdir()
    run_import(ws.catalog(), ws, "folder", folder, "boxes", up_axis="z", allow_outside=[extra])
    summary = ws.catalog().summary("boxes")
    source = folder_import(summary.meta, summary.source_format, summary.kind)
    assert source == FolderImport(str(folder), (str(extra.resolve()),), "z")
    assert rescan_args("boxes", source) == ["import", "folder", str(folder), "--name", "boxes", "--up", "z",
                                            "--allow-outside", str(extra.resolve()), "--events", "-"]
    # a dataset imported before meta["imports"] existed: its source, when its format is folder
    assert folder_import({"source": "/data/pics"}, "folder", "image-text") == FolderImport("/data/pics")
    assert folder_import({"source": "/data/c.csv"}, "csv", "image-text") is None
    assert rescan_line("x", {"items_added": 2, "items_unchanged": 3, "skipped": 1}) == (
        "Rescanned x: added 2, removed 0, changed 0, unchanged 3 (1 file skipped: see the import log)")
