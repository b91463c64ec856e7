"""The Search page on a run that is not calibrated for its dataset: a zero-shot run of a flat folder of photos
without captions or categories (built through the real CLI). A text query's answer shows the amber banner saying
so, no confidence on any card (the badge is the raw score, grey), and no "no confident match" warning; a screenshot
of the page is saved to look at."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from app.pages.search import SearchPage
from app.thumbnails import ThumbnailCache
from app.widgets.result_grid import BAND_COLOURS, score_badge, tooltip
from engine.workspace import Workspace
from tests.app.shots import save_shots
from tests.trainer.test_cli_search_uncalibrated import FLAT, uncaptioned_runs

WAIT = 120_000  # ms: a bound for loading the run on a busy 2-core machine, not a timing assertion
SHOTS = Path(os.environ.get("CROSSFOLD_SHOTS", tempfile.gettempdir())) / "crossfold-uncalibrated"
RUN = f"zs-{FLAT}"
QUERY = "a photo of a forest"


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    workspace, _ = uncaptioned_runs(tmp_path_factory.mktemp("uncalibrated-page"), (FLAT,))
    return workspace


def test_the_search_page_says_the_run_is_not_calibrated_and_shows_no_confidence(qtbot, ws: Workspace) -> None:
    page = SearchPage(ws, thumbnails=ThumbnailCache(), device="cpu")
    qtbot.addWidget(page)
    page.resize(1280, 720)
    with qtbot.waitSignal(page.runs_loaded, timeout=WAIT):
        page.show()
    page.set_target("images")
    assert page.select_run(RUN)
    page.set_text(QUERY)
    page.search_now()

    def shown() -> bool:
        r = page.result
        return r is not None and not page.searching and r.run == RUN and r.query["text"] == QUERY

    qtbot.waitUntil(shown, timeout=WAIT)
    hits = page.grid.hits()
    assert len(hits) == 18  # every photo (the page asks for 24)
    assert page.not_calibrated and not page.not_confident
    assert page.confidence_banner.isVisibleTo(page)
    banner = page.confidence_banner.text()
    assert f"Not calibrated: no captions and no categories</b> (run {RUN} on dataset {FLAT})" in banner
    assert "no confidence" in banner and "No confident match" not in banner
    assert "#fef7e0" in page.confidence_banner.styleSheet()  # the amber notice, not the red warning
    for hit in hits:
        assert hit.confidence is None
        text, colour = score_badge(hit)
        assert text == "not calibrated" and "%" not in text and colour == BAND_COLOURS["none"]
        assert "not calibrated" in tooltip(hit) and "confidence" not in tooltip(hit)

    SHOTS.mkdir(parents=True, exist_ok=True)
    qtbot.waitUntil(lambda: all(page.grid.result_model.pixmap(h) is not None for h in hits[:6]), timeout=WAIT)
    save_shots(page, SHOTS, "confidence_not_calibrated.png")

    page.set_text("")  # the query cleared: the banner goes with its answer
    page.search_now()
    qtbot.waitUntil(lambda: page.result is None, timeout=WAIT)
    assert not page.confidence_banner.isVisibleTo(page)
