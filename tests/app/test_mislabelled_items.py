"""From the by-category evaluation of the Training page's Evaluation tab to the items it labelled wrongly: the
"Browse mislabelled items…" button and a double-clicked confused pair open the list, each item with its views
(real PNG files of a real catalogue), its true category with its rank, and the category predicted instead. The
runs' events files are written by the typed EventWriter; the widgets are real."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QTableWidget

from app.pages.training import TrainingPage
from app.widgets.mislabelled_browser import MislabelledBrowser, ordinal
from engine.catalog import ItemRecord
from engine.catalog.browse import item_cards, item_ids
from engine.run.events import CategoryEval, CategoryMiss, Done, Progress
from engine.workspace import Workspace
from tests.engine.runs.sample import add_run, started

LONG = 120_000  # ms: the CPU is slow and shared
SHOT = Path("/tmp/crossfold_mislabelled.png")
COLOURS = {"chair": (200, 50, 50), "lamp": (230, 190, 30), "table": (40, 120, 220)}


def evaluation(wrong: list[CategoryMiss] | None, num_wrong: int | None) -> CategoryEval:
    """9 items in 3 categories, 6 of them wrong; ``wrong`` lists the items (``None``: an older event)."""
    return CategoryEval(
        step=4, split="test", dataset="shapes", checkpoint="/runs/zs/checkpoints/best.pt",
        metrics={"top1": 3 / 9, "top5": 1.0, "mean_class_top1": 1 / 3, "num_items": 9.0, "num_categories": 3.0,
                 "num_unlabelled": 0.0},
        per_category={c: {"count": 3, "top1": 1 / 3, "top5": 1.0} for c in COLOURS},
        confusions={"chair": {"lamp": 2}, "lamp": {"chair": 1, "table": 1}, "table": {"chair": 1, "lamp": 1}},
        **({"wrong": wrong, "num_wrong": num_wrong} if wrong is not None else {}),
    )


@pytest.fixture()
def workspace(tmp_path: Path) -> Workspace:
    """A catalogue of 9 shapes with two views each (PNG files: the category's colour, a dark mark that moves with
    the view), and runs whose by-category evaluation lists 4 of its 6 wrong items (one of them since removed from
    the catalogue), lists none (all right), or predates the list."""
    ws = Workspace.open(tmp_path / "ws")
    root = tmp_path / "shapes"
    catalog = ws.catalog()
    dataset = catalog.create_dataset("shapes", "shape-text", "test", str(root))
    records = []
    for category, colour in COLOURS.items():
        (root / category).mkdir(parents=True)
        for i in range(3):
            views = []
            for v in range(2):
                image = Image.new("RGB", (96, 96), colour)
                ImageDraw.Draw(image).rectangle((30 + 20 * v, 30, 50 + 20 * v, 60), fill=(20, 20, 20))
                path = root / category / f"{i}_{v}.png"
                image.save(path)
                views.append(str(path))
            records.append(ItemRecord(f"{category}/{i}", split="test", category=category, views=views))
    catalog.add_records(dataset.id, records)
    ids = {card.key: card.id for card in item_cards(catalog, item_ids(catalog, dataset.id))}
    catalog.close()
    wrong = [  # as trainer eval writes them: the worst ranked first, then by true category and key
        CategoryMiss(item=ids["lamp/0"], key="lamp/0", true="lamp", predicted="table", rank=3),
        CategoryMiss(item=max(ids.values()) + 50, key="chair/gone", true="chair", predicted="lamp", rank=2),
        CategoryMiss(item=ids["lamp/2"], key="lamp/2", true="lamp", predicted="chair", rank=2),
        CategoryMiss(item=ids["table/1"], key="table/1", true="table", predicted="chair", rank=2),
    ]
    run = [started(), Progress(step=4, total=4, loss=1.0), Done(step=4, total=4, metrics={})]
    add_run(ws, "zs", "done", None, [*run, evaluation(wrong, 6)])
    add_run(ws, "clean", "done", None, [*run, CategoryEval(
        step=4, split="test", dataset="shapes", metrics={"top1": 1.0, "num_items": 9.0, "num_categories": 3.0},
        wrong=[], num_wrong=0)])
    add_run(ws, "old", "done", None, [*run, evaluation(None, None)])
    return ws


def open_page(qtbot, ws: Workspace, run: str) -> TrainingPage:
    page = TrainingPage(ws)
    qtbot.addWidget(page)
    page.resize(1100, 760)
    page.show()
    qtbot.waitUntil(lambda: {"zs", "clean", "old"} <= set(page.runs.names()), timeout=LONG)
    page.tabs.setCurrentWidget(page.evaluation)
    page.select(run)
    qtbot.waitUntil(lambda: page.evaluation.by_category.current() is not None, timeout=LONG)
    return page


def browsers(page: TrainingPage) -> list[MislabelledBrowser]:
    return page.findChildren(MislabelledBrowser)


def texts(browser: MislabelledBrowser) -> list[str]:
    return [browser.items.item(r).text() for r in range(browser.items.count())]


def double_click(qtbot, table: QTableWidget, row: int) -> None:
    """As a person does: a click, then the double-click (an item view takes a double-click on the item pressed)."""
    cell = table.item(row, 1)
    table.scrollToItem(cell)
    for click in (qtbot.mouseClick, qtbot.mouseDClick):
        click(table.viewport(), Qt.MouseButton.LeftButton, pos=table.visualItemRect(cell).center())


def centre_colour(browser: MislabelledBrowser, row: int) -> QColor:
    """The colour at the corner of the view picture shown in ``row`` (the file's background: its category's)."""
    image = browser.views.item(row).icon().pixmap(128, 128).toImage()
    return image.pixelColor(4, image.height() // 2)


def test_the_button_lists_the_wrong_items_with_their_pictures_true_and_predicted(qtbot, workspace: Workspace) -> None:
    page = open_page(qtbot, workspace, "zs")
    view = page.evaluation.by_category
    assert view.browse_button.isVisible() and view.browse_button.isEnabled()
    assert "the 4 ranked worst of 6" in view.browse_button.toolTip()
    page.layout().activate()
    page.evaluation.layout().activate()
    assert page.grab().save(str(SHOT.with_name("crossfold_mislabelled_tab.png")))
    qtbot.mouseClick(view.browse_button, Qt.MouseButton.LeftButton)
    (browser,) = browsers(page)
    assert browser.isVisible() and browser.windowTitle() == "Mislabelled items of zs — shapes/test"
    assert [browser.pair.itemText(i) for i in range(browser.pair.count())] == [
        "All wrong items (4)", "chair → lamp (1 of 2)", "lamp → chair (1)", "lamp → table (1)", "table → chair (1)"]
    assert browser.status.text() == ("<b>6</b> of 9 items of shapes/test were labelled wrongly (step 4, best.pt). "
                                     "The 4 whose true category ranked worst are listed.")
    assert texts(browser) == ["#3  lamp/0\nlamp → table", "#2  chair/gone\nchair → lamp",
                              "#2  lamp/2\nlamp → chair", "#2  table/1\ntable → chair"]
    # the list's thumbnails come from the catalogue and the files, off the GUI thread; the removed item has none
    qtbot.waitUntil(lambda: all(browser.icon_ready(r) for r in (0, 2, 3)), timeout=LONG)
    assert not browser.icon_ready(1)
    # the first (worst ranked) item: its true category, its rank, the predicted one, and its two views
    assert browser.items.currentRow() == 0
    assert "lamp/0" in browser.title.text() and browser.subtitle.text().startswith("shapes · test · id ")
    verdict = browser.verdict.text()
    assert "True category <b>lamp</b> → predicted" in verdict and ">table</b>" in verdict
    assert ">3rd</b> of 3 categories; table ranked first." in verdict
    qtbot.waitUntil(lambda: browser.views.count() == 2 and browser.view_ready(0) and browser.view_ready(1),
                    timeout=LONG)
    shown = centre_colour(browser, 0)
    assert (shown.red(), shown.green(), shown.blue()) == COLOURS["lamp"]  # its own picture, not another item's
    browser.layout().activate()
    SHOT.unlink(missing_ok=True)
    assert browser.grab().save(str(SHOT)) and SHOT.stat().st_size > 0
    # an item no longer in the catalogue says so instead of showing a broken picture
    with qtbot.waitSignal(browser.item_shown, timeout=LONG):
        browser.items.setCurrentRow(1)
    assert "no longer in the catalogue" in browser.note.text() and browser.views.count() == 0
    assert "chair/gone" in browser.title.text() and ">lamp</b>" in browser.verdict.text()
    # one pair only
    browser.pair.setCurrentIndex(browser.pair_index(("lamp", "chair")))
    assert texts(browser) == ["#2  lamp/2\nlamp → chair"]
    qtbot.waitUntil(lambda: browser.views.count() == 2 and browser.view_ready(1), timeout=LONG)
    assert "ranked first" in browser.verdict.text() and "2nd" in browser.verdict.text()


def test_a_double_clicked_pair_opens_on_its_items(qtbot, workspace: Workspace) -> None:
    page = open_page(qtbot, workspace, "zs")
    table = page.evaluation.by_category.confusion_table
    pairs = [(table.item(r, 0).text(), table.item(r, 1).text()) for r in range(table.rowCount())]
    assert ("table", "→ chair") in pairs and ("table", "→ lamp") in pairs

    def open_pair(pair: tuple[str, str]) -> MislabelledBrowser:
        before = set(browsers(page))
        double_click(qtbot, table, pairs.index(pair))
        (opened,) = set(browsers(page)) - before
        return opened

    browser = open_pair(("table", "→ chair"))
    assert browser.pair.currentText() == "table → chair (1)"
    assert texts(browser) == ["#2  table/1\ntable → chair"]
    qtbot.waitUntil(lambda: browser.views.count() == 2 and browser.view_ready(0), timeout=LONG)
    shown = centre_colour(browser, 0)
    assert (shown.red(), shown.green(), shown.blue()) == COLOURS["table"]
    # a pair of which no item made the list (it keeps the worst ranked): all of them, and a word why
    other = open_pair(("table", "→ lamp"))
    assert other.pair.currentIndex() == 0 and other.items.count() == 4
    assert "None of the listed items is table → lamp" in other.status.text()


@pytest.mark.parametrize(("run", "tip"), [
    ("clean", "No item was labelled wrongly"),
    ("old", "recorded before the wrong items were: run trainer eval --by-category again"),
])
def test_no_wrong_items_listed_leaves_the_button_off(qtbot, workspace: Workspace, run: str, tip: str) -> None:
    page = open_page(qtbot, workspace, run)
    view = page.evaluation.by_category
    assert view.browse_button.isVisible() and not view.browse_button.isEnabled()
    assert tip in view.browse_button.toolTip()
    assert page.open_mislabelled() is None
    if view.confusion_table.rowCount():  # the older evaluation has confused pairs, but no items to show
        double_click(qtbot, view.confusion_table, 0)
    assert browsers(page) == []


def test_ranks_read_as_words() -> None:
    assert [ordinal(n) for n in (2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == [
        "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th"]
