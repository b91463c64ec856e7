"""Test-wide settings: Qt offscreen, and never the user's real workspace."""

from __future__ import annotations

import os
import sys

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _isolated_workspace(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.delenv("CROSSFOLD_WORKSPACE", raising=False)
    if "PySide6.QtCore" in sys.modules:  # Qt reads XDG_CONFIG_HOME once a process: each test its own QSettings
        from PySide6.QtCore import QSettings

        QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(home / "config"))


@pytest.fixture(autouse=True)
def _gc_on_the_gui_thread(request: pytest.FixtureRequest):
    """A Qt test collects garbage as the app does (``app/heap.py``): on the GUI thread, never in a worker; what
    it left is collected there at its end, before collection goes back to Python for the next test."""
    if "qtbot" not in request.fixturenames and "qapp" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("qapp")
    from app.heap import GuiThreadCollector

    collector = GuiThreadCollector()
    collector.start()
    try:
        yield
    finally:
        collector.stop()


TOY_RUN = "toy-gcl"


@pytest.fixture(scope="session")
def trained_toy(tmp_path_factory: pytest.TempPathFactory):
    """A toy shape workspace with run ``toy-gcl`` (GCL, 80 steps) and its indexes — built once per session.

    Treat it as read-only; copy it with ``copy_workspace`` to change it."""
    import torch

    from engine.indexing import index_run
    from engine.run.config import TrainConfig
    from engine.train.loop import train
    from tests.engine.train.conftest import make_toy_workspace

    root = tmp_path_factory.mktemp("trained-toy") / "ws"
    ws = make_toy_workspace(root, n_items=48)
    config = TrainConfig(dataset="toy-shapes", loss="gcl", model="cf-vit-tiny-64", max_steps=80, batch_size=8,
                         views_per_item=2, captions_per_item=2, lr=2e-3, warmup=5, workers=0, device="cpu",
                         name=TOY_RUN, val_frequency=80, save_frequency=80)
    torch.set_num_threads(2)
    train(config, ws)
    report = index_run(ws, ws.catalog(), TOY_RUN, device="cpu")
    assert {m: d["action"] for m, d in report.modalities.items()} == {"text": "built", "image": "built",
                                                                        "shape": "built"}
    return root


FURNITURE_RUN = "furniture-clip"
ZERO_SHOT_RUN = "zs-random"


@pytest.fixture(scope="session")
def trained_furniture(tmp_path_factory: pytest.TempPathFactory):
    """Labelled toy furniture (``tests/engine/evaluate/conftest.py``: three categories, captions naming them) with
    run ``furniture-clip`` (CLIP loss, cf-rn-tiny-64, 40 steps on CPU) and ``zs-random``, a zero-shot run of
    randomly initialised weights (a run of kind ``pretrained``) — built once per session.

    Treat it as read-only; copy it with ``copy_workspace`` to change it."""
    import open_clip
    import torch

    import engine.models.configs  # noqa: F401  (registers our small model configs with open_clip)
    from engine.run.config import TrainConfig
    from engine.train.loop import train
    from engine.train.zero_shot import create_pretrained_run
    from tests.engine.evaluate.conftest import add_photos, make_furniture_workspace

    root = tmp_path_factory.mktemp("trained-furniture") / "ws"
    ws = make_furniture_workspace(root)
    add_photos(ws)
    config = TrainConfig(dataset="furniture", loss="clip", model="cf-rn-tiny-64", max_steps=40, batch_size=8,
                         views_per_item=2, captions_per_item=1, lr=2e-3, warmup=5, workers=0, device="cpu",
                         name=FURNITURE_RUN, val_frequency=40, save_frequency=40)
    torch.set_num_threads(2)
    train(config, ws)
    torch.manual_seed(0)
    weights = root / "random-weights.pt"
    torch.save(open_clip.create_model("cf-rn-tiny-64").state_dict(), weights)
    create_pretrained_run(ws, ws.catalog(), "cf-rn-tiny-64", str(weights), "furniture", name=ZERO_SHOT_RUN,
                          device="cpu")
    return root


def copy_workspace(src, dst):
    """Copy a workspace, pointing its runs and index rows at the copy (item views stay in ``src``)."""
    import shutil

    from engine.catalog import IndexRow
    from engine.workspace import Workspace

    shutil.copytree(src, dst)
    ws = Workspace.open(dst)
    cat = ws.catalog()
    for run in cat.runs():
        cat.upsert_run(run.name, run_dir=run.run_dir.replace(str(src), str(dst)))
    with cat.session() as s:
        for row in s.query(IndexRow).all():
            row.path = row.path.replace(str(src), str(dst))
    return ws
