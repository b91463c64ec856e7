"""text2shape importer: rows grouped per modelId, meshes in ShapeNet or flat layout, pre-rendered views."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import trimesh
from PIL import Image

from engine.data.importers import ImportFailed, run_import
from engine.workspace import Workspace

HEADER = ["id", "modelId", "description", "category", "topLevelSynsetId", "subSynsetId"]
CHAIR, TABLE = "03001627", "04379243"


def _ws(tmp_path: Path) -> tuple[Workspace, object]:
    ws = Workspace.open(tmp_path / "ws")
    return ws, ws.catalog()


def _csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


def _mesh(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    trimesh.creation.box().export(path)
    return path


def _views(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"view_{i}.png" for i in range(n)]
    for i, p in enumerate(paths):
        Image.new("RGB", (8, 8), (i * 20, 0, 0)).save(p)
    return paths


def test_round_trip_shapenet_flat_and_views(tmp_path: Path) -> None:
    tmp_path = tmp_path.resolve()
    meshes = tmp_path / "shapenet"
    _mesh(meshes / CHAIR / "c1" / "models" / "model_normalized.obj")
    _mesh(meshes / "t1.ply")
    views = _views(meshes / "t2", 11)
    source = _csv(tmp_path / "captions.tablechair.csv", [
        ["1", "c1", "A wooden chair, with four legs.", "Chair", CHAIR, "03001627,02738535"],
        ["2", "c1", "brown chair\r\nwith a tall \"back\"", "Chair", CHAIR, ""],  # kept: the break is a space
        ["2b", "c1", "brown chair with a tall \"back\"", "Chair", CHAIR, ""],  # the same caption: not twice
        ["3", "t1", "A round table.", "Table", TABLE, ""],
        ["4", "t2", "A glass table.", "Table", TABLE, ""],
        ["5", "c1", "A chair.", "Chair", CHAIR, ""],
        ["6", "t2", "Table with metal legs.", "Table", TABLE, ""],
        ["7", "gone", "A chair nobody has.", "Chair", CHAIR, ""],
    ])
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "text2shape", source, "t2s", meshes_root=meshes)

    problems = [(p.where, p.reason) for p in report.problems]
    assert problems == [("key gone", f"no mesh or views under {meshes}")]
    assert report.records_read == 8
    summary = catalog.summary("t2s")
    assert summary.kind == "shape-text"
    assert summary.items == 3
    assert summary.by_modality == {"text": 6, "view": 11}
    ds = catalog.require_dataset("t2s")
    assert catalog.categories(ds.id) == ["chair", "table"]

    c1 = catalog.item_by_key(ds.id, "c1")
    assert c1 is not None and c1.category == "chair"
    assert c1.asset_path == str(meshes / CHAIR / "c1" / "models" / "model_normalized.obj")
    assert 'brown chair with a tall "back"' in [o.text for o in c1.observations]
    assert c1.meta["synset"] == CHAIR
    t1 = catalog.item_by_key(ds.id, "t1")
    assert t1 is not None and t1.asset_path == str(meshes / "t1.ply")
    t2 = catalog.item_by_key(ds.id, "t2")
    assert t2 is not None and t2.asset_path == ""
    got = [(o.view_index, o.path) for o in t2.observations if o.modality == "view"]
    assert got == [(i, str(p)) for i, p in enumerate(views)]  # natural order: view_2 before view_10

    again = run_import(catalog, ws, "text2shape", source, "t2s", meshes_root=meshes)
    assert (again.items_added, again.observations_added) == (0, 0)


def test_corrupt_view_dropped_and_escaping_model_id_rejected(tmp_path: Path) -> None:
    meshes = tmp_path / "meshes"
    views = _views(meshes / "v1", 3)
    views[1].write_bytes(b"not an image")
    _mesh(tmp_path / "evil.obj")
    source = _csv(tmp_path / "captions.csv", [
        ["1", "v1", "A chair.", "Chair", CHAIR, ""],
        ["2", "../evil", "Outside the root.", "Chair", CHAIR, ""],
        ["3", "v1", "", "Chair", CHAIR, ""],
    ])
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "text2shape", source, "t", meshes_root=meshes)
    where = [p.where for p in report.problems]
    assert where == ["line 4", "key v1", "key ../evil"]
    assert "view dropped" in report.problems[1].reason
    assert "outside" in report.problems[2].reason
    assert catalog.summary("t").by_modality == {"text": 1, "view": 2}


def test_not_a_text2shape_csv_fails(tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    other.write_text("filepath,title\na.png,hello\n", encoding="utf-8")
    ws, catalog = _ws(tmp_path)
    with pytest.raises(ImportFailed, match=r"other\.csv: not a Text2Shape captions CSV.*'modelId'"):
        run_import(catalog, ws, "text2shape", other, "t", meshes_root=tmp_path)
