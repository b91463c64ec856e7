"""Pretrained weights in the app: the run form's "Start from" and tower locks, and the Datasets page's "Index with a
pretrained model…" (a real ``trainer index --pretrained`` child process, real SQLite and hnswlib) whose zero-shot
run is marked on the Search page and in the runs table.

Weights come from a tiny shipped model saved to a file (no network). No sleeps: every wait is on a signal or a
condition, with bounds for a busy 2-core machine.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.pages.datasets import DatasetsPage
from app.pages.search import SearchPage
from app.runs import RunsModel
from app.runs_table import RunsTableModel
from app.thumbnails import ThumbnailCache
from app.widgets.run_form import RunForm
from app.widgets.weights_picker import FILE, RANDOM
from engine.runs.columns import COLUMNS
from engine.workspace import Workspace
from tests.engine.train.conftest import make_toy_workspace

MODEL = "cf-vit-tiny-64"
WAIT = 60_000  # ms: bounds, not timing assertions
JOB_WAIT = 300_000  # ms: a child `trainer index` imports torch, builds the model, encodes every observation


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``open_clip.create_model(MODEL).state_dict()`` in a file: pretrained weights without a download."""
    import open_clip
    import torch

    import engine.models  # noqa: F401 - registers our configs with open_clip

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny-vit.pt"
    torch.save(open_clip.create_model(MODEL).state_dict(), path)
    return path


@pytest.fixture()
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return make_toy_workspace(tmp_path / "ws")


# ---- the run form ---------------------------------------------------------------------------------------------------
def open_form(qtbot, ws: Workspace) -> RunForm:
    form = RunForm(ws)
    qtbot.addWidget(form)
    with qtbot.waitSignal(form.loaded, timeout=WAIT):
        form.show()
    form.model.setCurrentText(MODEL)
    form.batch.setValue(4)
    form.length.setValue(4)
    form.device.setCurrentText("cpu")
    return form


def test_run_form_starts_from_a_file_with_a_locked_text_tower(qtbot, toy: Workspace, weights: Path,
                                                              tmp_path: Path) -> None:
    form = open_form(qtbot, toy)
    assert form.start_from.mode == RANDOM and form.values()["pretrained"] is None  # the default
    assert "--pretrained" not in form.build_args(form.values())
    form.advanced_toggle.setChecked(True)
    assert not form.lock_text_layers.isEnabled()  # a lock's options only once it is on
    form.start_from.set_mode(FILE)
    form.start_from.file.setText(str(weights))
    qtbot.mouseClick(form.lock_text, Qt.MouseButton.LeftButton)
    assert form.lock_text.isChecked() and form.lock_text_layers.isEnabled()
    form.name.setText("from-file")
    with qtbot.waitSignal(form.launchRequested, timeout=WAIT) as blocker:
        qtbot.mouseClick(form.launch_button, Qt.MouseButton.LeftButton)
    args = blocker.args[0].args
    i = args.index("--pretrained")
    assert args[i:i + 3] == ["--pretrained", str(weights), "--lock-text"]
    assert "--lock-image" not in args and "--lock-text-unlocked-layers" not in args
    assert not form.field_errors["pretrained"].isVisible()

    # a file that is not there: refused before launch, the message on the weights field, the field outlined
    missing = tmp_path / "nowhere" / "weights.pt"
    form.start_from.file.setText(str(missing))
    form.name.setText("missing-file")
    with qtbot.waitSignal(form.validated, timeout=WAIT) as blocker:
        qtbot.mouseClick(form.launch_button, Qt.MouseButton.LeftButton)
    assert any(str(missing) in m and "does not exist" in m for m in blocker.args[0])
    label = form.field_errors["pretrained"]
    assert label.isVisible() and "does not exist" in label.text()
    assert form.start_from.file.property("error") and not form.lr.property("error")
    form.start_from.file.setText(str(weights))  # an edit clears the mark
    assert not label.isVisible() and not form.start_from.file.property("error")

    # a file that holds no weights: found by the worker's check (it reads the file), marked the same way
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    form.start_from.file.setText(str(junk))
    with qtbot.waitSignal(form.validated, timeout=WAIT) as blocker:
        qtbot.mouseClick(form.launch_button, Qt.MouseButton.LeftButton)
    assert any("not a PyTorch weights file" in m for m in blocker.args[0])
    assert form.field_errors["pretrained"].isVisible()


def test_run_form_copies_weights_and_locks_back_from_a_config(qtbot, toy: Workspace, weights: Path) -> None:
    form = open_form(qtbot, toy)
    form.set_values({"model": MODEL, "pretrained": str(weights), "lock_image": True, "lock_image_unlocked_groups": 1,
                     "lock_image_freeze_bn_stats": True, "lock_text": False})
    values = form.values()
    assert form.start_from.mode == FILE and values["pretrained"] == str(weights)
    assert (values["lock_image"], values["lock_image_unlocked_groups"], values["lock_image_freeze_bn_stats"]) == \
        (True, 1, True)
    assert "--lock-image-unlocked-groups" in form.build_args({**values, "name": "x"})
    form.set_values({"pretrained": None, "lock_image": False})
    assert form.start_from.mode == RANDOM and form.values()["lock_image_unlocked_groups"] == 0
    # a lock with nothing pretrained to keep is refused on the weights field
    form.lock_text.setChecked(True)
    errors = form.local_errors(form.values())
    assert any("locked tower" in e and form.field_of(e) == "pretrained" for e in errors)


# ---- the Datasets page's zero-shot index ------------------------------------------------------------------------
def open_datasets(qtbot, ws: Workspace) -> DatasetsPage:
    page = DatasetsPage(ws, thumbnails=ThumbnailCache())
    qtbot.addWidget(page)
    page.resize(1100, 760)
    with qtbot.waitSignal(page.loaded, timeout=WAIT):
        page.show()
    page.select_dataset("toy-shapes")
    qtbot.waitUntil(lambda: page.pretrained_button.isEnabled(), timeout=WAIT)
    return page


def start_index(qtbot, page: DatasetsPage, weights: Path, name: str | None = None) -> str:
    """Open the dialog from the page's button, fill it, press Index; the run's name."""
    qtbot.mouseClick(page.pretrained_button, Qt.MouseButton.LeftButton)
    dialog = page.pretrained_dialog
    assert dialog is not None and dialog.isVisible() and dialog.dataset == "toy-shapes"
    dialog.set_values(MODEL, str(weights), name)
    run = dialog.name.text()
    qtbot.mouseClick(dialog.index_button, Qt.MouseButton.LeftButton)  # the file is checked against the model first
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=WAIT)
    assert page.pretrained_job is not None
    assert not page.job_bar.isHidden() and not page.pretrained_button.isEnabled()
    return run


def test_index_with_pretrained_weights_makes_a_zero_shot_run(qtbot, toy: Workspace, weights: Path) -> None:
    page = open_datasets(qtbot, toy)
    # the dialog checks what it can on its own first
    qtbot.mouseClick(page.pretrained_button, Qt.MouseButton.LeftButton)
    dialog = page.pretrained_dialog
    dialog.set_values(MODEL, str(weights.with_name("absent.pt")))
    assert not dialog.submit() and "does not exist" in dialog.error.text() and page.pretrained_job is None
    dialog.close()

    progress: list[tuple[int, int, str]] = []
    run = start_index(qtbot, page, weights)
    assert run == "toy-shapes-cf-vit-tiny-64-tiny-vit"  # default_pretrained_run_name
    page.pretrained_job.progress.connect(lambda d, t, s: progress.append((d, t, s)))
    with qtbot.waitSignal(page.pretrained_finished, timeout=JOB_WAIT) as blocker:
        pass
    assert blocker.args[:2] == [run, "finished"], blocker.args
    assert progress and page.job_bar.isHidden() and page.pretrained_button.isEnabled()
    assert "Zero-shot run" in page.status.text()

    cat = toy.catalog()
    row = cat.run(run)
    assert row is not None and row.kind == "pretrained" and row.status == "done"

    # the Search page lists it, marked zero-shot, with an index for shapes (it can be searched at once)
    search = SearchPage(toy, thumbnails=ThumbnailCache(), device="cpu")
    qtbot.addWidget(search)
    with qtbot.waitSignal(search.runs_loaded, timeout=WAIT):
        search.show()
    labels = [search.run_combo.itemText(i) for i in range(search.run_combo.count())]
    assert f"{run} (zero-shot)  ·  on toy-shapes" in labels, labels
    i = search.run_combo.findData(run)
    assert "Zero-shot" in search.run_combo.itemData(i, Qt.ItemDataRole.ToolTipRole)
    assert search.runs.get(run).zero_shot and "shapes" in search.runs.get(run).targets

    # the runs table (the Training page's): its Loss says zero-shot, with a tooltip
    runs = RunsModel(toy)
    table = RunsTableModel(runs)
    qtbot.waitUntil(lambda: table.row_of(run) >= 0 and runs.state(run).in_catalog, timeout=WAIT)
    cell = table.index(table.row_of(run), COLUMNS.index("Loss"))
    assert cell.data() == "zero-shot" and runs.state(run).zero_shot
    assert "Zero-shot" in cell.data(Qt.ItemDataRole.ToolTipRole) and str(weights) in cell.data(
        Qt.ItemDataRole.ToolTipRole)
    runs.close()


def test_index_with_pretrained_weights_can_be_cancelled(qtbot, toy: Workspace, weights: Path) -> None:
    page = open_datasets(qtbot, toy)
    run = start_index(qtbot, page, weights, name="to-cancel")
    job = page.pretrained_job
    job.progress.connect(page.job_cancel.click)  # Cancel at its first progress event
    with qtbot.waitSignal(page.pretrained_finished, timeout=JOB_WAIT) as blocker:
        pass
    assert blocker.args[:2] == [run, "cancelled"], blocker.args
    assert not job.running and page.job_bar.isHidden() and "cancelled" in page.status.text()
    assert page.pretrained_button.isEnabled()


def test_the_pretrained_dialog_checks_the_weights_and_the_cache_before_starting(qtbot, weights: Path) -> None:
    from app.dialogs.pretrained_index import PretrainedIndexDialog
    from app.widgets.weights_picker import ModelTags, model_tags

    dialog = PretrainedIndexDialog("toy-shapes")
    qtbot.addWidget(dialog)
    dialog.show()
    requested: list[object] = []
    dialog.requested.connect(requested.append)
    dialog.set_values("cf-rn-tiny-64", str(weights))  # a ViT's weights for a ResNet: refused in one line
    assert not dialog.submit() and dialog.checking
    qtbot.waitUntil(lambda: not dialog.checking, timeout=WAIT)
    text = dialog.error.text().replace("\u200b", "")
    assert dialog.error.isVisible() and "do not fit model cf-rn-tiny-64" in text and str(weights) in text
    assert "\n" not in text and "Assertion" not in text and not requested

    dialog.set_values(MODEL, str(weights))  # the model they are for: requested
    dialog.submit()
    qtbot.waitUntil(lambda: bool(requested), timeout=WAIT)
    assert requested[0].pretrained == str(weights)

    loader = model_tags()
    saved = loader.value
    cached = "laion2b_s34b_b79k"
    loader.value = ModelTags({"ViT-B-32": ("openai", cached)}, {"ViT-B-32": frozenset({cached})})
    try:
        offline = PretrainedIndexDialog("toy-shapes")
        qtbot.addWidget(offline)
        assert offline.weights.tag_text() == cached  # the default: a cached tag
        offline.set_values("ViT-B-32", "openai")  # not cached, and the app's engine jobs do not download
        assert not offline.submit() and "openai of ViT-B-32 is not in the local Hugging Face cache" in (
            offline.error.text())
        loader.value = ModelTags({"ViT-B-32": ("openai",)}, {"ViT-B-32": frozenset()})
        none_cached = PretrainedIndexDialog("toy-shapes")
        qtbot.addWidget(none_cached)
        none_cached.show()
        assert none_cached.cache_note.isVisibleTo(none_cached) and "Weights file" in none_cached.cache_note.text()
    finally:
        loader.value = saved
