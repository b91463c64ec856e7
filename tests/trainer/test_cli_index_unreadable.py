"""``trainer index`` with an image file that became unreadable after the import: reported and skipped, the rest
indexed, exit 0; the next ``trainer index`` tries it again."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

from engine.models.checkpoint_io import save_weights
from engine.models.factory import build_encoder
from tests.cli_runner import run_trainer

ROOT = Path(__file__).resolve().parents[2]


def _trainer(*args: str, ws: Path) -> subprocess.CompletedProcess[str]:
    return run_trainer(*args, ws=ws)


def test_an_unreadable_image_is_skipped_and_the_rest_indexed(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(4):
        pixels = (np.random.default_rng(i).random((120, 160, 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(photos / f"p{i}.jpg")
        (photos / f"p{i}.txt").write_text(f"photo number {i}\n")
    weights = tmp_path / "w.pt"
    save_weights(build_encoder("cf-rn-tiny-64")[0], weights)
    ws = tmp_path / "ws"
    assert _trainer("import", "folder", str(photos), "--name", "photos", ws=ws).returncode == 0
    bad = photos / "p2.jpg"
    bad.write_bytes(bad.read_bytes()[:200])  # damaged after the import

    done = _trainer("index", "--model", "cf-rn-tiny-64", "--pretrained", str(weights), "--dataset", "photos",
                    "--name", "zs", ws=ws)
    assert done.returncode == 0, done.stderr
    assert f"skipped: {bad}: cannot read the image" in done.stderr and "Traceback" not in done.stderr
    assert "1 unreadable image files skipped" in done.stdout

    Image.fromarray(np.zeros((120, 160, 3), np.uint8)).save(bad)  # mended: the next index adds it
    again = _trainer("index", "--run", "zs", "--dataset", "photos", "--json", ws=ws)
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["skipped"] == []
    assert report["modalities"]["image"]["count"] == 4 and report["modalities"]["image"]["added"] == 1
    assert report["modalities"]["text"]["action"] == "up-to-date"
