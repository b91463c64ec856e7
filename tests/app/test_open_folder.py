"""The app's "Open a folder…" (issue 19, §3): a folder of meshes WITHOUT captions to the Search page in one job.

The Qt-free plan (which ``trainer`` arguments each stage runs, what a finished job says) and the :class:`StagedJob`
(on cheap thread-pool tasks) are checked first; then the flow end to end with real ``trainer`` child processes, real
SQLite, EGL renders (2 views, 64 px) and hnswlib, from a bare ``state_dict`` of ``cf-rn-tiny-64`` (no network): the
dialog filled as a user would, one job of three named stages, the Search page on the zero-shot run with hits; the same
folder opened again re-does nothing; a cancel while rendering leaves a workspace in which the same folder opens.

No sleeps: every wait is on a signal or a condition, with bounds for a busy 2-core machine.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import trimesh
from PySide6.QtCore import Qt

from app.open_folder import (
    IMPORTING,
    INDEXING,
    RENDERING,
    FolderContents,
    OpenFolderPlan,
    default_dataset_name,
    opened_line,
    run_of,
    scan_folder,
    stage_args,
)
from app.pages.datasets import DatasetsPage
from app.staged_job import Stage, StagedJob
from app.tasks import Task
from app.widgets.result_grid import THUMB
from app.window import MainWindow
from engine.search import TARGETS
from engine.workspace import Workspace

MODEL = "cf-rn-tiny-64"
WAIT = 60_000  # ms: bounds, not timing assertions
JOB_WAIT = 300_000  # ms: three child processes, one of them loading torch and encoding
RENDER = {"views": 2, "size": 64, "workers": 1}  # the model's input size: the index renders nothing more
MESHES = {"box.obj": lambda: trimesh.creation.box(extents=(1.0, 0.8, 0.6)),
          "cone.obj": lambda: trimesh.creation.cone(radius=0.5, height=1.0),
          "pole.obj": lambda: trimesh.creation.cylinder(radius=0.3, height=1.5),
          "ball.ply": lambda: trimesh.creation.icosphere(subdivisions=1)}


# ---- the plan, Qt-free -----------------------------------------------------------------------------------------------
def test_the_stages_are_the_readmes_three_commands() -> None:
    plan = OpenFolderPlan("/data/My Shapes", "My-Shapes", meshes=True, model="ViT-B-32", pretrained="laion2b",
                          up_axis="z", views=2, size=64)
    assert stage_args(plan) == [
        (IMPORTING, ["import", "folder", "/data/My Shapes", "--name", "My-Shapes", "--up", "z", "--events", "-"]),
        (RENDERING, ["render", "My-Shapes", "--views", "2", "--size", "64", "--events", "-"]),
        (INDEXING, ["index", "--model", "ViT-B-32", "--pretrained", "laion2b", "--dataset", "My-Shapes",
                    "--events", "-"]),
    ]
    photos = OpenFolderPlan("/p", "p", meshes=False, model="m", pretrained="/w.pt", up_axis="z")
    assert [label for label, _ in stage_args(photos)] == [IMPORTING, INDEXING]  # nothing to render, no --up
    assert "--up" not in stage_args(photos)[0][1]
    assert plan.target == "shapes" and photos.target == "images" and {"shapes", "images"} <= set(TARGETS)
    assert default_dataset_name("/data/My Shapes/") == "My-Shapes" and default_dataset_name("/") == "my-folder"


def test_what_a_finished_job_says() -> None:
    plan = OpenFolderPlan("/f", "f", meshes=True, model="m", pretrained="p")
    first = [{"items_added": 4, "captioned_items_added": 0}, {"rendered": 4, "cached": 0, "failed": []},
             {"run": "f-m-p", "modalities": {"text": {"action": "built"}, "shape": {"action": "built"}}}]
    assert run_of(first) == "f-m-p"
    assert opened_line(plan, first) == ("Opened f: 4 new items (0 with captions); 4 meshes rendered, 0 from the "
                                        "cache; zero-shot run f-m-p: indexed.")
    again = [{"synced": True, "items_unchanged": 4}, {"rendered": 0, "cached": 4},
             {"run": "f-m-p", "modalities": {"shape": {"action": "up-to-date"}}}]
    assert opened_line(plan, again) == ("Opened f: nothing changed in the folder (4 items unchanged); 0 meshes "
                                        "rendered, 4 from the cache; zero-shot run f-m-p: indexes up to date.")
    assert run_of([None]) == ""


def test_the_folder_scan_follows_the_importers_rule_and_stops_at_its_bound(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"tex{i}.png").write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "chair.off").write_bytes(b"x")
    (tmp_path / "sub" / "chair.txt").write_text("a chair\n")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.obj").write_bytes(b"x")
    found = scan_folder(tmp_path)
    # the only captioned file is a mesh: a mesh dataset (the pictures are its textures), z suggested by .off
    assert found == FolderContents(images=5, meshes=1, captioned_meshes=1, first_mesh_suffix=".off", complete=True)
    assert found.holds_meshes and found.describe() == "1 mesh (1 with captions)"
    (tmp_path / "sub" / "chair.txt").unlink()
    assert not scan_folder(tmp_path).holds_meshes  # no captions: the kind with more files, as the importer
    bounded = scan_folder(tmp_path, limit=3)
    assert not bounded.complete and bounded.images + bounded.meshes <= 3
    assert scan_folder(tmp_path / "absent").empty


# ---- the staged job, on cheap tasks ----------------------------------------------------------------------------------
def _task(result: object = None, error: str = "") -> Task:
    def work(context) -> object:
        context.progress(1, 2, "half")
        context.progress(0, 2, "again")  # a child's next step counts from 0: the bar stays where it was
        if error:
            raise ValueError(error)
        return result

    return Task(work, context=True)


def test_staged_job_maps_stages_onto_one_bar_and_says_which_stage_failed(qtbot) -> None:
    made: list[str] = []

    def stage(label: str, **kw: object) -> Stage:
        return Stage(label, lambda: made.append(label) or _task(**kw))

    job = StagedJob([stage("importing", result={"a": 1}), stage("rendering", error="mesh.obj: no faces\nTraceback"),
                     stage("indexing")], "open")
    bar: list[tuple[int, int, str]] = []
    job.progress.connect(lambda d, t, m: bar.append((d, t, m)))
    with qtbot.waitSignal(job.failed, timeout=WAIT) as blocker:
        job.start()
    assert blocker.args == ["rendering failed: mesh.obj: no faces"]
    assert made == ["importing", "rendering"] and job.results == [{"a": 1}] and not job.running
    assert (500, 3000, "1/3 importing (half 1 of 2)") in bar and (500, 3000, "1/3 importing (again 0 of 2)") in bar
    assert (1000, 3000, "2/3 rendering") in bar and [d for d, _t, _m in bar] == sorted(d for d, _t, _m in bar)

    done = StagedJob([stage("a", result=1), stage("b", result=2)], "two")
    with qtbot.waitSignal(done.finished, timeout=WAIT) as blocker:
        done.start()
    assert blocker.args == [[1, 2]]

    cancelled = StagedJob([stage("first", result=1), stage("second", result=2)], "cancel")
    cancelled.stage_started.connect(lambda i, _text: cancelled.cancel() if i == 0 else None)
    with qtbot.waitSignal(cancelled.cancelled, timeout=WAIT):
        cancelled.start()
    assert made.count("second") == 0  # no later stage starts after a cancel


# ---- the flow, with real child processes -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare ``state_dict`` file of the tiny model, as one saves exported weights."""
    import open_clip
    import torch

    import engine.models  # noqa: F401 - registers cf-rn-tiny-64 with open_clip

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "weights.pt"
    torch.save(open_clip.create_model(MODEL).state_dict(), path)
    return path


@pytest.fixture()
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Four meshes without a caption file, Z-up (as ModelNet's)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the children share 2 cores with the test
    root = tmp_path / "my shapes"
    root.mkdir()
    for name, make in MESHES.items():
        make().export(root / name)
    return root


def _open(qtbot, page: DatasetsPage, folder: Path, weights: Path, button=None) -> StagedJob:
    """Press "Open a folder…", fill the dialog, press Open; the job it started."""
    qtbot.mouseClick(button or page.open_folder_button, Qt.MouseButton.LeftButton)
    dialog = page.open_folder_dialog
    assert dialog is not None and dialog.isVisible()
    with qtbot.waitSignal(dialog.scanned, timeout=WAIT):
        dialog.set_values(folder, MODEL, str(weights), up_axis="z")
    assert dialog.contents.holds_meshes and dialog.form.isRowVisible(dialog.up_axis)  # meshes: the up axis asked
    assert dialog.name.text() == "my-shapes" and dialog.holds.text() == "4 meshes (0 with captions)"
    _shot(dialog, "dialog")
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible() and page.bar_job is page.open_folder_job is not None
    assert not page.job_bar.isHidden() and not page.open_folder_button.isEnabled()
    return page.open_folder_job


def _shot(widget, name: str, qtbot=None, ready: Callable[[], bool] | None = None) -> None:
    """Keep a picture of ``widget`` when CROSSFOLD_SHOTS names a folder (looked at by a person), once ``ready()``."""
    folder = os.environ.get("CROSSFOLD_SHOTS")
    if folder:
        if ready is not None:
            qtbot.waitUntil(ready, timeout=WAIT)
        Path(folder).mkdir(parents=True, exist_ok=True)
        assert widget.grab().save(str(Path(folder) / f"open_folder_{name}.png"))


def test_a_folder_of_meshes_opens_on_the_search_page_after_a_cancel_and_again_redoes_nothing(
    qtbot, tmp_path: Path, folder: Path, weights: Path,
) -> None:
    """One workspace, eight children (cheap enough for the suite): a first Open cancelled while rendering; a second
    that completes on the Search page with hits; a third that re-does nothing."""
    ws = Workspace.open(tmp_path / "ws")
    window = MainWindow(ws)
    qtbot.addWidget(window)
    page = window.datasets_page
    page.open_folder_render = RENDER
    with qtbot.waitSignal(page.loaded, timeout=WAIT):
        window.show()
    assert page.empty_panel.isVisible() and page.empty_open_folder_button.isVisible()  # a new workspace offers it

    # 1. cancelled while rendering: the import is kept, the workspace usable
    job = _open(qtbot, page, folder, weights, button=page.empty_open_folder_button)
    job.stage_started.connect(lambda _i, text: page.job_cancel.click() if "rendering" in text else None)
    with qtbot.waitSignal(page.folder_opened, timeout=JOB_WAIT) as blocker:
        pass
    assert blocker.args == ["my-shapes", "", "shapes", "cancelled"], page.status.text()
    assert len(job.results) == 1 and job.results[0]["items_added"] == 4  # 4 new items, none with captions
    assert job.results[0]["captioned_items_added"] == 0
    assert "cancelled" in page.status.text() and page.job_bar.isHidden() and page.open_folder_button.isEnabled()
    qtbot.waitUntil(lambda: page.current_dataset == "my-shapes", timeout=WAIT)  # listed, and browsed
    assert page.summary("my-shapes").items == 4 and not ws.catalog().runs()
    assert window.pages.currentWidget() is page  # nothing to search yet

    # 2. the same folder again: one job of three named stages, then the Search page on the zero-shot run
    job = _open(qtbot, page, folder, weights)
    stages: list[str] = []
    bar: list[str] = []
    job.stage_started.connect(lambda _i, text: stages.append(text))
    job.progress.connect(lambda _d, _t, text: bar.append(text))
    job.progress.connect(lambda _d, _t, text: _shot(page, "progress") if text.startswith("3/3 building the search "
                                                                                  "index (encode") else None)
    with qtbot.waitSignal(page.folder_opened, timeout=JOB_WAIT) as blocker:
        pass
    dataset, run, target, outcome = blocker.args
    assert outcome == "finished", page.status.text()
    assert (dataset, target) == ("my-shapes", "shapes") and run == f"my-shapes-{MODEL}-weights"
    assert stages == ["1/3 importing", "2/3 rendering", "3/3 building the search index"]
    assert any(text.startswith("2/3 rendering (") for text in bar)  # the render's counts on the one bar
    assert "4 meshes rendered, 0 from the cache" in page.status.text()
    assert page.job_bar.isHidden() and page.open_folder_button.isEnabled()
    search = window.search_page
    assert window.pages.currentWidget() is search
    qtbot.waitUntil(lambda: search.run == run and search.target == "shapes", timeout=WAIT)
    with qtbot.waitSignal(search.results_shown, timeout=WAIT) as shown:
        search.set_text("a cone")
        search.search_now()
    assert shown.args[0] == 4, search.status.text()
    assert {h.key for h in search.result.hits} == set(MESHES)
    _shot(window, "search", qtbot, lambda: all(search.thumbnails.peek(h.thumbnails[0], THUMB) is not None
                                               for h in search.result.hits))

    # 3. and again: a sync that finds the folder unchanged, the renders from the cache, the same run up to date
    window.sidebar.setCurrentRow(0)
    again = _open(qtbot, page, folder, weights)
    with qtbot.waitSignal(page.folder_opened, timeout=JOB_WAIT) as blocker:
        pass
    assert blocker.args == ["my-shapes", run, "shapes", "finished"], page.status.text()
    imported, rendered, indexed = again.results
    assert imported["synced"] and (imported["items_added"], imported["items_unchanged"]) == (0, 4)
    assert (rendered["rendered"], rendered["cached"]) == (0, 4)
    assert indexed["run"] == run and {d["action"] for d in indexed["modalities"].values()} == {"up-to-date"}
    assert [r.name for r in ws.catalog().runs()] == [run]  # no second run
    assert "nothing changed in the folder" in page.status.text() and "indexes up to date" in page.status.text()
