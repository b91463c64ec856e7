"""Calibration of a folder without captions, as a user gets it (real PNGs, ``trainer import folder``, a zero-shot
run from a saved ``state_dict``, ``trainer index`` and ``trainer search`` through ``trainer.cli.main``).

Sorted into category folders, the photos are calibrated on the category prompts (the default templates of
``engine/evaluate/categories.py``): the index report and the stored calibration say so and on how much evidence,
their quantiles equal an independent computation with open_clip, and text searches carry confidences. The same
photos in one flat folder (no captions, no categories) are not calibrated: ``"calibrated": false`` with the reason,
``"confidence": null`` on every hit, the text output says so, and nothing is stored beside the index.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from engine.index import calibration as calib
from engine.index import registry
from engine.workspace import Workspace
from tests.cli_runner import run_trainer

ROOT = Path(__file__).resolve().parents[2]
MODEL = "cf-rn-tiny-64"
COLOURS = {"beach": (230, 190, 90), "forest": (40, 140, 60), "city": (110, 110, 160)}
PER_CATEGORY = 6
LABELLED, FLAT = "labelled", "flat"  # the datasets, and their zero-shot runs "zs-labelled", "zs-flat"


def trainer(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_trainer(*args, ws=ws)


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def photos(folder: Path, categories: bool) -> Path:
    """``PER_CATEGORY`` photos of each colour ground (a white disc moving along), in a sub-folder per category or all
    in ``folder`` itself; no caption files."""
    for i in range(PER_CATEGORY * len(COLOURS)):
        name = list(COLOURS)[i % len(COLOURS)]
        path = (folder / name if categories else folder) / f"IMG_{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        picture = Image.new("RGB", (64, 48), COLOURS[name])
        ImageDraw.Draw(picture).ellipse((2 + i, 10, 22 + i, 30), fill=(250, 250, 250))
        picture.save(path)
    return folder


def weights(path: Path) -> Path:
    """A bare ``state_dict`` of the small config (seeded initialisation), as a user's exported weights."""
    import open_clip
    import torch

    import engine.models.configs  # noqa: F401  (registers our small configs with open_clip)

    torch.manual_seed(0)
    torch.save(open_clip.create_model(MODEL).state_dict(), path)
    return path


def uncaptioned_runs(root: Path, datasets: tuple[str, ...] = (LABELLED, FLAT)) -> tuple[Workspace, dict[str, dict]]:
    """A workspace with the photos imported as ``datasets`` and a zero-shot run ``zs-<dataset>`` indexing each;
    the ``trainer index --json`` report of each."""
    ws = root / "ws"
    state = weights(root / "weights.pt")
    reports = {}
    for name in datasets:
        folder = photos(root / name, categories=name == LABELLED)
        out = _ok(trainer(ws, "import", "folder", str(folder), "--name", name))
        assert f"{PER_CATEGORY * len(COLOURS)} new items (0 with captions)" in out
        reports[name] = json.loads(_ok(trainer(ws, "index", "--model", MODEL, "--pretrained", str(state), "--dataset",
                                               name, "--name", f"zs-{name}", "--device", "cpu", "--exact",
                                               "--json")))  # exact: compared below with open_clip's own fp32
    return Workspace.open(ws), reports


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, dict[str, dict]]:
    return uncaptioned_runs(tmp_path_factory.mktemp("uncalibrated"))


def _search(ws: Workspace, run: str, text: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return trainer(ws.root, "search", "--run", run, "--target", "images", "--text", text, "--k", "6",
                   "--device", "cpu", *extra)


def _image_row(ws: Workspace, dataset: str) -> Any:  # a catalogue row of the indexes table
    cat = ws.catalog()
    return registry.find(cat, cat.require_run(f"zs-{dataset}").id, cat.require_dataset(dataset).id, "image")


def test_category_prompts_calibrate_a_folder_without_captions(built: tuple[Workspace, dict[str, dict]]) -> None:
    ws, reports = built
    n_items, n_categories, n_templates = PER_CATEGORY * len(COLOURS), len(COLOURS), 5  # photos: 5 templates
    entry = reports[LABELLED]["modalities"]["image"]["calibration"]
    assert entry["source"] == calib.CATEGORY_PROMPTS
    assert (entry["queries"], entry["match_pairs"], entry["nonmatch_pairs"]) == (
        n_categories * n_templates, n_templates * n_items, n_templates * n_items * (n_categories - 1))
    assert reports[LABELLED]["modalities"]["text"]["calibration"] == {"not_calibrated": "no captions"}

    row = _image_row(ws, LABELLED)
    stored = json.loads(calib.path_for(row.path).read_text())
    assert stored["source"] == "category prompts" and stored["queries"] == 15 and stored["match_pairs"] == 90
    assert stored["sources"]["target"] == row.params["file_sha256"] and stored["sources"]["prompts"]

    # the same distributions computed here, independently: open_clip's own text tower on the prompts written out,
    # the photos' vectors as the index holds them, matches = the photos of the prompt's category
    import open_clip
    import torch

    import engine.models.configs  # noqa: F401

    model = open_clip.create_model(MODEL, pretrained=str(ws.runs / f"zs-{LABELLED}" / "checkpoints" / "best.pt"))
    model.eval()
    tokenizer = open_clip.get_tokenizer(MODEL)
    templates = ["a photo of a {}.", "a photo of the {}.", "a close-up photo of a {}.", "a cropped photo of a {}.",
                 "a good photo of a {}."]
    names = sorted(COLOURS)
    with torch.no_grad():
        text = model.encode_text(tokenizer([t.format(c) for c in names for t in templates]), normalize=True).numpy()
    cat = ws.catalog()
    ds = cat.require_dataset(LABELLED)
    index = registry.open_index(cat, cat.require_run(f"zs-{LABELLED}").id, ds.id, "image", row.checkpoint_sha256)
    observations = cat.observations(ds.id, "image")
    vectors = index.vectors(np.array([o[0] for o in observations], dtype=np.int64))
    category = {i: c for c in names for i in cat.item_ids(ds.id, category=c)}
    scores = text @ vectors.T
    own = np.array([[category[o[1]] == c for o in observations] for c in names for _ in templates])
    levels = np.linspace(0, 1, calib.LEVELS)
    np.testing.assert_allclose(stored["match"], np.quantile(scores[own], levels), atol=2e-4)
    np.testing.assert_allclose(stored["nonmatch"], np.quantile(scores[~own], levels), atol=2e-4)
    best_wrong = np.where(own, -np.inf, scores).max(axis=1)
    np.testing.assert_allclose(stored["best_nonmatch"], np.quantile(best_wrong, levels), atol=2e-4)


def test_text_search_on_the_labelled_folder_carries_confidences(built: tuple[Workspace, dict[str, dict]]) -> None:
    ws, _ = built
    out = json.loads(_ok(_search(ws, f"zs-{LABELLED}", "a photo of a forest", "--json")))
    assert out["calibrated"] is True and out["not_calibrated"] is None
    assert out["calibration"]["source"] == "category prompts" and out["calibration"]["queries"] == 15
    confidences = [h["confidence"] for h in out["hits"]]
    assert len(confidences) == 6 and all(isinstance(c, float) and 0.0 <= c <= 1.0 for c in confidences)
    assert confidences == sorted(confidences, reverse=True)  # monotone in the score
    assert isinstance(out["confident"], bool)
    text = _ok(_search(ws, f"zs-{LABELLED}", "a photo of a forest"))
    assert "confident)" in text and "not calibrated" not in text


def test_the_same_photos_without_categories_are_not_calibrated(built: tuple[Workspace, dict[str, dict]]) -> None:
    ws, reports = built
    assert reports[FLAT]["modalities"]["image"]["calibration"] == {
        "not_calibrated": "no captions and no categories"}
    assert not calib.path_for(_image_row(ws, FLAT).path).exists()  # nothing stored that could be taken for one

    out = json.loads(_ok(_search(ws, f"zs-{FLAT}", "a photo of a forest", "--json")))
    assert out["calibrated"] is False and out["not_calibrated"] == "no captions and no categories"
    assert out["confident"] is None and out["calibration"] is None
    assert len(out["hits"]) == 6 and all(h["confidence"] is None for h in out["hits"])

    text = _ok(_search(ws, f"zs-{FLAT}", "a photo of a forest"))
    lines = text.splitlines()
    assert lines[1] == (f"run zs-{FLAT} is not calibrated for dataset {FLAT}: no captions and no categories; "
                        "scores are raw, no confidence")
    assert "confident" not in text and len(lines) == 2 + 6
