"""How much evidence a calibration needs, and what it says when it has too little (a real SQLite catalogue; the
measurements themselves, on a real run and real indexes, are in ``tests/trainer/test_cli_search_uncalibrated.py``
and ``tests/engine/search/test_confidence.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine.catalog import ItemRecord
from engine.index import calibration as calib
from engine.workspace import Workspace

TEMPLATES = 5  # the photo prompt ensemble of engine/evaluate/categories.py


def _dataset(root: Path, categories: list[str]) -> tuple[object, int]:
    cat = Workspace.open(root / "ws").catalog()
    ds = cat.create_dataset("photos", "image-text", "test", str(root))
    cat.add_records(ds.id, [ItemRecord(f"p{i}", category=c, images=[str(root / f"p{i}.png")])
                            for i, c in enumerate(categories)])
    return cat, ds.id


def test_category_prompts_need_two_categories_and_enough_pairs(tmp_path: Path) -> None:
    cat, ds = _dataset(tmp_path / "none", ["", "", ""])
    assert calib.category_evidence(cat, ds, TEMPLATES) == ({}, "no categories")
    cat, ds = _dataset(tmp_path / "one", ["chair", "chair", ""])
    assert calib.category_evidence(cat, ds, TEMPLATES)[1] == "one category ('chair'): prompts need at least 2"
    cat, ds = _dataset(tmp_path / "small", ["chair", "table", ""])  # 10 prompts, 10 matching, 10 non-matching
    labelled, why = calib.category_evidence(cat, ds, TEMPLATES)
    assert sorted(labelled.values()) == ["chair", "table"]  # the item without a category is left out
    assert why == "categories too small: 10 non-matching pairs (100 needed)"
    cat, ds = _dataset(tmp_path / "enough", ["chair"] * 5 + ["table"] * 5)  # 5 x 2 x 5 x 5 = 250 non-matching
    assert calib.category_evidence(cat, ds, TEMPLATES)[1] is None


def test_a_calibration_on_too_little_evidence_says_what_is_short() -> None:
    levels = np.linspace(0, 1, calib.LEVELS)
    thin = calib.Calibration(levels, levels, levels, "val", queries=6, nonmatch_pairs=114, sources={}, match_pairs=6)
    assert thin.shortfall() == "only 6 queries (8 needed), 6 matching pairs (8 needed)"
    enough = calib.Calibration(levels, levels, levels, "all", queries=15, nonmatch_pairs=180, sources={},
                               source=calib.CATEGORY_PROMPTS, match_pairs=90)
    assert enough.shortfall() is None
    assert enough.summary() == {"source": "category prompts", "split": "all", "queries": 15, "match_pairs": 90,
                                "nonmatch_pairs": 180, "threshold": round(enough.threshold, 4)}


def test_a_stored_file_of_the_caption_only_writer_reads_as_captions(tmp_path: Path) -> None:
    levels = [round(float(x), 6) for x in np.linspace(0, 1, calib.LEVELS)]
    index = tmp_path / "run-ds-shape.hnsw"
    calib.path_for(index).write_text(json.dumps({
        "version": calib.VERSION, "split": "val", "queries": 24, "nonmatch_pairs": 500, "sources": {"target": "a"},
        "match": levels, "nonmatch": levels, "best_nonmatch": levels}))
    stored = calib.load(index)
    assert stored is not None and stored.source == calib.CAPTIONS and stored.queries == 24
    assert stored.match_pairs == 0 and stored.shortfall() == "only 0 matching pairs (8 needed)"
