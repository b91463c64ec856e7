"""The Datasets page on real data: a tiny demo workspace (real SQLite, real PNGs), real child processes.

No sleeps: every wait is on a signal or a condition (qtbot.waitSignal / waitUntil).
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.dialogs.import_dialog import ImportDialog, import_args
from app.pages.datasets import DatasetsPage
from app.thumbnails import ThumbnailCache
from app.widgets.item_grid import ItemGridModel
from engine.catalog import Catalog
from engine.catalog.browse import item_cards, item_ids
from engine.workspace import Workspace

SHAPES, SCENES, VIEWS = 12, 10, 2
WAIT = 20_000  # ms: a bound for a busy 2-core machine, not a timing assertion


@pytest.fixture(scope="session")
def demo_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    from engine.data.demo import generate_demo

    ws = Workspace.open(tmp_path_factory.mktemp("demo-ws"))
    generate_demo(ws, ws.catalog(), shapes=SHAPES, scenes=SCENES, views=VIEWS, size=64)
    return ws


@pytest.fixture(scope="session")
def demo_cat(demo_ws: Workspace) -> Catalog:
    return demo_ws.catalog()


def open_page(qtbot, ws: Workspace) -> DatasetsPage:
    page = DatasetsPage(ws, thumbnails=ThumbnailCache())  # a fresh cache: nothing decoded by another test
    qtbot.addWidget(page)
    page.resize(1100, 760)
    with qtbot.waitSignal(page.loaded, timeout=WAIT):
        page.show()
    return page


def settled(page: DatasetsPage) -> bool:
    """The page shows the answer to its current filters (nothing pending)."""
    m = page.model
    return page.facets is not None and m.query is not None and not page.filtering


def browse(qtbot, page: DatasetsPage, name: str) -> None:
    page.select_dataset(name)
    qtbot.waitUntil(lambda: settled(page) and page.facets.name == name, timeout=WAIT)


def is_thumbnail(model: ItemGridModel, row: int) -> bool:
    deco = model.data(model.index(row), Qt.ItemDataRole.DecorationRole)
    return deco is not None and deco.cacheKey() != model.placeholder.cacheKey()


def test_grid_shows_every_item_and_their_thumbnails_arrive(qtbot, demo_ws, demo_cat) -> None:
    page = open_page(qtbot, demo_ws)
    assert [page.table.item(r, 0).text() for r in range(page.table.rowCount())] == ["scenes-demo", "shapes-demo"]
    assert page.table.item(1, 3).text() == str(SHAPES)
    assert page.table.item(1, 6).text() == str(SHAPES * VIEWS)

    browse(qtbot, page, "shapes-demo")
    model = page.model
    ds = demo_cat.require_dataset("shapes-demo")
    assert model.rowCount() == demo_cat.count_items(ds.id) == SHAPES
    qtbot.waitUntil(lambda: all(is_thumbnail(model, r) for r in range(model.rowCount())), timeout=WAIT)
    first = demo_cat.items(ds.id, limit=1)[0]
    assert model.data(model.index(0), ItemGridModel.ItemIdRole) == first.id
    assert model.data(model.index(0), Qt.ItemDataRole.DisplayRole) == first.key
    pm = model.data(model.index(0), Qt.ItemDataRole.DecorationRole)
    assert max(pm.width(), pm.height()) == model.icon_size  # scaled to the cell, from the first view
    view0 = next(o.path for o in demo_cat.item(first.id).observations if o.modality == "view" and o.view_index == 0)
    assert model.data(model.index(0), ItemGridModel.CardRole).thumbnail == view0
    assert page.thumbnails.peek(view0, model.icon_size) is not None

    browse(qtbot, page, "scenes-demo")  # image-text: the thumbnail is the image
    assert model.rowCount() == SCENES
    qtbot.waitUntil(lambda: is_thumbnail(model, SCENES - 1), timeout=WAIT)
    assert not page.grid.grab().isNull()


def test_filters_change_the_rows(qtbot, demo_ws, demo_cat) -> None:
    page = open_page(qtbot, demo_ws)
    browse(qtbot, page, "shapes-demo")
    ds = demo_cat.require_dataset("shapes-demo")
    model = page.model
    splits = [page.split_filter.itemData(i) for i in range(1, page.split_filter.count())]
    assert set(splits) == {"train", "val", "test"}

    page.split_filter.setCurrentIndex(page.split_filter.findData("train"))
    qtbot.waitUntil(lambda: settled(page) and model.query[1] == "train", timeout=WAIT)
    expected = demo_cat.count_items(ds.id, split="train")
    assert 0 < expected < SHAPES and model.rowCount() == expected
    assert "of 12 items" in page.count_label.text()
    rows = [model.data(model.index(r), ItemGridModel.ItemIdRole) for r in range(model.rowCount())]
    assert rows == [i.id for i in demo_cat.items(ds.id, split="train")]

    page.split_filter.setCurrentIndex(0)
    category = demo_cat.items(ds.id, limit=1)[0].category
    page.category_filter.setCurrentIndex(page.category_filter.findData(category))
    qtbot.waitUntil(lambda: settled(page) and model.query[1:3] == (None, category), timeout=WAIT)
    expected = demo_cat.count_items(ds.id, category=category)
    assert 0 < expected < SHAPES and model.rowCount() == expected
    qtbot.waitUntil(lambda: model.data(model.index(0), ItemGridModel.CardRole) is not None, timeout=WAIT)
    assert all(model.data(model.index(r), ItemGridModel.CardRole).category == category
               for r in range(model.rowCount()))

    # caption text, typed: debounced, then one query; case-insensitive
    page.category_filter.setCurrentIndex(0)
    word = category.upper()
    qtbot.keyClicks(page.text_filter, word)
    qtbot.waitUntil(lambda: settled(page) and model.query == (ds.id, None, None, word), timeout=WAIT)
    expected = demo_cat.count_items(ds.id, text=word)
    assert 0 < expected < SHAPES and model.rowCount() == expected

    page.set_filters(text="no caption says this")
    qtbot.waitUntil(lambda: settled(page) and model.query[3] == "no caption says this", timeout=WAIT)
    assert model.rowCount() == 0
    assert page.detail.item_id is None and page.detail.body.isHidden()

    page.set_filters(split="", category="", text="")
    qtbot.waitUntil(lambda: settled(page) and model.query == (ds.id, None, None, None), timeout=WAIT)
    assert model.rowCount() == SHAPES


def test_a_late_answer_for_an_old_filter_is_dropped(qtbot, demo_cat) -> None:
    gate = threading.Event()

    def slow_catalog() -> Catalog:  # the first query (no filter) answers only after the second one
        gate.wait(30)
        return demo_cat

    # Each query captures the catalogue factory when it is made, whichever worker thread runs first.
    model = ItemGridModel(slow_catalog, ThumbnailCache())
    ds = demo_cat.require_dataset("shapes-demo")
    model.set_query(ds.id)
    model.catalog = lambda: demo_cat
    with qtbot.waitSignal(model.populated, timeout=WAIT) as blocker:
        model.set_query(ds.id, split="val")
    expected = demo_cat.count_items(ds.id, split="val")
    assert blocker.args == [expected] and expected < SHAPES
    gate.set()
    qtbot.waitUntil(lambda: model.pending == 0, timeout=WAIT)  # the old answer has been delivered
    assert model.rowCount() == expected
    assert [model.item_id(r) for r in range(model.rowCount())] == item_ids(demo_cat, ds.id, split="val")


def test_selecting_an_item_shows_its_views_captions_and_metadata(qtbot, demo_ws, demo_cat) -> None:
    page = open_page(qtbot, demo_ws)
    browse(qtbot, page, "shapes-demo")
    model, detail = page.model, page.detail
    row = 3
    item_id = model.item_id(row)
    with qtbot.waitSignal(detail.loaded, timeout=WAIT, check_params_cb=lambda i: i == item_id):
        page.grid.select_row(row)
    item = demo_cat.item(item_id)
    captions = [o.text for o in item.observations if o.modality == "text"]
    assert len(captions) == 6
    assert [detail.captions.item(i).text() for i in range(detail.captions.count())] == [
        f"{n}.  {c}" for n, c in enumerate(captions, 1)]
    assert detail.views.count() == VIEWS
    assert [detail.views.item(i).toolTip() for i in range(VIEWS)] == [
        o.path for o in sorted((o for o in item.observations if o.modality == "view"), key=lambda o: o.view_index)]
    qtbot.waitUntil(lambda: all(detail.picture_ready(i) for i in range(VIEWS)), timeout=WAIT)
    assert not detail.views.item(0).icon().isNull()
    meta = {detail.meta.item(r, 0).text(): detail.meta.item(r, 1).text() for r in range(detail.meta.rowCount())}
    assert meta["key"] == item.key and meta["category"] == item.category and meta["split"] == item.split
    assert meta["family"] == item.meta["family"]
    assert item.key in detail.title.text()

    with qtbot.waitSignal(page.search_with_item, timeout=WAIT) as blocker:
        detail.search_button.click()
    assert blocker.args == [item_id]

    # an image-text item: its one image, its five captions
    browse(qtbot, page, "scenes-demo")
    scene_id = model.item_id(0)
    qtbot.waitUntil(lambda: detail.item_id == scene_id, timeout=WAIT)  # the first item is shown by default
    assert detail.views.count() == 1 and detail.captions.count() == 5
    qtbot.waitUntil(lambda: detail.picture_ready(0), timeout=WAIT)


def _flickr_source(tmp_path: Path, demo_cat: Catalog) -> Path:
    images = tmp_path / "flickr" / "images"
    images.mkdir(parents=True)
    ds = demo_cat.require_dataset("scenes-demo")
    for n, card in enumerate(item_cards(demo_cat, item_ids(demo_cat, ds.id)[:3])):
        shutil.copy(card.thumbnail, images / f"{n}.png")
    token = tmp_path / "flickr" / "results.token"
    token.write_text(
        "0.png#0\ta red circle on the left\n"
        "0.png#1\tone red circle\n"
        "1.png#0\ttwo blue squares\n"
        "this line has no tab and no caption number\n"
        "2.png#0\ta green triangle\n"
        "2.png#1\ta triangle, green\n",
        encoding="utf-8",
    )
    return token


def test_import_dialog_imports_and_reports_the_skipped_record(qtbot, tmp_path, demo_cat) -> None:
    token = _flickr_source(tmp_path, demo_cat)
    ws = Workspace.open(tmp_path / "ws")
    page = open_page(qtbot, ws)
    assert page.table.rowCount() == 0
    dialog = page.open_import_dialog()
    assert isinstance(dialog, ImportDialog) and dialog.isVisible()

    assert not dialog.start_import()  # nothing chosen yet: said so, nothing started
    assert dialog.job is None and "source" in dialog.state.text()

    dialog.set_format("flickr-token")
    assert dialog.images_root.isVisibleTo(dialog) and not dialog.meshes_root.isVisibleTo(dialog)
    dialog.source.setText(str(token))
    assert dialog.name.text() == "results"  # proposed from the file name
    dialog.name.setText("flickr-mini")
    dialog.images_root.setText(str(token.parent / "images"))
    assert dialog.args() == ["import", "flickr-token", str(token), "--name", "flickr-mini",
                             "--images-root", str(token.parent / "images"), "--events", "-"]
    with qtbot.waitSignal(dialog.imported, timeout=60_000) as blocker:
        dialog.import_button.click()
        assert dialog.running and not dialog.import_button.isEnabled() and dialog.cancel_button.isEnabled()
    report = blocker.args[0]
    assert report["items_added"] == 3 and report["skipped"] == 1
    assert dialog.problems.rowCount() == 1
    assert dialog.problems.item(0, 0).text() == "results.token"
    assert dialog.problems.item(0, 1).text() == "line 4"
    assert "malformed" in dialog.problems.item(0, 2).text()
    assert "1 record skipped" in dialog.summary.text()
    assert dialog.progress.value() == dialog.progress.maximum() > 0

    # the page lists the new dataset and browses it
    qtbot.waitUntil(lambda: page.table.rowCount() == 1 and settled(page), timeout=WAIT)
    assert page.table.item(0, 0).text() == "flickr-mini" and page.table.item(0, 4).text() == "5"
    assert page.current_dataset == "flickr-mini" and page.model.rowCount() == 3


def test_import_dialog_shows_an_engine_error(qtbot, tmp_path) -> None:
    bad = tmp_path / "captions.json"
    bad.write_text("not json", encoding="utf-8")
    dialog = ImportDialog(Workspace.open(tmp_path / "ws"))
    qtbot.addWidget(dialog)
    dialog.set_format("coco")
    dialog.source.setText(str(bad))
    with qtbot.waitSignal(dialog.failed, timeout=60_000) as blocker:
        assert dialog.start_import()
    assert blocker.args[0].startswith("Import failed:") and "captions.json" in blocker.args[0]
    assert dialog.import_button.isEnabled() and dialog.problems.rowCount() == 0 and dialog.report is None


def test_import_args_per_format() -> None:
    assert import_args("text2shape", "c.csv", "t2s", images_root="/i", meshes_root="/m") == [
        "import", "text2shape", "c.csv", "--name", "t2s", "--meshes-root", "/m", "--events", "-"]
    assert import_args("csv", "t.tsv", "x", img_key="img", caption_key="cap", separator=r"\t") == [
        "import", "csv", "t.tsv", "--name", "x", "--img-key", "img", "--caption-key", "cap",
        "--separator", r"\t", "--events", "-"]


def test_demo_button_creates_the_demo_datasets_and_the_list_refreshes(qtbot, tmp_path) -> None:
    page = open_page(qtbot, Workspace.open(tmp_path / "ws"))
    assert page.table.rowCount() == 0 and "No datasets yet" in page.status.text()
    page.demo_options = ["--shapes", "3", "--scenes", "4", "--views", "2", "--size", "32", "--workers", "1"]
    with qtbot.waitSignal(page.demo_finished, timeout=120_000) as blocker:
        page.demo_button.click()
        assert not page.job_bar.isHidden() and not page.demo_button.isEnabled()
    assert blocker.args == [True]
    events = page.demo_job.events
    assert any(e["event"] == "progress" for e in events) and events[-1]["event"] == "done"
    assert page.job_bar.isHidden() and page.demo_button.isEnabled()
    qtbot.waitUntil(lambda: page.table.rowCount() == 2 and settled(page), timeout=WAIT)
    assert [page.table.item(r, 0).text() for r in range(2)] == ["scenes-demo", "shapes-demo"]
    assert page.current_dataset == "shapes-demo" and page.model.rowCount() == 3


def test_thumbnail_cache_reports_broken_files_and_stays_within_its_budget(qtbot, tmp_path, demo_cat) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    cache = ThumbnailCache(max_bytes=3 * 64 * 64 * 4)
    with qtbot.waitSignal(cache.ready, timeout=WAIT) as blocker:
        assert cache.get(str(bad), 64) is None
    assert blocker.args == [str(bad), 64]
    assert cache.error(str(bad), 64) and cache.get(str(bad), 64) is cache.broken(64)

    paths = [o[2] for o in demo_cat.observations(demo_cat.require_dataset("scenes-demo").id, "image")]
    for p in paths:
        cache.request(p, 64)
    qtbot.waitUntil(lambda: cache.decoded_count == len(paths) + 1, timeout=WAIT)
    assert len(cache) == 3 and cache.cached_bytes <= cache.max_bytes  # least recently used ones dropped
    assert sum(cache.peek(p, 64) is not None for p in paths) == 3


def test_empty_workspace_offers_demo_and_import_where_the_grid_would_be(qtbot, tmp_path) -> None:
    page = open_page(qtbot, Workspace.open(tmp_path / "empty"))
    assert page.empty_panel.isVisibleTo(page) and not page.browser.isVisibleTo(page)
    assert page.empty_demo_button.text() == "Create demo datasets" and page.empty_import_button.text() == "Import…"
    assert page.empty_demo_button.isVisibleTo(page) and page.empty_import_button.isVisibleTo(page)
    page.empty_import_button.click()
    assert page.import_dialog is not None and page.import_dialog.isVisible()
    # before any import: no progress bar, no skipped-records table, no engine output
    dialog = page.import_dialog
    assert not dialog.progress.isVisibleTo(dialog) and not dialog.report_box.isVisibleTo(dialog)
    assert not dialog.log.isVisibleTo(dialog)
    assert dialog.width() >= 720  # a sensible width, not its narrowest
    assert not dialog.start_import() and "Choose the source" in dialog.state.text()
    dialog.source.setText(str(tmp_path))  # edited: the stale problem goes
    assert dialog.state.text() == ""
    dialog.reject()


def test_a_filter_matching_nothing_says_so(qtbot, demo_ws) -> None:
    page = open_page(qtbot, demo_ws)
    browse(qtbot, page, "shapes-demo")
    assert not page.empty_panel.isVisibleTo(page) and not page.no_match.isVisibleTo(page)
    sizes = page.browser.sizes()
    page.set_filters(text="xyz")
    qtbot.waitUntil(lambda: settled(page) and page.model.rowCount() == 0 and page.no_match.isVisibleTo(page),
                    timeout=WAIT)
    assert page.no_match.text() == "No item's caption contains “xyz”."
    assert not page.grid.isVisibleTo(page)  # no blank grid under it, and the detail says why it shows nothing
    assert page.detail.empty.isVisibleTo(page) and page.detail.empty.text() == "No item matches the filter."
    page.set_filters(text="")
    qtbot.waitUntil(lambda: settled(page) and page.model.rowCount() == SHAPES, timeout=WAIT)
    assert not page.no_match.isVisibleTo(page) and page.grid.isVisibleTo(page)
    page.grid.select_row(SHAPES - 1)  # another item in the detail: the divider stays where it was
    qtbot.waitUntil(lambda: page.detail.item_id is not None, timeout=WAIT)
    assert page.browser.sizes() == sizes
