"""Pretrained weights through the CLI, as a user runs it: real child processes, real workspaces, no network.

Zero-shot runs from exported weights (bare state dict, open_clip training checkpoint with ``module.`` keys) search
and evaluate exactly like the run the weights came from; a tag that is neither cached nor reachable is one line
within the subprocess' timeout; ``--lock-text`` fine-tuning leaves the text tower alone and gives it no optimizer
state; the fine-tuned checkpoint opens in open_clip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import open_clip
import pytest
import torch
from PIL import Image

from engine.catalog import ItemRecord
from engine.workspace import Workspace
from tests.cli_runner import run_trainer
from tests.conftest import TOY_RUN, copy_workspace
from tests.engine.train.conftest import COLOURS

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", **extra}
    return env


def trainer(*args: str, ws: Path, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """In this process; a child (``env``) where the environment is the point: the hub reads it when imported."""
    if env is None:
        return run_trainer(*args, ws=ws)
    return subprocess.run([sys.executable, "-m", "trainer", *args, "--workspace", str(ws)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env=env)


def _json(done: subprocess.CompletedProcess[str]) -> dict:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def toy_copy(trained_toy: Path, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return copy_workspace(trained_toy, tmp_path_factory.mktemp("pretrained") / "ws")


@pytest.fixture(scope="module")
def trained_metrics(toy_copy: Workspace) -> dict:
    return _json(trainer("eval", "--run", TOY_RUN, "--device", "cpu", "--json", ws=toy_copy.root))["metrics"]


def _export(ws: Workspace, layout: str, path: Path) -> Path:
    state = torch.load(ws.runs / TOY_RUN / "checkpoints" / "best.pt", map_location="cpu", weights_only=True)
    weights = state["state_dict"]
    if layout == "bare":
        torch.save(weights, path)
    else:  # open_clip's training checkpoint, saved from a DDP-wrapped model
        torch.save({"epoch": 3, "name": "openclip-run", "state_dict": {f"module.{k}": v for k, v in weights.items()},
                    "optimizer": {"state": {}, "param_groups": []}}, path)
    return path


@pytest.mark.parametrize("layout", ["bare", "open_clip-checkpoint"])
def test_zero_shot_run_of_exported_weights_searches_and_evaluates_like_their_run(
    toy_copy: Workspace, trained_metrics: dict, tmp_path: Path, layout: str,
) -> None:
    weights = _export(toy_copy, layout, tmp_path / "F.pt")
    name = f"zs-{layout}"
    made = _json(trainer("index", "--model", "cf-vit-tiny-64", "--pretrained", str(weights), "--dataset",
                         "toy-shapes", "--name", name, "--device", "cpu", "--json", ws=toy_copy.root))
    assert {m: d["action"] for m, d in made["modalities"].items()} == {"text": "built", "image": "built",
                                                                       "shape": "built"}
    row = toy_copy.catalog().require_run(name)
    assert (row.kind, row.status) == ("pretrained", "done")
    assert (toy_copy.runs / name / "config.yaml").is_file()

    hits = _json(trainer("search", "--run", name, "--text", "a red chair", "--target", "shapes", "--k", "5",
                         "--json", ws=toy_copy.root))["hits"]
    assert len(hits) == 5
    evaluated = _json(trainer("eval", "--run", name, "--device", "cpu", "--json", ws=toy_copy.root))
    assert evaluated["step"] == 0
    assert evaluated["metrics"] == trained_metrics

    again = _json(trainer("index", "--model", "cf-vit-tiny-64", "--pretrained", str(weights), "--dataset",
                          "toy-shapes", "--name", name, "--device", "cpu", "--json", ws=toy_copy.root))
    assert {d["action"] for d in again["modalities"].values()} == {"up-to-date"}


def test_existing_index_by_run_still_works_and_bad_usage_is_one_line(toy_copy: Workspace) -> None:
    done = trainer("index", "--run", TOY_RUN, "--device", "cpu", "--json", ws=toy_copy.root)
    assert {d["action"] for d in _json(done)["modalities"].values()} == {"up-to-date"}
    missing = trainer("index", "--model", "cf-vit-tiny-64", "--pretrained", "/nowhere/F.pt", "--dataset",
                      "toy-shapes", "--name", "zs-missing", ws=toy_copy.root)
    assert missing.returncode == 2
    assert missing.stderr.strip() == "trainer: error: /nowhere/F.pt: weights file not found"


def test_uncached_tag_without_network_is_one_line_naming_tag_and_cache(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    ws.catalog().create_dataset("shapes-demo", "shape-text", "test")
    hf_home = tmp_path / "hf"  # an empty cache; HF_HUB_OFFLINE unset, so the hub is tried (no route from here)
    env = {k: v for k, v in _env(HF_HOME=str(hf_home)).items() if k not in ("HF_HUB_OFFLINE", "HF_HUB_CACHE")}
    done = trainer("index", "--model", "ViT-B-32", "--pretrained", "laion2b_s34b_b79k", "--dataset", "shapes-demo",
                   ws=ws.root, env=env, timeout=30)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "'laion2b_s34b_b79k' of ViT-B-32" in lines[0]
    assert str(hf_home / "hub") in lines[0]
    assert "--pretrained PATH" in lines[0]
    assert not (ws.runs / "shapes-demo-ViT-B-32-laion2b_s34b_b79k").exists()


def _toy_images(ws: Workspace) -> str:
    """An image-text dataset of coloured squares (one image, three captions an item)."""
    catalog = ws.catalog()
    ds = catalog.create_dataset("toy-images", "image-text", "test", str(ws.root))
    folder = ws.root / "images"
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(24):
        colour = list(COLOURS)[i % len(COLOURS)]
        path = folder / f"{i:03d}.png"
        Image.new("RGB", (32, 32), COLOURS[colour]).save(path)
        split = "train" if i % 6 < 4 else ("val" if i % 6 == 4 else "test")
        records.append(ItemRecord(f"img-{i:03d}", split=split, category=colour, images=[str(path)],
                                  captions=[f"a {colour} picture", f"{colour} square", f"all {colour}"]))
    catalog.add_records(ds.id, records)
    return ds.name


def _text_tower(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if not k.startswith("visual.") and k != "logit_scale"}


def test_lock_text_fine_tuning_keeps_the_text_tower_and_gives_it_no_optimizer_state(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    dataset = _toy_images(ws)
    import engine.models  # noqa: F401 - registers cf-rn-tiny-64 with open_clip

    torch.manual_seed(7)
    start = open_clip.create_model("cf-rn-tiny-64")
    weights = tmp_path / "F.pt"
    torch.save(start.state_dict(), weights)
    done = trainer("train", "--dataset", dataset, "--loss", "mxm", "--model", "cf-rn-tiny-64", "--pretrained",
                   str(weights), "--lock-text", "--max-steps", "3", "--batch-size", "4", "--views-per-item", "1",
                   "--captions-per-item", "2", "--workers", "0", "--warmup", "1", "--lr", "1e-2", "--device", "cpu",
                   "--precision", "fp32", "--val-frequency", "3", "--save-frequency", "3", "--name", "locked",
                   ws=ws.root)
    assert done.returncode == 0, done.stderr
    path = ws.runs / "locked" / "checkpoints" / "step_00000003.pt"
    state = torch.load(path, map_location="cpu", weights_only=True)
    before = start.state_dict()
    text = _text_tower(before)
    assert "token_embedding.weight" in text and "text_projection" in text
    for key, value in text.items():
        torch.testing.assert_close(state["state_dict"][key], value, rtol=0, atol=0, msg=key)
    head = "visual.attnpool.c_proj.weight"
    assert not torch.equal(state["state_dict"][head], before[head])  # the image tower did train

    # the optimizer holds exactly the trainable parameters (not the text tower's), and state only for them
    trainable = [p for k, p in start.named_parameters() if k not in text]
    held = sum(len(g["params"]) for g in state["optimizer"]["param_groups"])
    assert held == len(trainable)  # the mxm loss has no parameters of its own
    state_numel = sum(s["exp_avg"].numel() for s in state["optimizer"]["state"].values())
    assert state_numel == sum(p.numel() for p in trainable)
    assert state_numel < sum(p.numel() for p in start.parameters())

    # the fine-tuned checkpoint is still an open_clip checkpoint
    reopened = open_clip.create_model("cf-rn-tiny-64", pretrained=str(path))
    torch.testing.assert_close(reopened.state_dict()["visual.attnpool.c_proj.weight"],
                               state["state_dict"]["visual.attnpool.c_proj.weight"])
