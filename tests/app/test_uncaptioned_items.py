"""Items without captions in the app (issue 19, section 1): a folder of photos or meshes imported as it is is listed,
browsed and filtered on the Datasets page ("captions: 0 of N items"), its items say "captions: none" beside their
picture or 3D view, the Import dialog counts the items with captions, and the run form marks a dataset with fewer
captioned train items than one batch with the line ``trainer train`` refuses with.

Real PNG and mesh files, a real SQLite catalogue, real widgets; every wait is on a signal or a condition. Each test
saves what a person would see under ``$CROSSFOLD_SHOTS`` (default: the system's temp folder).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import trimesh
from PIL import Image, ImageDraw
from PySide6.QtCore import Qt

from app.dialogs.import_dialog import ImportDialog
from app.pages.datasets import DatasetsPage
from app.run_form_checks import check_launch, field_of
from app.thumbnails import ThumbnailCache
from app.widgets.item_detail import ItemDetailView
from app.widgets.item_grid import CatalogHandle, ItemGridModel
from app.widgets.run_form import RunForm
from engine.catalog.browse import item_ids
from engine.data.importers import run_import
from engine.data.items import split_items, too_few_captioned
from engine.workspace import Workspace

PHOTOS = 30
CAPTIONED = 12  # of the "some" folder's photos, those with a caption file
WAIT = 30_000  # ms: bounds for a busy 2-core machine, not timing assertions
SHOTS = Path(os.environ.get("CROSSFOLD_SHOTS", tempfile.gettempdir())) / "crossfold-uncaptioned"
COLOURS = {"beach": (230, 190, 90), "forest": (40, 140, 60), "city": (110, 110, 160)}


def _photos(folder: Path, captioned: int = 0) -> Path:
    """``PHOTOS`` small pictures in one sub-folder per category (a coloured ground, a white disc moving along);
    the first ``captioned`` get a same-stem caption file."""
    for i in range(PHOTOS):
        category = list(COLOURS)[i % len(COLOURS)]
        path = folder / category / f"IMG_{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        picture = Image.new("RGB", (64, 48), COLOURS[category])
        ImageDraw.Draw(picture).ellipse((2 + i, 10, 22 + i, 30), fill=(250, 250, 250))
        picture.save(path)
        if i < captioned:
            path.with_suffix(".txt").write_text(f"A white disc over the {category}.\n", encoding="utf-8")
    return folder


def _shot(widget: object, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    assert widget.grab().save(str(path))  # type: ignore[attr-defined]
    return path


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A workspace with "photos" (30 pictures, no caption) and "some" (30 pictures, 12 with a caption)."""
    root = tmp_path_factory.mktemp("uncaptioned")
    workspace = Workspace.open(root / "ws")
    catalog = workspace.catalog()
    report = run_import(catalog, workspace, "folder", _photos(root / "photos"), "photos")
    assert (report.items_added, report.captioned_items_added, report.skipped) == (PHOTOS, 0, 0)
    report = run_import(catalog, workspace, "folder", _photos(root / "some", CAPTIONED), "some")
    assert (report.items_added, report.captioned_items_added) == (PHOTOS, CAPTIONED)
    return workspace


def _page(qtbot, ws: Workspace) -> DatasetsPage:
    page = DatasetsPage(ws, thumbnails=ThumbnailCache())
    qtbot.addWidget(page)
    page.resize(1100, 760)
    with qtbot.waitSignal(page.loaded, timeout=WAIT):
        page.show()
    return page


def _browse(qtbot, page: DatasetsPage, name: str) -> None:
    page.select_dataset(name)
    qtbot.waitUntil(lambda: page.facets is not None and page.facets.name == name and page.model.query is not None
                    and not page.filtering, timeout=WAIT)


def test_the_datasets_page_browses_a_folder_without_captions(qtbot, ws: Workspace) -> None:
    page = _page(qtbot, ws)
    _browse(qtbot, page, "photos")
    summary = page.dataset_summary.text()
    assert page.dataset_summary.isVisibleTo(page) and f"captions: 0 of {PHOTOS} items" in summary
    assert "search it with pretrained weights" in summary and "training needs captions" in summary
    assert page.model.rowCount() == PHOTOS and page.count_label.text() == f"{PHOTOS} items"
    # nothing to search in the captions: the caption filter says so instead of always finding nothing
    assert not page.text_filter.isEnabled() and page.text_filter.placeholderText() == "no captions to search in"

    # the category filter (the sub-folders) works on items without captions
    categories = [page.category_filter.itemData(i) for i in range(1, page.category_filter.count())]
    assert categories == sorted(COLOURS)
    page.set_filters(category="forest")
    qtbot.waitUntil(lambda: not page.filtering and page.model.query[2] == "forest", timeout=WAIT)
    ds = ws.catalog().require_dataset("photos")
    assert page.model.rowCount() == len(item_ids(ws.catalog(), ds.id, category="forest")) == PHOTOS // 3
    assert page.count_label.text() == f"{PHOTOS // 3} of {PHOTOS} items"
    qtbot.waitUntil(lambda: page.model.data(page.model.index(0), ItemGridModel.CardRole) is not None, timeout=WAIT)
    tip = page.model.data(page.model.index(0), Qt.ItemDataRole.ToolTipRole)
    assert "captions: none" in tip and "forest" in tip

    # the first item in full: its picture, "captions: none" in one line (no empty list), its metadata
    detail = page.detail
    qtbot.waitUntil(lambda: detail.item_id == page.model.item_id(0), timeout=WAIT)
    qtbot.waitUntil(lambda: detail.picture_ready(0), timeout=WAIT)
    assert detail.views.count() == 1 and not detail.views.item(0).icon().isNull()
    assert detail.captions_label.text() == "<b>captions:</b> none"
    assert not detail.captions.isVisibleTo(detail) and detail.captions.count() == 0
    assert detail.captions_box.height() <= detail.captions_label.height() + 10  # the line, not an empty box
    meta = {detail.meta.item(r, 0).text(): detail.meta.item(r, 1).text() for r in range(detail.meta.rowCount())}
    assert meta["category"] == "forest" and meta["dataset"] == "photos"
    model = page.model
    qtbot.waitUntil(lambda: all(model.data(model.index(r), ItemGridModel.ThumbnailReadyRole)
                                for r in range(model.rowCount())), timeout=WAIT)
    _shot(page, "datasets-page-photos")

    # a partly captioned dataset: the count, the caption filter back, and a captioned item's list back
    _browse(qtbot, page, "some")
    assert f"captions: {CAPTIONED} of {PHOTOS} items" in page.dataset_summary.text()
    assert f"training uses the {CAPTIONED} with captions" in page.dataset_summary.text()
    assert page.text_filter.isEnabled() and page.text_filter.placeholderText() == "caption contains…"
    page.set_filters(text="white disc")
    qtbot.waitUntil(lambda: not page.filtering and page.model.query[3] == "white disc", timeout=WAIT)
    assert page.model.rowCount() == CAPTIONED
    qtbot.waitUntil(lambda: detail.item_id == page.model.item_id(0) and detail.captions.count() == 1, timeout=WAIT)
    assert detail.captions.isVisibleTo(detail) and detail.captions_label.text() == "<b>1 caption</b>"
    # a few captions: the box as tall as they are, each shown whole, no mostly empty box under them
    def row_shown() -> bool:  # once the box is laid out for its one caption
        row = detail.captions.visualItemRect(detail.captions.item(0))
        return row.height() > 0 and detail.captions.viewport().rect().contains(row)

    qtbot.waitUntil(row_shown, timeout=WAIT)
    row = detail.captions.visualItemRect(detail.captions.item(0))
    assert detail.captions_box.height() <= detail.captions_label.height() + row.height() + 20
    _shot(page.detail, "item-detail-captioned")


def test_a_mesh_without_captions_shows_its_3d_view_and_says_captions_none(qtbot, tmp_path: Path) -> None:
    folder = tmp_path / "meshes"
    (folder / "chair").mkdir(parents=True)
    block = trimesh.creation.box(extents=(1.0, 0.4, 0.6))
    block.visual.face_colors = (200, 60, 40, 255)
    block.export(folder / "chair" / "block.ply")
    workspace = Workspace.open(tmp_path / "ws")
    report = run_import(workspace.catalog(), workspace, "folder", folder, "meshes")
    assert (report.items_added, report.captioned_items_added) == (1, 0)
    item = workspace.catalog().items(workspace.catalog().require_dataset("meshes").id)[0]

    detail = ItemDetailView(CatalogHandle(workspace), ThumbnailCache())
    qtbot.addWidget(detail)
    detail.resize(480, 640)
    detail.show()
    with qtbot.waitSignal(detail.loaded, timeout=WAIT):
        detail.show_item(item.id)
    assert detail.mesh_view.isVisibleTo(detail) and "3D" in detail.views_label.text()
    assert "not rendered yet: <a href='render'>Render…</a>" in detail.views_label.text()
    assert not detail.views.isVisibleTo(detail)
    with qtbot.waitSignal(detail.render_requested, timeout=WAIT):  # the link asks for the Render dialog
        detail.views_label.linkActivated.emit("render")
    assert detail.captions_label.text() == "<b>captions:</b> none" and not detail.captions.isVisibleTo(detail)
    qtbot.waitUntil(lambda: detail.mesh_view.frame is not None
                    and detail.mesh_view.frame_serial == detail.mesh_view.requested, timeout=60_000)
    _shot(detail, "item-detail-mesh")


def test_the_import_dialog_counts_the_items_with_captions(qtbot, tmp_path: Path) -> None:
    folder = _photos(tmp_path / "holiday")
    dialog = ImportDialog(Workspace.open(tmp_path / "ws"))
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.set_format("folder")
    dialog.source.setText(str(folder))
    dialog.name.setText("holiday")
    with qtbot.waitSignal(dialog.imported, timeout=60_000) as blocker:
        assert dialog.start_import()
    report = blocker.args[0]
    assert (report["items_added"], report["captioned_items_added"]) == (PHOTOS, 0)
    assert f"{PHOTOS} new items (0 with captions), {PHOTOS} new observations, 0 skipped." in dialog.state.text()
    _shot(dialog, "import-dialog-holiday")


def _form(qtbot, ws: Workspace, dataset: str) -> RunForm:
    form = RunForm(ws)
    qtbot.addWidget(form)
    form.resize(640, 760)
    with qtbot.waitSignal(form.loaded, timeout=WAIT):
        form.show()
    with qtbot.waitSignal(form.dataset_checked, timeout=WAIT, check_params_cb=lambda name: name == dataset):
        form.dataset.setCurrentText(dataset)
    return form


def test_the_run_form_marks_a_dataset_without_enough_captioned_train_items(qtbot, ws: Workspace) -> None:
    form = _form(qtbot, ws, "photos")
    catalog = ws.catalog()
    found = split_items(catalog, "photos", "train")
    assert (len(found.items), found.uncaptioned) == (0, found.total) and found.total > 0
    values = form.values()
    expected = too_few_captioned("photos", 0, found.uncaptioned, values["batch_size"], values["model"], None)
    assert expected is not None and expected.startswith(
        f"dataset 'photos' has 0 training items with captions ({found.uncaptioned} without), fewer than one batch")
    marked = form.field_errors["dataset"]
    assert marked.isVisibleTo(form) and marked.text() == expected  # as soon as it is chosen, before any launch
    assert form.dataset.property("error") is True
    assert f"(0 of {PHOTOS} items have captions)" in form.dataset_info.text()
    _shot(form, "run-form-photos")

    # launching is refused with the same line, on the Dataset field; nothing is launched
    launched: list[object] = []
    form.launchRequested.connect(launched.append)
    with qtbot.waitSignal(form.validated, timeout=WAIT) as blocker:
        form.launch_button.click()
    assert expected in blocker.args[0] and not launched
    assert [field_of(p) for p in form.errors if p == expected] == ["dataset"]
    # the worker's check (the catalogue) says the same
    problems = check_launch(catalog, ws, {**values, "name": "x"})
    assert [(str(p), field_of(p)) for p in problems if field_of(p) == "dataset"] == [(expected, "dataset")]


def test_the_mark_follows_the_batch_on_a_partly_captioned_dataset(qtbot, ws: Workspace) -> None:
    captioned = len(split_items(ws.catalog(), "some", "train").items)
    assert 0 < captioned < CAPTIONED
    form = _form(qtbot, ws, "some")
    marked = form.field_errors["dataset"]
    form.batch.setValue(captioned + 1)
    assert marked.isVisibleTo(form) and f"has {captioned} training items with captions" in marked.text()
    assert f"fewer than one batch of {captioned + 1}" in marked.text()
    form.batch.setValue(captioned)  # one batch fits: nothing to say
    assert not marked.isVisibleTo(form) and form.dataset_notes == []
    assert form.dataset.property("error") is False

    # another dataset, all captioned or not: the mark belongs to the dataset it was counted for
    form.batch.setValue(captioned + 1)
    assert marked.isVisibleTo(form)
    with qtbot.waitSignal(form.dataset_checked, timeout=WAIT, check_params_cb=lambda name: name == "photos"):
        form.dataset.setCurrentText("photos")
    assert marked.text().startswith("dataset 'photos' has 0 training items with captions")


def test_the_forms_catalogue_check_loads_neither_torch_nor_qt(ws: Workspace) -> None:
    """The rule lives in a torch-free engine module (``engine.data.items``), so the form's worker counts and checks
    a dataset without loading torch into the app."""
    code = ("import sys\n"
            "from app.run_form_checks import check_launch, read_train_items\n"
            "from engine.workspace import Workspace\n"
            f"ws = Workspace.open({str(ws.root)!r})\n"
            "values = {'dataset': 'photos', 'model': 'cf-rn-tiny-64', 'pretrained': None, 'batch_size': 8,\n"
            "          'name': 'x', 'device': 'auto'}\n"
            "train = read_train_items(ws.catalog(), 'photos')\n"
            "problems = check_launch(ws.catalog(), ws, values)\n"
            "assert train.captioned == 0 and train.uncaptioned > 0, train\n"
            "assert any(p.startswith(\"dataset 'photos' has 0 training items\") for p in problems), problems\n"
            "loaded = [m for m in sys.modules if m.split('.')[0] in ('torch', 'open_clip', 'PySide6')]\n"
            "assert not loaded, loaded\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
