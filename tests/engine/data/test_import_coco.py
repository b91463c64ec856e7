"""coco importer: captions grouped by image_id; bad annotations reported by index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from engine.data.importers import ImportFailed, run_import
from engine.workspace import Workspace


def _ws(tmp_path: Path) -> tuple[Workspace, object]:
    ws = Workspace.open(tmp_path / "ws")
    return ws, ws.catalog()


def test_round_trip_and_bad_annotations(tmp_path: Path) -> None:
    root = tmp_path / "train2017"
    root.mkdir()
    for name in ("000001.jpg", "000002.jpg"):
        Image.new("RGB", (8, 8), (1, 2, 3)).save(root / name, format="JPEG")
    source = tmp_path / "captions_train2017.json"
    source.write_text(json.dumps({
        "info": {}, "licenses": [],
        "images": [{"id": 1, "file_name": "000001.jpg"}, {"id": 2, "file_name": "000002.jpg"},
                   {"id": 3, "file_name": "000003.jpg"}, {"id": 4}],
        "annotations": [
            {"id": 10, "image_id": 1, "caption": "A man riding a horse."},
            {"id": 11, "image_id": 1, "caption": "A person on a horse.\n"},
            {"id": 12, "image_id": 2, "caption": "A plate of food."},
            {"id": 13, "image_id": 99, "caption": "Nobody's image."},
            {"id": 14, "image_id": 2, "caption": ""},
            {"id": 15, "image_id": 3, "caption": "Its image is missing."},
        ],
    }), encoding="utf-8")
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "coco", source, "coco", images_root=root)
    assert [p.where for p in report.problems] == [
        "images[3]", "annotations[3]", "annotations[4]", "key 000003.jpg"]
    assert report.records_read == 6
    summary = catalog.summary("coco")
    assert (summary.items, summary.by_modality) == (2, {"text": 3, "image": 2})
    ds = catalog.require_dataset("coco")
    item = catalog.item_by_key(ds.id, "000001.jpg")
    assert item is not None and item.meta == {"coco_id": 1}

    again = run_import(catalog, ws, "coco", source, "coco", images_root=root)
    assert (again.items_added, again.observations_added) == (0, 0)


def test_karpathy_file_given_as_coco_fails_with_a_hint(tmp_path: Path) -> None:
    source = tmp_path / "dataset_coco.json"
    source.write_text(json.dumps({"images": [{"filename": "a.jpg", "sentences": []}]}), encoding="utf-8")
    ws, catalog = _ws(tmp_path)
    with pytest.raises(ImportFailed, match=r"dataset_coco\.json: not a COCO captions JSON.*format karpathy"):
        run_import(catalog, ws, "coco", source, "c")
