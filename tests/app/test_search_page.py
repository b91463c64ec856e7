"""The Search page on the real engine: a tiny trained run, real hnswlib indexes, real SQLite, a real child process.

The workspace is built once for the module: 48 toy items (coloured squares, two views each, captions like
"a big red square"), a GCL run of 80 steps that retrieves colours reliably, indexed; and a second run of 2
steps with no index (for the "build index" offer). No sleeps and no timing assertions: every wait is on a
signal or a condition, with bounds generous enough for a busy 2-core machine.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from app.pages.search import SearchPage, image_path_from, query_file_from
from app.search_worker import IndexNeeded, SearchQuery, SearchService, index_needed, list_runs
from app.thumbnails import ThumbnailCache
from app.widgets.result_grid import ResultModel
from engine.catalog import Catalog
from engine.run.config import TrainConfig
from engine.search import Searcher
from engine.train.loop import train
from engine.workspace import Workspace
from tests.app.shots import save_shots
from tests.conftest import copy_workspace

RUN, BARE = "toy-gcl", "toy-bare"
WAIT = 120_000  # ms: the first search of a run loads its checkpoint; bounds, not timing assertions
BUILD_WAIT = 300_000  # ms: `trainer index` in a child process (imports torch, encodes every observation)


def _config(name: str, steps: int) -> TrainConfig:
    return TrainConfig(dataset="toy-shapes", loss="gcl", model="cf-vit-tiny-64", max_steps=steps, batch_size=8,
                       views_per_item=2, captions_per_item=2, lr=2e-3, warmup=min(5, steps - 1), workers=0,
                       device="cpu", name=name, val_frequency=steps, save_frequency=steps)


@pytest.fixture(scope="module")
def ws(trained_toy, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    workspace = copy_workspace(trained_toy, tmp_path_factory.mktemp("search-page") / "ws")  # run toy-gcl, indexed
    torch.set_num_threads(2)
    train(_config(BARE, 2), workspace)  # finished, never indexed
    return workspace


@pytest.fixture(scope="module")
def cat(ws: Workspace) -> Catalog:
    return ws.catalog()


def open_page(qtbot, ws: Workspace) -> SearchPage:
    page = SearchPage(ws, thumbnails=ThumbnailCache(), device="cpu")
    qtbot.addWidget(page)
    page.resize(1200, 800)
    with qtbot.waitSignal(page.runs_loaded, timeout=WAIT):
        page.show()
    return page


def wait_results(qtbot, page: SearchPage, text: str | None = None, target: str | None = None,
                 item: int | None = None) -> list:
    """Wait until the grid shows the answer to the query asked last (and, when given, one with these parts)."""

    def shown() -> bool:
        r, q = page.result, page.query
        return (r is not None and q is not None and not page.searching and r.run == q.run and r.target == q.target
                and (text is None or r.query["text"] == text) and (target is None or r.target == target)
                and (item is None or page.item_id == item))

    qtbot.waitUntil(shown, timeout=WAIT)
    return page.grid.hits()


def colour_of_captions(hit) -> set[str]:
    return {c for c in ("red", "green", "blue", "yellow", "black", "white") if any(c in t for t in hit.captions)}


def test_list_runs_and_index_needed(ws, cat) -> None:
    runs = list_runs(cat)
    assert runs.defaults["shapes"] == RUN and runs.default_for("shapes") == RUN
    assert runs.get(RUN).targets == frozenset({"shapes", "captions"})
    assert "images" not in runs.defaults
    assert index_needed(cat, RUN, "shapes") is None
    need = index_needed(cat, RUN, "images")
    assert need is not None and need.dataset is None
    assert need.build_args()[:3] == ["index", "--run", RUN]


def test_typing_red_searches_as_you_type_and_shows_red_results(qtbot, ws) -> None:
    page = open_page(qtbot, ws)
    assert page.run == RUN  # default_run for shapes: the only run with a shapes index
    assert page.runs.names() == [BARE, RUN]  # finished runs, newest first
    assert page.grid.message and page.result is None  # a hint, no query yet

    with qtbot.waitSignal(page.results_shown, timeout=WAIT) as blocker:
        qtbot.keyClicks(page.query_edit, "red")
    hits = wait_results(qtbot, page, text="red", target="shapes")
    assert blocker.args == [len(hits)]
    assert page.result.query["text"] == "red"  # typing was debounced into one query of the whole word
    assert len(hits) == page.k_spin.value() == 24  # 24 of the 48 items
    assert [h.rank for h in hits] == list(range(1, 25))
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:], strict=False))
    assert all(h.captions and h.thumbnails for h in hits)
    top = hits[:5]
    assert "red" in colour_of_captions(top[0])
    assert sum("red" in colour_of_captions(h) for h in top) >= 4, [h.captions[0] for h in top]

    model = page.grid.result_model  # the cards get their thumbnails (decoded off the GUI thread)
    assert model.data(model.index(0), Qt.ItemDataRole.DisplayRole) == hits[0].key
    qtbot.waitUntil(lambda: all(model.data(model.index(r), ResultModel.ThumbnailReadyRole) for r in range(8)),
                    timeout=WAIT)
    assert "24" in page.status.text() and RUN in page.status.text()

    page.query_edit.clear()  # an empty query clears the results
    qtbot.waitUntil(lambda: page.result is None and page.grid.result_model.rowCount() == 0, timeout=WAIT)


def test_new_cards_are_rendered_a_few_per_paint_pass_then_blitted(qtbot, ws) -> None:
    page = open_page(qtbot, ws)
    page.resize(1400, 900)
    qtbot.keyClicks(page.query_edit, "red")
    wait_results(qtbot, page, text="red", target="shapes")
    grid, delegate = page.grid, page.grid.delegate
    model = grid.result_model
    visible = [r for r in range(model.rowCount()) if grid.visualRect(model.index(r)).intersects(grid.viewport().rect())]
    qtbot.waitUntil(lambda: all(model.data(model.index(r), ResultModel.ThumbnailReadyRole) for r in visible),
                    timeout=WAIT)  # their pictures are final: a card is not rendered again for a new thumbnail
    delegate.forget_cards()
    grid.viewport().repaint()  # one paint pass: only a few new cards are rendered, the rest come next passes
    assert delegate.cached_cards == grid.CARDS_PER_PAINT and grid.cards_pending
    qtbot.waitUntil(lambda: not grid.cards_pending, timeout=WAIT)
    assert len(visible) > grid.CARDS_PER_PAINT and delegate.cached_cards >= len(visible)
    rendered = delegate.cached_cards
    grid.viewport().repaint()  # everything visible is cached now: blitted, nothing rendered again
    assert delegate.cached_cards == rendered and not grid.cards_pending


def test_target_switch_searches_captions_and_offers_nothing_for_images(qtbot, ws) -> None:
    page = open_page(qtbot, ws)
    page.query_edit.setText("a small blue square")
    page.search_now()
    shapes = wait_results(qtbot, page, target="shapes")
    assert shapes[0].matched_text is None  # item-level shape index

    page.set_target("captions")
    hits = wait_results(qtbot, page, target="captions")
    assert page.result.target == "captions" and len(hits) == 24
    assert hits[0].matched_text in hits[0].captions  # the caption that matched is the one the card shows
    assert "blue" in hits[0].matched_text
    assert sum("blue" in h.matched_text for h in hits[:5]) >= 4

    # no image-text dataset in this workspace: nothing to build, and the page says so
    with qtbot.waitSignal(page.index_needed, timeout=WAIT) as blocker:
        page.set_target("images")
    need = blocker.args[0]
    assert isinstance(need, IndexNeeded) and need.dataset is None and "no image-text dataset" in need.message
    assert page.index_banner.isVisibleTo(page) and not page.build_button.isVisibleTo(page)
    assert page.result is None and page.grid.result_model.rowCount() == 0

    page.set_target("shapes")  # back: results again, the banner goes
    wait_results(qtbot, page, target="shapes")
    assert not page.index_banner.isVisibleTo(page)


def test_search_with_item_more_like_this_and_detail(qtbot, ws, cat) -> None:
    page = open_page(qtbot, ws)
    ds = cat.require_dataset("toy-shapes")
    item = next(i for i in cat.items(ds.id, limit=48) if i.category == "green")

    page.search_with_item(item.id)  # the slot the Datasets page's "Search with this item" connects to
    hits = wait_results(qtbot, page, item=item.id)
    assert page.result.query["item"] == item.key
    assert hits[0].category == "green" and hits[0].item_id == item.id
    assert page.subject.isVisibleTo(page)
    qtbot.waitUntil(lambda: item.key in page.subject_label.text(), timeout=WAIT)  # the chip names the item

    # "More like this" on a card of another colour: a search with that item
    other = next(h for h in hits if h.category != "green")  # 8 of the 48 items are green: 24 hits hold others
    row = page.grid.result_model.row_of(other.item_id)
    page.grid.scrollTo(page.grid.result_model.index(row))
    with qtbot.waitSignal(page.grid.more_like_this, timeout=WAIT, check_params_cb=lambda i: i == other.item_id):
        qtbot.mouseClick(page.grid.viewport(), Qt.MouseButton.LeftButton, pos=page.grid.link_rect(row).center())
    hits = wait_results(qtbot, page, item=other.item_id)
    assert hits[0].category == other.category

    # clicking a card opens its detail: every view and caption
    page.grid.scrollToTop()
    first = hits[0]
    with qtbot.waitSignal(page.detail.loaded, timeout=WAIT, check_params_cb=lambda i: i == first.item_id):
        qtbot.mouseClick(page.grid.viewport(), Qt.MouseButton.LeftButton, pos=page.grid.card_rect(0).center())
    assert page.detail_panel.isVisibleTo(page)
    assert page.detail.views.count() == len(first.thumbnails) == 2
    assert page.detail.captions.count() == len(first.captions) == 3

    # text with the item: a fused query
    page.query_edit.setText("red")
    page.search_now()
    wait_results(qtbot, page, text="red", item=other.item_id)
    assert page.result.query == {"text": "red", "image": None, "item": other.key}
    assert "fused" in page.status.text()

    page.clear_subject()  # the chip's ✕: text only again
    wait_results(qtbot, page, text="red")
    assert page.item_id is None and page.result.query["item"] is None and not page.subject.isVisibleTo(page)


def test_dropping_an_image_searches_with_it(qtbot, ws, cat) -> None:
    page = open_page(qtbot, ws)
    ds = cat.require_dataset("toy-shapes")
    item = next(i for i in cat.items(ds.id, limit=48) if i.category == "yellow")
    view = cat.item(item.id).observations
    path = next(o.path for o in view if o.modality == "view")

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(path)])
    assert image_path_from(mime) == path
    text_only = QMimeData()
    text_only.setText("not a file")
    assert image_path_from(text_only) is None

    target = page.query_edit  # dropped on the query box: an image query, not text pasted into the box
    pos = QPointF(target.rect().center())
    enter = QDragEnterEvent(pos.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted()
    drop = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, drop)
    assert page.image == path and page.query_edit.text() == ""
    hits = wait_results(qtbot, page)
    assert page.result.query["image"] == path
    assert hits[0].category == "yellow"
    assert page.subject.isVisibleTo(page) and Path(path).name in page.subject_label.text()
    # an image query carries a confidence: measured on the items' own pictures, same colour a match
    from app.widgets.result_grid import percent, score_badge, tooltip

    result = page.result
    assert result.query_kind == "image" and result.calibrated and result.not_calibrated is None
    assert result.calibration["source"] == "item pictures" and result.calibration["split"] == "val+test"
    assert all(h.confidence is not None for h in hits)
    assert score_badge(hits[0])[0] == f"confidence {percent(hits[0].confidence)}"
    assert "16 item pictures of splits val+test as queries" in tooltip(hits[0], result.measured_line())


def drop_on(target, path: Path) -> QDropEvent:
    """A real drag-enter and drop of a local file on ``target``; the drop event (to check it was accepted)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    pos = QPointF(target.rect().center())
    enter = QDragEnterEvent(pos.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted()
    drop = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, drop)
    return drop


def test_dropping_a_mesh_searches_with_it_and_a_broken_one_says_why(qtbot, ws, tmp_path: Path) -> None:
    import trimesh

    mesh = tmp_path / "chair.obj"
    trimesh.creation.box(extents=(1.0, 0.8, 0.6)).export(mesh)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(mesh))])
    assert query_file_from(mime) == ("mesh", str(mesh)) and image_path_from(mime) is None

    page = open_page(qtbot, ws)
    page.set_target("captions")
    assert drop_on(page, mesh).isAccepted()  # on the page: rendered and encoded on the search worker
    assert page.mesh == str(mesh) and page.image is None
    assert page.subject.isVisibleTo(page) and "chair.obj" in page.subject_label.text()
    hits = wait_results(qtbot, page, target="captions")
    assert page.result.query["mesh"] == str(mesh) and len(hits) == 24
    assert all(h.matched_text in h.captions for h in hits)
    assert list((Path(ws.root) / "renders").glob("*/*/view_00.png"))  # rendered into the render cache

    broken = tmp_path / "broken.off"
    broken.write_text("OFF\n3 1 0\n0 0 0\n1 0 nonsense\n")
    with qtbot.waitSignal(page.search_failed, timeout=WAIT) as blocker:
        drop_on(page.query_edit, broken)  # on the query box: a mesh query too, not text
    first = blocker.args[0].splitlines()[0]
    assert "broken.off" in first
    assert page.result is None and page.grid.message == first  # the reason, in one line, on the page
    assert "broken.off" in page.status.text()


def test_ab_compares_two_runs_on_the_same_query(qtbot, ws) -> None:
    page = open_page(qtbot, ws)
    page.query_edit.setText("a big green square")
    page.set_compare(True)
    assert page.stack.currentWidget() is page.ab
    ab = page.ab
    ab.set_run("A", RUN)
    with qtbot.waitSignal(ab.compared, timeout=WAIT):
        ab.set_run("B", RUN)  # the same run twice: both sides share one Searcher, one query at a time
    qtbot.waitUntil(lambda: not ab.busy() and bool(ab.grid("A").hits()) and bool(ab.grid("B").hits()), timeout=WAIT)
    a, b = ab.grid("A").hits(), ab.grid("B").hits()
    assert [h.item_id for h in a] == [h.item_id for h in b] and a[0].category == "green"
    assert "24 of the top 24" in ab.summary.text()
    model = ab.grid("A").result_model
    assert model.data(model.index(0), ResultModel.PeerRole) == ("B", 1)  # each card: its rank on the other side

    page.set_compare(False)
    assert page.stack.currentWidget() is page.grid
    wait_results(qtbot, page, text="a big green square")


def test_service_serialises_a_runs_searches_and_newest_query_wins(qtbot, ws, monkeypatch) -> None:
    lock = threading.Lock()
    state = {"active": 0, "most": 0, "calls": 0}
    original = Searcher.search

    def counting(self, **kwargs):
        with lock:
            state["active"] += 1
            state["calls"] += 1
            state["most"] = max(state["most"], state["active"])
        try:
            return original(self, **kwargs)
        finally:
            with lock:
                state["active"] -= 1

    monkeypatch.setattr(Searcher, "search", counting)
    service = SearchService(ws, device="cpu")
    answers: list[tuple[str, str]] = []
    service.finished.connect(lambda _t, ch, r: answers.append((ch, r.query["text"])))

    # three channels on one run: all answered, never two at once on its Searcher
    for channel, text in (("x", "red"), ("y", "green"), ("z", "blue")):
        service.search(channel, SearchQuery(run=RUN, text=text, k=5))
    qtbot.waitUntil(lambda: len(answers) == 3, timeout=WAIT)
    assert sorted(answers) == [("x", "red"), ("y", "green"), ("z", "blue")]
    assert state["most"] == 1

    # one channel, three queries in a row: only the newest is answered
    answers.clear()
    dropped, calls = service.dropped, state["calls"]
    tokens = [service.search("x", SearchQuery(run=RUN, text=t, k=5)) for t in ("yel", "yellow", "yellow square")]
    qtbot.waitUntil(lambda: service.running() == 0, timeout=WAIT)
    assert answers == [("x", "yellow square")]
    assert service.dropped - dropped == 2 and state["calls"] - calls <= 2  # one never ran: superseded waiting
    assert service.is_current(tokens[-1], "x") and not service.is_current(tokens[0], "x")
    assert state["most"] == 1
    assert service.searcher(RUN) is not None  # kept alive for the next query
    service.close()
    service.wait_idle()


def test_run_without_index_offers_to_build_it_then_searches(qtbot, ws, cat) -> None:
    # last in the module: it indexes the second run, which then becomes the default for shapes
    assert index_needed(cat, BARE, "shapes") is not None
    page = open_page(qtbot, ws)
    assert BARE in page.runs.names() and "shapes" not in page.runs.get(BARE).targets
    page.query_edit.setText("a big red square")
    page.search_now()
    wait_results(qtbot, page, target="shapes")

    with qtbot.waitSignal(page.index_needed, timeout=WAIT) as blocker:
        assert page.select_run(BARE)
    need = blocker.args[0]
    assert (need.run, need.target, need.dataset) == (BARE, "shapes", "toy-shapes")
    assert page.index_banner.isVisibleTo(page) and page.build_button.isVisibleTo(page)
    assert page.result is None and page.grid.result_model.rowCount() == 0

    progress: list[dict] = []
    with qtbot.waitSignal(page.index_built, timeout=BUILD_WAIT) as built:
        qtbot.mouseClick(page.build_button, Qt.MouseButton.LeftButton)
        assert page.build_job is not None and page.build_progress.isVisibleTo(page)
        assert not page.build_button.isEnabled()
        page.build_job.event.connect(lambda e: progress.append(e) if e.get("event") == "progress" else None)
        maximum: list[int] = []
        page.build_job.event.connect(lambda _e: maximum.append(page.build_progress.maximum()))
    assert built.args == [BARE]
    assert progress and all({"stage", "done", "total"} <= set(e) for e in progress)
    assert max(maximum) == max(e["total"] for e in progress)  # the bar followed the job's progress events

    hits = wait_results(qtbot, page, target="shapes")  # then the query runs on the new index
    assert page.result.run == BARE and len(hits) == 24
    assert not page.index_banner.isVisibleTo(page)
    assert index_needed(cat, BARE, "shapes") is None
    qtbot.waitUntil(lambda: "shapes" in (page.runs.get(BARE).targets if page.runs.get(BARE) else ()), timeout=WAIT)


def test_confidence_banner_and_badges_follow_the_calibration(qtbot, ws, cat) -> None:
    from app.widgets.result_grid import BAND_COLOURS, percent, score_badge

    page = open_page(qtbot, ws)
    page.resize(1280, 720)
    assert page.select_run(RUN)  # (another test may have indexed the 2-step run, the newest)
    page.set_text("xyzzyplugh qwfp")  # random tokens: the top hit is no better than a typical non-match
    page.search_now()
    hits = wait_results(qtbot, page, text="xyzzyplugh qwfp", target="shapes")
    assert page.not_confident and page.confidence_banner.isVisibleTo(page)
    assert f"No confident match for this query with run {RUN}" in page.confidence_banner.text()
    assert "measured on 24 captions of the val split" in page.confidence_banner.text()
    assert score_badge(hits[0]) == (f"confidence {percent(hits[0].confidence)}", BAND_COLOURS["low"])
    _shot(qtbot, page, "confidence_not_confident.png")

    page.set_text("a small red square")  # a caption of a colour the run trained on
    page.search_now()
    hits = wait_results(qtbot, page, text="a small red square", target="shapes")
    assert not page.not_confident and not page.confidence_banner.isVisibleTo(page)
    assert score_badge(hits[0]) == (f"confidence {percent(hits[0].confidence)}", BAND_COLOURS["high"])
    _shot(qtbot, page, "confidence_badges.png")
    # the status line keeps the total; the breakdown is in its tooltip
    assert " ms" in page.status.text() and "encode" not in page.status.text()
    assert "encode" in page.status.toolTip() and "query" in page.status.toolTip()

    # an item with text: the query strip says the two are combined
    item = next(i for i in cat.items(cat.require_dataset("toy-shapes").id, limit=48) if i.category == "blue")
    page.search_with_item(item.id)
    wait_results(qtbot, page, text="a small red square", item=item.id)
    assert "combined with the text “a small red square”" in page.subject_label.text()
    assert page.result.confident is None and page.not_calibrated  # fused: nothing of its kind measured
    assert page.confidence_banner.isVisibleTo(page)
    assert "Not calibrated: a picture with text (a fused query) is not calibrated" in page.confidence_banner.text()
    assert score_badge(page.grid.hits()[0]) == ("not calibrated", BAND_COLOURS["none"])
    page.query_edit.clear()
    assert "combined" not in page.subject_label.text() and "results like this item" in page.subject_label.text()


def _shot(qtbot, page: SearchPage, name: str) -> None:
    """The page as it is, saved under ``$CROSSFOLD_SHOTS`` (when set) once the first cards' pictures are in."""
    folder = os.environ.get("CROSSFOLD_SHOTS")
    if not folder:
        return
    hits = page.grid.hits()[:6]
    qtbot.waitUntil(lambda: all(page.grid.result_model.pixmap(h) is not None for h in hits), timeout=WAIT)
    save_shots(page, Path(folder), name, ready=lambda: not page.grid.cards_pending)


def test_empty_workspace_search_says_what_to_do_in_plain_words(qtbot, tmp_path: Path) -> None:
    page = open_page(qtbot, Workspace.open(tmp_path / "empty"))
    qtbot.waitUntil(lambda: "No finished run" in page.grid.message, timeout=WAIT)
    assert "<" not in page.grid.message and "trainer demo" in page.grid.message


def test_ab_side_b_defaults_to_the_best_other_run_with_an_index(qtbot, tmp_path: Path) -> None:
    from app.search_worker import RunChoice, RunList
    from app.widgets.ab_compare import ABCompare, default_b
    from app.widgets.item_grid import CatalogHandle

    shapes = frozenset({"shapes"})
    runs = RunList((RunChoice("newest", "gcl", "d", shapes, 0.10), RunChoice("unindexed", "gcl", "d", frozenset(), 0.9),
                    RunChoice("best", "gcl", "d", shapes, 0.50), RunChoice("a", "gcl", "d", shapes, 0.30)))
    assert default_b(runs, "shapes", "a") == "best"  # not the newest, not the one without an index
    assert default_b(runs, "shapes", "best") == "a"
    assert default_b(runs, "images", "a") == "newest"  # nothing indexed for images: the newest other run
    ws = Workspace.open(tmp_path / "w")
    service = SearchService(ws, CatalogHandle(ws), device="cpu")
    ab = ABCompare(service, ThumbnailCache())
    qtbot.addWidget(ab)
    ab.set_runs(runs, "shapes", a="a")
    assert ab.sides["A"].run == "a" and ab.sides["B"].run == "best"


def test_opening_the_page_warms_the_run_before_the_first_query(qtbot, ws) -> None:
    page = open_page(qtbot, ws)  # nothing typed: the run's model is loaded and run once in the background

    def warm() -> bool:
        searcher = page.service.searcher(page.run)
        return searcher is not None and searcher._restored is not None and page.service.running() == 0

    qtbot.waitUntil(warm, timeout=WAIT)
    assert page.result is None and not page.service.busy()  # its answer is nobody's: nothing shown, no busy bar
