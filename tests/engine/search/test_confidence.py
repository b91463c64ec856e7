"""Calibrated confidence: measured beside each index of the trained toy run, carried by every text search.

The toy run (80 steps) learns the four colours of its train split; its val and test splits hold black and white
items only (``make_toy_workspace``), colours it never trained on. So its calibration (measured on val captions)
says what the run really knows: a caption of a trained colour ("a small red square") is a confident match on
the shapes target, a caption of a test item ("a big white square") is a confident match on the captions target
(the very words are there), but not on the shapes target (no white shape scores above a typical non-match:
correctly the banner), and random tokens get the banner everywhere.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.index import calibration as calib
from engine.index import registry
from engine.search import Searcher
from engine.workspace import Workspace
from tests.conftest import copy_workspace
from tests.engine.train.conftest import ROOT, child_env

RUN = "toy-gcl"
NONSENSE = "xyzzyplugh qwfp"


UNLIMITED = 10**12  # pairs: bands so narrow that the cautious CDFs are the measured ones


def _calibration(match: np.ndarray, nonmatch: np.ndarray, best: np.ndarray, pairs: int = UNLIMITED,
                 queries: int = UNLIMITED) -> calib.Calibration:
    return calib.Calibration(match=match, nonmatch=nonmatch, best_nonmatch=best, split="val", queries=queries,
                             nonmatch_pairs=pairs, sources={}, match_pairs=pairs)


def test_confidence_is_monotone_bounded_and_capped_below_both_thresholds() -> None:
    levels = np.linspace(0, 1, calib.LEVELS)
    c = _calibration(0.6 + 0.3 * levels, 0.0 + 0.5 * levels, 0.3 + 0.35 * levels)
    scores = np.linspace(-1, 1, 401)
    conf = c.confidence(scores)
    assert conf.min() >= 0.0 and conf.max() <= 1.0
    assert np.all(np.diff(conf) >= -1e-12)
    assert conf[0] == 0.0 and conf[-1] == pytest.approx(1.0)
    assert c.threshold == pytest.approx(0.475)  # the larger: the non-matches' 95th percentile here
    assert c.confidence([0.47])[0] < 0.5 < c.confidence([0.75])[0]
    assert not c.confident(0.47) and c.confident(0.55)
    # many items: the best wrong item of a real caption scores high; a top hit must beat that, not one non-match
    crowded = _calibration(0.6 + 0.3 * levels, 0.0 + 0.5 * levels, 0.6 + 0.3 * levels)
    assert crowded.threshold == pytest.approx(0.615)
    assert not crowded.confident(0.6) and crowded.confident(0.62)
    assert crowded.confidence([0.6])[0] < 0.5
    # a run whose true matches score low: a typical best non-match is still not confident
    inverted = _calibration(-0.2 + 0.5 * levels, 0.0 + 0.9 * levels, 0.2 + 0.5 * levels)
    assert inverted.confidence([0.22])[0] < 0.5 and not inverted.confident(0.22)
    assert calib.band(0.9) == "high" and calib.band(0.6) == "medium" and calib.band(0.2) == "low"
    assert calib.band(None) == "none"


def test_index_run_stores_the_calibration_beside_each_index(trained_toy: Path) -> None:
    ws = Workspace.open(trained_toy)
    cat = ws.catalog()
    run = cat.require_run(RUN)
    for row in registry.rows(cat, run_id=run.id):
        stored = json.loads(calib.path_for(row.path).read_text())
        assert stored["split"] == "val" and stored["queries"] == 24  # 8 val items x 3 captions
        assert len(stored["match"]) == len(stored["nonmatch"]) == calib.LEVELS
        assert stored["match"] == sorted(stored["match"]) and stored["nonmatch"] == sorted(stored["nonmatch"])
        assert stored["sources"]["target"] == row.params["file_sha256"]


def test_random_tokens_are_not_confident_and_a_known_caption_is(trained_toy: Path) -> None:
    searcher = Searcher(Workspace.open(trained_toy), RUN, device="cpu")
    nonsense = searcher.search(text=NONSENSE, target="shapes", k=5)
    assert nonsense.confident is False and nonsense.not_confident
    assert nonsense.banner() == f"no confident match for this query with run {RUN}"
    assert all(h.confidence is not None and h.confidence < 0.5 for h in nonsense.hits)

    red = searcher.search(text="a small red square", target="shapes", k=5)
    assert red.confident is True and red.hits[0].category == "red"
    assert red.hits[0].confidence >= 0.75  # the "high" band
    confidences = [h.confidence for h in red.hits]
    assert confidences == sorted(confidences, reverse=True)  # monotone in the score
    assert red.calibration is not None and red.calibration["split"] == "val"

    test_caption = "a big white square"  # toy-005 (test split)
    captions = searcher.search(text=test_caption, target="captions", k=5)
    assert captions.confident is True and captions.hits[0].split == "test"
    assert test_caption in captions.hits[0].captions
    assert searcher.search(text=NONSENSE, target="captions", k=5).confident is False
    # the run never trained on white: on shapes the test caption is honestly not a confident match
    assert searcher.search(text=test_caption, target="shapes", k=5).confident is False


def test_item_and_image_queries_are_calibrated_on_categories_and_fused_ones_say_they_are_not(
        trained_toy: Path) -> None:
    searcher = Searcher(Workspace.open(trained_toy), RUN, device="cpu")
    item = searcher.search(item_key="toy-002", target="shapes", k=3)  # a train item (blue) as the query
    assert item.query_kind == "item" and item.calibrated and item.not_calibrated is None
    # the run trained on toy-shapes: only its val and test items are queries (16, two colours), each matching the
    # 7 other items of its colour among the 48, and not matching the 40 others
    assert item.calibration["source"] == calib.SHAPE_QUERIES and item.calibration["split"] == "val+test"
    assert (item.calibration["queries"], item.calibration["match_pairs"], item.calibration["nonmatch_pairs"]) == (
        16, 16 * 7, 16 * 40)
    confidences = [h.confidence for h in item.hits]
    assert all(c is not None and 0.0 <= c < 1.0 for c in confidences) and confidences == sorted(confidences)[::-1]
    assert item.hits[0].category == "blue" and isinstance(item.confident, bool)

    ws = Workspace.open(trained_toy)
    cat = ws.catalog()
    view = next(o.path for o in cat.item_by_key(cat.require_dataset("toy-shapes").id, "toy-002").observations
                if o.modality == "view")
    image = searcher.search(image=view, target="shapes", k=3)
    assert image.query_kind == "image" and image.calibration["source"] == calib.PICTURE_QUERIES
    assert all(h.confidence is not None for h in image.hits)

    fused = searcher.search(item_key="toy-002", text="a small red square", target="shapes", k=3)
    assert fused.query_kind == "fused" and not fused.calibrated and fused.confident is None
    assert fused.not_calibrated.startswith("a picture with text (a fused query) is not calibrated")
    assert all(h.confidence is None for h in fused.hits)
    assert fused.as_dict()["calibrated"] is False and fused.not_calibrated_line().startswith(
        f"run {RUN} is not calibrated for fused queries on dataset toy-shapes")


def test_an_index_without_calibration_is_measured_on_first_search(trained_toy: Path, tmp_path: Path) -> None:
    ws = copy_workspace(trained_toy, tmp_path / "ws")
    cat = ws.catalog()
    row = next(r for r in registry.rows(cat, run_id=cat.require_run(RUN).id) if r.modality == "shape")
    stored = calib.path_for(row.path)
    expected = json.loads(stored.read_text())
    stored.unlink()
    result = Searcher(ws, RUN, device="cpu").search(text=NONSENSE, target="shapes", k=3)
    assert result.confident is False
    assert json.loads(stored.read_text()) == expected  # measured again, stored again, same numbers
    assert not list(stored.parent.glob(".*.tmp"))


def test_cli_search_carries_confidence_and_prints_the_banner(trained_toy: Path) -> None:
    base = [sys.executable, "-m", "trainer", "search", "--workspace", str(trained_toy), "--target", "shapes",
            "--k", "3", "--text"]
    done = subprocess.run([*base, NONSENSE, "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=child_env())
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads(done.stdout)
    assert data["confident"] is False
    assert all(0.0 <= h["confidence"] < 0.5 for h in data["hits"])
    done = subprocess.run([*base, NONSENSE], cwd=ROOT, capture_output=True, text=True, timeout=300, env=child_env())
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"no confident match for this query with run {RUN}" in done.stdout
    done = subprocess.run([*base, "a small red square"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=child_env())
    assert done.returncode == 0 and "no confident match" not in done.stdout
    assert "confident)" in done.stdout
