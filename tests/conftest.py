"""Test-wide settings: Qt offscreen, and never the user's real workspace."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _isolated_workspace(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.delenv("CROSSFOLD_WORKSPACE", raising=False)


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
