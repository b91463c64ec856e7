"""karpathy importer: the source's splits kept (restval -> train), filepath/filename keys and paths."""

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


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (10, 200, 10)).save(path)


def _sentences(*texts: str) -> list[dict[str, object]]:
    return [{"raw": t, "tokens": t.lower().split(), "sentid": i} for i, t in enumerate(texts)]


def test_flickr30k_round_trip_keeps_source_splits(tmp_path: Path) -> None:
    root = tmp_path / "flickr30k-images"
    for name in ("1.jpg", "2.jpg", "3.jpg", "4.jpg"):
        _png(root / name)
    source = tmp_path / "dataset_flickr30k.json"
    source.write_text(json.dumps({"dataset": "flickr30k", "images": [
        {"filename": "1.jpg", "imgid": 0, "split": "train", "sentences": _sentences("a", "b", "c")},
        {"filename": "2.jpg", "imgid": 1, "split": "val", "sentences": _sentences("d", "e")},
        {"filename": "3.jpg", "imgid": 2, "split": "test", "sentences": _sentences("f", " ")},
        {"filename": "4.jpg", "imgid": 3, "split": "restval", "sentences": [{"tokens": ["g", "h"]}]},
        {"filename": "missing.jpg", "imgid": 4, "split": "train", "sentences": _sentences("i")},
        {"nofilename": True},
    ]}), encoding="utf-8")
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "karpathy", source, "f30k", images_root=root)
    assert [p.where for p in report.problems] == ["key 3.jpg", "images[5]", "key missing.jpg"]
    summary = catalog.summary("f30k")
    assert summary.items == 4
    assert summary.by_modality == {"text": 7, "image": 4}
    assert summary.by_split == {"train": 2, "val": 1, "test": 1}
    ds = catalog.require_dataset("f30k")
    four = catalog.item_by_key(ds.id, "4.jpg")
    assert four is not None and four.split == "train" and four.meta == {"imgid": 3}
    assert [o.text for o in four.observations if o.modality == "text"] == ["g h"]

    again = run_import(catalog, ws, "karpathy", source, "f30k", images_root=root)
    assert (again.items_added, again.observations_added) == (0, 0)


def test_coco_filepath_keys_and_flat_image_folder(tmp_path: Path) -> None:
    root = tmp_path / "coco"
    _png(root / "val2014" / "COCO_val2014_1.jpg")
    _png(root / "COCO_train2014_2.jpg")  # images kept flat: root/filename is found too
    source = tmp_path / "dataset_coco.json"
    source.write_text(json.dumps({"images": [
        {"filepath": "val2014", "filename": "COCO_val2014_1.jpg", "cocoid": 1, "split": "test",
         "sentences": _sentences("x", "y")},
        {"filepath": "train2014", "filename": "COCO_train2014_2.jpg", "cocoid": 2, "split": "restval",
         "sentences": _sentences("z")},
    ]}), encoding="utf-8")
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "karpathy", source, "coco", images_root=root)
    assert not report.problems
    ds = catalog.require_dataset("coco")
    assert sorted(i.key for i in catalog.items(ds.id)) == [
        "train2014/COCO_train2014_2.jpg", "val2014/COCO_val2014_1.jpg"]
    item = catalog.item_by_key(ds.id, "train2014/COCO_train2014_2.jpg")
    assert item is not None and item.split == "train"
    assert [o.path for o in item.observations if o.modality == "image"] == [
        str((root / "COCO_train2014_2.jpg").resolve())]


@pytest.mark.parametrize("content, match", [
    ("[1, 2]", "no \"images\" list"),
    ("{\"images\": 3}", "no \"images\" list"),
    ("{\"images\": [{\"id\": 1, \"file_name\": \"a.jpg\"}], \"annotations\": []}", "format coco"),
    ("{not json", "invalid JSON at line 1"),
])
def test_wrong_shape_fails_naming_the_file(tmp_path: Path, content: str, match: str) -> None:
    source = tmp_path / "dataset_x.json"
    source.write_text(content, encoding="utf-8")
    ws, catalog = _ws(tmp_path)
    with pytest.raises(ImportFailed, match="dataset_x.json: not a Karpathy split JSON") as err:
        run_import(catalog, ws, "karpathy", source, "k")
    assert match in str(err.value)
    assert "\n" not in str(err.value)
