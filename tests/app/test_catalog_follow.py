"""Nothing switched under the user (issue 20, section 3): every list follows the catalogue (a dataset imported in this
session reaches the run form through :mod:`app.catalog_changes`), the default run of a dataset is the best one on
it, a run is never offered an index of a dataset of the other kind, a run the user picked stays while it can
search the target (and the page says so when it cannot), and A/B opens with both sides on one dataset.

Runs here are catalogue rows with index rows (no checkpoints): what the run lists read. The import is a real
``trainer import folder`` child. No sleeps: every wait is on a signal or a condition.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from app.engine_job import EngineJob
from app.pages.search import SearchPage
from app.search_worker import SearchService, index_needed, list_runs
from app.thumbnails import ThumbnailCache
from app.widgets.ab_compare import ABCompare
from app.widgets.item_grid import CatalogHandle
from app.widgets.run_form import RunForm
from engine.catalog import Catalog
from engine.index import registry
from engine.index.manifest import IndexManifest
from engine.index.params import IndexParams
from engine.search import default_run
from engine.workspace import Workspace

WAIT = 60_000  # ms: bounds, not timing assertions
JOB_WAIT = 120_000  # ms: a `trainer import` child on a busy machine


def _index(cat: Catalog, run: str, dataset: str, modality: str) -> None:
    """An index row of ``run`` on ``dataset`` (what the run lists read; no file is opened)."""
    manifest = IndexManifest(Path(f"/nowhere/{run}-{dataset}.hnsw"), 1, 4, IndexParams(), "", 0, "")
    registry.record(cat, manifest, cat.require_run(run).id, cat.require_dataset(dataset).id, modality)


@pytest.fixture()
def runs_ws(tmp_path: Path) -> Workspace:
    """Two shape datasets and a photo one; on shapes-a an old good run and a newer weak one; the newest run of all,
    on shapes-b, scores best of all; an image run on photos."""
    ws = Workspace.open(tmp_path / "ws")
    cat = ws.catalog()
    for name, kind in (("shapes-a", "shape-text"), ("shapes-b", "shape-text"), ("photos", "image-text")):
        cat.create_dataset(name, kind, "folder")
    for name, dataset, score in (("a-good", "shapes-a", 0.6), ("a-weak", "shapes-a", 0.2),
                                 ("photo-run", "photos", 0.4), ("b-newest", "shapes-b", 0.9)):
        cat.upsert_run(name, loss="gcl", status="done", dataset_id=cat.require_dataset(dataset).id,
                       config={"dataset": dataset}, metrics={"best_score": score, "best_step": 10})
        _index(cat, name, dataset, "image" if dataset == "photos" else "shape")
        _index(cat, name, dataset, "text")
    return ws


def test_the_training_form_lists_a_dataset_imported_in_the_same_session(qtbot, tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    form = RunForm(ws)
    qtbot.addWidget(form)
    with qtbot.waitSignal(form.loaded, timeout=WAIT) as blocker:
        form.show()
    assert blocker.args == [0] and "No datasets yet" in form.dataset_info.text()

    folder = tmp_path / "mine"
    folder.mkdir()
    for i, colour in enumerate(("red", "green", "blue")):
        Image.new("RGB", (16, 16), colour).save(folder / f"{colour}.png")
        (folder / f"{colour}.txt").write_text(f"a {colour} square {i}", encoding="utf-8")
    job = EngineJob(["import", "folder", str(folder), "--name", "mine", "--events", "-"], ws.root, title="import")
    with qtbot.waitSignal(form.loaded, timeout=JOB_WAIT) as blocker:  # the job ends: the form lists again
        job.start()
    assert blocker.args == [1] and not job.running
    assert [form.dataset.itemText(i) for i in range(form.dataset.count())] == ["mine"]
    assert form.dataset.currentText() == "mine" and form.launch_button.isEnabled()
    assert "No datasets yet" not in form.dataset_info.text()


def test_the_default_run_of_a_dataset_is_the_best_on_it_and_never_of_the_other_kind(runs_ws: Workspace) -> None:
    cat = runs_ws.catalog()
    assert default_run(cat, "shapes", "shapes-a") == "a-good"  # the best on shapes-a, not the newer weak one
    assert default_run(cat, "shapes") == "b-newest"  # no dataset named: the one indexed last, its best run
    assert default_run(cat, "images") == "photo-run"
    runs = list_runs(cat)
    assert runs.best_on("shapes-a", "shapes") == "a-good" and runs.best_on("photos", "images") == "photo-run"
    assert runs.best_on("photos", "shapes") is None  # a photo run does not search shapes
    assert not runs.get("a-good").serves("images") and runs.get("a-good").serves("captions")

    need = index_needed(cat, "a-good", "images")  # a shape run is never offered an index of the photos
    assert need is not None and need.dataset is None and "trained on shape data" in need.message


def test_a_run_the_user_picked_stays_while_it_can_and_the_page_says_when_it_cannot(qtbot, runs_ws: Workspace) -> None:
    page = SearchPage(runs_ws, thumbnails=ThumbnailCache(), device="cpu")
    qtbot.addWidget(page)
    with qtbot.waitSignal(page.runs_loaded, timeout=WAIT):
        page.show()
    assert page.run == "b-newest"  # the best run on the shape dataset indexed last
    page.search_with_item(1, kind="shape-text", dataset="shapes-a")  # a shape: shapes, with its dataset's best run
    assert page.target == "shapes" and page.run == "a-good"
    page.search_with_item(1, kind="image-text", dataset="photos")  # a photo searches images, not shapes
    assert page.target == "images" and page.run == "photo-run"

    page.set_target("shapes")
    assert page.select_run("a-weak")
    page.set_target("captions")  # it can search captions: it stays, nothing to say
    assert page.run == "a-weak" and not page.run_note.isVisibleTo(page)
    page.set_target("images")  # it cannot: the best photo run answers, and the page says why
    assert page.run == "photo-run" and page.run_note.isVisibleTo(page)
    assert "a-weak: it cannot search images" in page.run_note.text()
    page.search_with_item(1, kind="shape-text", dataset="shapes-a")  # back on shapes: the user's run again
    assert page.target == "shapes" and page.run == "a-weak" and not page.run_note.isVisibleTo(page)
    page.shutdown()


def test_ab_opens_with_both_sides_on_one_dataset(qtbot, runs_ws: Workspace) -> None:
    runs = list_runs(runs_ws.catalog())
    service = SearchService(runs_ws, CatalogHandle(runs_ws), device="cpu")
    ab = ABCompare(service, ThumbnailCache())
    qtbot.addWidget(ab)
    ab.set_runs(runs, "shapes", a="a-weak")  # b-newest scores better, but on another dataset
    assert (ab.sides["A"].run, ab.sides["B"].run) == ("a-weak", "a-good")
    ab.set_runs(runs, "shapes", a="b-newest")  # alone on its dataset: the best other run
    assert ab.sides["B"].run == "a-good"
    ab.set_runs(runs, "shapes", a="a-good", b="b-newest")
    ab.set_runs(runs, "shapes", a="a-weak")  # opened again on a-weak: B joins it on shapes-a
    assert ab.sides["B"].run == "a-good"
    service.close()
