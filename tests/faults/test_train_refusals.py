"""``trainer train`` refusals that need the dataset or the run, as a user sees them: a real child process, exit 2,
one line, no traceback, and nothing written outside the workspace."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.data.multifold import split_items
from engine.workspace import Workspace
from tests.engine.train.conftest import TRAIN_ARGS, child_env, make_toy_workspace

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ws_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("refusals") / "deep" / "ws"
    make_toy_workspace(root, n_items=12)
    return root


def train(ws_root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "trainer", "train", "--workspace", str(ws_root), *TRAIN_ARGS,
                           "--max-steps", "2", "--val-frequency", "100", "--save-frequency", "100", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=child_env())


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_run_name_that_escapes_is_refused_and_writes_nothing(ws_root: Path) -> None:
    line = one_line(train(ws_root, "--name", "../../escape"))
    assert "run name '../../escape' is not allowed" in line
    assert not (ws_root.parent.parent / "escape").exists() and not (ws_root.parent / "escape").exists()


def test_more_views_per_item_than_the_items_have(ws_root: Path) -> None:
    line = one_line(train(ws_root, "--name", "views", "--views-per-item", "1000"))
    assert line.endswith("--views-per-item 1000 is more than the 2 views the items of toy-shapes have")
    assert not (ws_root / "runs" / "views").exists()


def test_huge_lr_is_a_divergence_naming_step_and_part(ws_root: Path) -> None:
    line = one_line(train(ws_root, "--name", "huge-lr", "--lr", "1e6", "--precision", "fp32"))
    assert "training diverged at step" in line and "loss part" in line
    assert "NaN" not in line.split("diverged")[0]


def test_resume_and_pretrained_from_foreign_files(ws_root: Path, tmp_path: Path) -> None:
    import argparse

    import torch

    assert train(ws_root, "--name", "base").returncode == 0
    state = torch.load(ws_root / "runs" / "base" / "checkpoints" / "best.pt", weights_only=True)
    no_sd, renamed, objects = tmp_path / "no_sd.pt", tmp_path / "renamed.pt", tmp_path / "objects.pt"
    torch.save({"model": state["state_dict"]}, no_sd)
    torch.save({**state, "state_dict": {"m." + k: v for k, v in state["state_dict"].items()}}, renamed)
    torch.save({**state, "args": argparse.Namespace(x=1)}, objects)
    assert one_line(train(ws_root, "--name", "r1", "--resume", str(no_sd))).endswith(
        f"{no_sd}: not a Crossfold/open_clip checkpoint (no state_dict)")
    line = one_line(train(ws_root, "--name", "r2", "--resume", str(renamed)))
    assert f"{renamed}: its weights do not fit model cf-vit-tiny-64 (" in line and "missing keys, e.g." in line
    assert len(line) < 400
    line = one_line(train(ws_root, "--name", "r3", "--pretrained", str(objects)))
    assert line.endswith(f"{objects}: refused to load: it holds Python objects other than tensors "
                         "(only weights are loaded, for safety)")
    assert "weights_only" not in line


def test_a_dataset_without_captions_cannot_train_and_says_the_way_out(tmp_path: Path) -> None:
    """A folder of photos imported as it is (no caption files): `trainer train` refuses in one line, naming the
    count and the ways out, and writes no run."""
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(6):
        Image.new("RGB", (16, 16), (40 * i, 90, 200)).save(photos / f"IMG_{i:04d}.png")
    (photos / "IMG_0000.txt").write_text("The only caption.\n", encoding="utf-8")
    ws = tmp_path / "ws"
    imported = subprocess.run([sys.executable, "-m", "trainer", "import", "folder", str(photos), "--name", "photos",
                               "--workspace", str(ws)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                              env=child_env())
    assert imported.returncode == 0, imported.stderr
    assert "imported 'photos' (folder): 6 new items (1 with captions)," in imported.stdout
    found = split_items(Workspace.open(ws).catalog(), "photos", "train")
    assert len(found.items) <= 1 and found.uncaptioned >= 1
    line = one_line(train(ws, "--dataset", "photos", "--name", "photos-run"))
    assert line.startswith(f"trainer: error: dataset 'photos' has {len(found.items)} training items with captions "
                           f"({found.uncaptioned} without), fewer than one batch of 4: ")
    assert "a same-stem .txt beside each file" in line
    assert line.endswith("trainer index --model cf-vit-tiny-64 --pretrained TAG|FILE --dataset photos")
    assert not (ws / "runs" / "photos-run").exists()
