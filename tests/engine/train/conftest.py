"""A tiny shape-text workspace (coloured squares as views, captions naming colour and size)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from engine.catalog import ItemRecord
from engine.workspace import Workspace

ROOT = Path(__file__).resolve().parents[3]
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220), "yellow": (230, 220, 30),
           "black": (10, 10, 10), "white": (245, 245, 245)}


def make_toy_workspace(root: Path, n_items: int = 24) -> Workspace:
    ws = Workspace.open(root)
    cat = ws.catalog()
    ds = cat.create_dataset("toy-shapes", "shape-text", "test", str(root))
    img_dir = root / "views"
    img_dir.mkdir(parents=True, exist_ok=True)
    records = []
    names = list(COLOURS)
    for i in range(n_items):
        colour = names[i % len(names)]
        big = (i // len(names)) % 2 == 0
        views = []
        for v in range(2):
            path = img_dir / f"{i:03d}_{v}.png"
            im = Image.new("RGB", (32, 32), (128, 128, 128))
            half = 14 if big else 7
            c = 16 + (v * 2 - 1) * 2
            im.paste(COLOURS[colour], (c - half, c - half, c + half, c + half))
            im.save(path)
            views.append(str(path))
        size = "big" if big else "small"
        split = "train" if i % 6 < 4 else ("val" if i % 6 == 4 else "test")
        records.append(ItemRecord(f"toy-{i:03d}", split=split, category=colour, views=views,
                                  captions=[f"a {size} {colour} square", f"{colour} block, {size}",
                                            f"the square is {colour}"]))
    cat.add_records(ds.id, records)
    return ws


@pytest.fixture(scope="session")
def toy_workspace_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("toy") / "ws"
    make_toy_workspace(root)
    return root


@pytest.fixture()
def toy_workspace(toy_workspace_template: Path, tmp_path: Path) -> Workspace:
    """A private copy per test (runs write into it)."""
    import shutil

    dst = tmp_path / "ws"
    shutil.copytree(toy_workspace_template, dst)
    return Workspace.open(dst)


TRAIN_ARGS = ["--dataset", "toy-shapes", "--model", "cf-vit-tiny-64", "--batch-size", "4", "--views-per-item", "2",
              "--captions-per-item", "2", "--workers", "0", "--warmup", "2", "--lr", "1e-3", "--device", "cpu"]


def trainer_cmd(ws: Workspace, *args: str) -> list[str]:
    return [sys.executable, "-m", "trainer", "train", "--workspace", str(ws.root), *TRAIN_ARGS, *args]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["OMP_NUM_THREADS"] = "1"
    env["HF_HUB_OFFLINE"] = "1"
    return env


def run_trainer(ws: Workspace, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``trainer train`` with :data:`TRAIN_ARGS` and ``args``, in this process (``tests/cli_runner.py``); the tests
    of signals and kills start :func:`trainer_cmd` as real children."""
    from tests.cli_runner import run_trainer as trainer

    return trainer("train", *TRAIN_ARGS, *args, ws=ws.root, timeout=timeout)
