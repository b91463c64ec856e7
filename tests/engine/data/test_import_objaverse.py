"""objaverse importer: real GLBs (trimesh) in Objaverse 1.0's ``glbs/<shard>/<uid>.glb`` layout, Cap3D's headerless
``uid,caption`` CSV, the LVIS ``{category: [uid, ...]}`` JSON, and what it must skip."""

from __future__ import annotations

import csv
import gzip
import json
import os
from pathlib import Path

import pytest
import trimesh

from engine.catalog.repository import Catalog
from engine.data.importers import ImportFailed, ImportReport, run_import
from engine.data.splits import split_for_key
from engine.workspace import Workspace

UIDS = {"000-000": ["8476c4170df24cf5bbe6967222d1a42d", "a2"], "000-001": ["b1", "b2"]}


def _ws(tmp_path: Path) -> tuple[Workspace, Catalog]:
    ws = Workspace.open(tmp_path / "ws")
    return ws, ws.catalog()


def _glb(path: Path, extents: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    trimesh.creation.box(extents=extents).export(path)  # a real GLB 2 file
    return path


def _objaverse(root: Path, uids: dict[str, list[str]] = UIDS) -> Path:
    for shard, names in uids.items():
        for uid in names:
            _glb(root / "glbs" / shard / f"{uid}.glb")
    return root


def _cap3d(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)  # no header row, as Cap3D ships it
    return path


def _lvis(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _where(report: ImportReport) -> list[tuple[str, str]]:
    return [(Path(p.file).name, p.where) for p in report.problems]


def test_glbs_captions_and_categories_round_trip(tmp_path: Path) -> None:
    tmp_path = tmp_path.resolve()
    root = _objaverse(tmp_path / "hf-objaverse-v1")
    (root / "glbs" / "000-001" / "c9.glb.tmp").write_bytes(b"half a download")  # ignored, not an item
    first = "8476c4170df24cf5bbe6967222d1a42d"
    captions = _cap3d(tmp_path / "Cap3D_automated_Objaverse.csv", [
        [first, "A wooden chair, with four legs."],  # a quoted comma
        ["a2", "A red\nmug"],  # a quoted line break: one line
        ["a2", "A red mug"],  # the same caption again: kept once
        ["b1", "A lamp."],
        ["f" * 32, "An object that is not in this download."],
        ["e" * 32, "Another one."],
    ])
    lvis = _lvis(tmp_path / "lvis-annotations.json", {
        "chair": [first, "d" * 32],
        "mug": ["a2"],
        "cup": ["a2", "b2"],  # a2 again: the first category (mug) is kept, the conflict counted
        "lamp": ["b1"],
    })
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "objaverse", root, "obja", captions=captions, lvis=lvis)

    assert report.problems == []
    assert report.records_read == 4 and report.items_added == 4 and report.captioned_items_added == 3
    assert report.notes == [
        "Cap3D_automated_Objaverse.csv: captions for 3 of the 4 GLBs; 2 rows for uids not under the folder "
        "(not imported)",
        "lvis-annotations.json: categories for 4 of the 4 GLBs (1 in several categories: the first listed kept); "
        "1 listed uid not under the folder",
    ]
    ds = catalog.require_dataset("obja")
    assert ds.kind == "shape-text" and ds.meta["up_axis"] == "y"  # Objaverse's GLBs are Y-up
    assert catalog.categories(ds.id) == ["chair", "cup", "lamp", "mug"]
    item = catalog.item_by_key(ds.id, first)
    assert item is not None and item.category == "chair" and item.split == split_for_key(first)
    assert item.asset_path == str(root / "glbs" / "000-000" / f"{first}.glb")
    assert [o.text for o in item.observations if o.modality == "text"] == ["A wooden chair, with four legs."]
    mug = catalog.item_by_key(ds.id, "a2")
    assert mug is not None and mug.category == "mug"
    assert [o.text for o in mug.observations if o.modality == "text"] == ["A red mug"]
    b2 = catalog.item_by_key(ds.id, "b2")
    assert b2 is not None and b2.category == "cup" and not [o for o in b2.observations if o.modality == "text"]
    assert catalog.summary("obja").by_modality == {"text": 3}

    again = run_import(catalog, ws, "objaverse", root, "obja", captions=captions, lvis=lvis)
    assert again.items_added == 0 and again.observations_added == 0 and again.problems == []


def test_without_captions_or_categories_every_glb_is_an_item(tmp_path: Path) -> None:
    root = _objaverse(tmp_path / "hf-objaverse-v1")
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "objaverse", root / "glbs", "bare")  # the glbs folder itself
    assert report.items_added == 4 and report.captioned_items_added == 0 and report.notes == []
    ds = catalog.require_dataset("bare")
    assert catalog.categories(ds.id) == []  # no LVIS file: no categories
    assert catalog.summary("bare").items == 4


def test_an_empty_download_says_so(tmp_path: Path) -> None:
    root = tmp_path / "obj"
    (root / "glbs" / "000-000").mkdir(parents=True)
    (root / "glbs" / "000-000" / "u1.glb.tmp").write_bytes(b"an interrupted download")
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "objaverse", root, "empty")
    assert [(p.where, p.reason) for p in report.problems] == [
        ("folder", f"no <uid>.glb files in {(root / 'glbs').resolve()} or its shard folders")]
    assert report.items_added == 0


def test_garbage_empty_truncated_and_missing_glbs_are_reported_and_skipped(tmp_path: Path) -> None:
    tmp_path = tmp_path.resolve()
    root = _objaverse(tmp_path / "obj")
    shard = root / "glbs" / "000-002"
    shard.mkdir()
    (shard / "garbage.glb").write_bytes(os.urandom(300))
    (shard / "empty.glb").write_bytes(b"")
    whole = _glb(tmp_path / "whole.glb").read_bytes()
    (shard / "cut.glb").write_bytes(whole[: len(whole) // 2])
    (shard / "gone.glb").symlink_to(shard / "nowhere.glb")  # a dangling link inside the root
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "objaverse", root, "faulty", captions=_cap3d(tmp_path / "c.csv", [
        ["garbage", "A caption whose GLB is garbage."], ["b1", "A lamp."]]))

    reasons = {p.where: p.reason for p in report.problems}
    assert set(reasons) == {"key garbage", "key empty", "key cut", "key gone"}
    assert reasons["key garbage"].startswith("not a GLB file (no glTF header)")
    assert reasons["key empty"].startswith("empty mesh file")
    assert reasons["key cut"].startswith(f"damaged GLB (its header says {len(whole):,} bytes, the file has "
                                         f"{len(whole) // 2:,}")
    assert reasons["key gone"].startswith("mesh not found")
    assert all(p.file == str(root) for p in report.problems)
    assert report.items_added == 4 and report.captioned_items_added == 1
    ds = catalog.require_dataset("faulty")
    assert catalog.item_by_key(ds.id, "garbage") is None


def test_a_glb_or_shard_symlinked_out_of_the_root_is_skipped(tmp_path: Path) -> None:
    tmp_path = tmp_path.resolve()
    outside = tmp_path / "outside"
    secret = _glb(outside / "secret.glb")
    _glb(outside / "shard" / "s1.glb")
    root = _objaverse(tmp_path / "obj")
    (root / "glbs" / "000-000" / "evil.glb").symlink_to(secret)
    (root / "glbs" / "000-009").symlink_to(outside / "shard", target_is_directory=True)
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "objaverse", root, "linked")

    assert _where(report) == [("obj", "folder glbs/000-009"), ("obj", "key evil")]
    assert "outside the import root" in report.problems[0].reason
    assert "outside the import root" in report.problems[1].reason
    assert report.items_added == 4
    ds = catalog.require_dataset("linked")
    assert all(catalog.item_by_key(ds.id, k) is None for k in ("evil", "s1"))

    allowed = run_import(catalog, ws, "objaverse", root, "allowed", allow_outside=[outside])
    assert allowed.problems == [] and allowed.items_added == 6
    s1 = catalog.item_by_key(catalog.require_dataset("allowed").id, "s1")
    assert s1 is not None and s1.asset_path == str(outside / "shard" / "s1.glb")


def test_a_uid_in_two_shards_and_a_second_name_for_one_file(tmp_path: Path) -> None:
    tmp_path = tmp_path.resolve()
    root = _objaverse(tmp_path / "obj")
    _glb(root / "glbs" / "000-003" / "b1.glb")  # b1 is in 000-001 too
    (root / "glbs" / "000-003" / "alias.glb").symlink_to(root / "glbs" / "000-000" / "a2.glb")
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "objaverse", root, "twice")
    reasons = {p.where: p.reason for p in report.problems}
    assert reasons["key b1"].startswith(f"{root / 'glbs' / '000-003' / 'b1.glb'}: the same uid as ")
    assert reasons["key alias"].startswith("duplicate file")
    assert report.items_added == 4
    b1 = catalog.item_by_key(catalog.require_dataset("twice").id, "b1")
    assert b1 is not None and b1.asset_path == str(root / "glbs" / "000-001" / "b1.glb")


def test_bad_caption_rows_are_reported_with_their_line_and_the_rest_kept(tmp_path: Path) -> None:
    root = _objaverse(tmp_path / "obj")
    path = tmp_path / "cap3d.csv"
    path.write_bytes(
        b"uid,caption\n"  # a header row some copies have: skipped, not reported
        b"a2,A red mug.\n"
        b"b1,\xff\xfe not UTF-8\n"
        b"b1,one,two\n"
        b",A caption without a uid.\n"
        b"b2\n"
        + b"b2," + b"long " * 600 + b"\n"
        b'b2,"Never closed\n'
        b"b2,A plant.\n"
    )
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "objaverse", root, "caps", captions=path)
    assert [p.where for p in report.problems] == [f"line {n}" for n in (3, 4, 5, 6, 7, 8)]
    reasons = [p.reason for p in report.problems]
    assert reasons[0].startswith("not valid UTF-8")
    assert reasons[1] == "expected 2 fields, found 3"
    assert reasons[2] == "empty uid"
    assert reasons[3] == "expected 2 fields, found 1"
    assert reasons[4].startswith("caption of 2,999 characters") and reasons[4].endswith("for b2")
    assert reasons[5].startswith("unclosed quote")
    assert report.items_added == 4 and report.captioned_items_added == 2
    ds = catalog.require_dataset("caps")
    b2 = catalog.item_by_key(ds.id, "b2")
    assert b2 is not None and [o.text for o in b2.observations] == ["A plant."]


def test_bad_lvis_entries_are_reported_and_a_gzipped_file_is_read(tmp_path: Path) -> None:
    root = _objaverse(tmp_path / "obj")
    data = {"mug": ["a2", 7, None, ""], "lamp": "b1", "": ["b2"], "bad\nname": ["b2"], "lone\ud800": ["b2"],
            "plant": ["b2"]}
    path = tmp_path / "lvis-annotations.json.gz"
    path.write_bytes(gzip.compress(json.dumps(data).encode()))
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "objaverse", root, "cats", lvis=path)
    assert [(p.where, p.reason) for p in report.problems] == [
        ("key mug[1]", "not a uid: number '7'"),
        ("key mug[2]", "not a uid: null 'None'"),
        ("key mug[3]", "not a uid: string ''"),
        ("key lamp", "category skipped: expected a list of uids, found a string"),
        ("key ''", "category skipped: empty category name"),
        ("key 'bad\\nname'", "category skipped: category name with a line break or control character"),
        ("key 'lone\\ud800'", "category skipped: category name is not valid Unicode text (lone surrogates)"),
    ]
    ds = catalog.require_dataset("cats")
    assert catalog.categories(ds.id) == ["mug", "plant"]  # and items without one
    assert report.items_added == 4


@pytest.mark.parametrize(("content", "message"), [
    (b'{"mug": ["a2"', "not a file of LVIS annotations ({category: [uid, ...]}): invalid JSON at line 1"),
    (b'["a2", "b1"]', "not a file of LVIS annotations ({category: [uid, ...]}): the document is a list"),
    (b'{"mug": ["\xff"]}', "not a file of LVIS annotations ({category: [uid, ...]}): not UTF-8 text"),
])
def test_an_lvis_file_that_is_not_one_fails_naming_it(tmp_path: Path, content: bytes, message: str) -> None:
    root = _objaverse(tmp_path / "obj")
    path = tmp_path / "lvis.json"
    path.write_bytes(content)
    ws, catalog = _ws(tmp_path)
    with pytest.raises(ImportFailed) as failed:
        run_import(catalog, ws, "objaverse", root, "x", lvis=path)
    assert str(failed.value).startswith(f"{path}: {message}")
    assert catalog.dataset("x") is None


def test_refusals_name_the_path_and_the_problem(tmp_path: Path) -> None:
    root = _objaverse(tmp_path / "obj")
    captions = _cap3d(tmp_path / "c.csv", [["a2", "A mug."]])
    ws, catalog = _ws(tmp_path)
    (tmp_path / "plain").mkdir()
    cases = [
        (dict(fmt="folder", path=root, captions=captions), f"{root}: --captions applies to objaverse imports only"),
        (dict(fmt="text2shape", path=captions, captions=captions, lvis=captions),
         f"{captions}: --captions and --lvis apply to objaverse imports only"),
        (dict(fmt="objaverse", path=root, meshes_root=root), f"{root}: objaverse takes ROOT"),
        (dict(fmt="objaverse", path=tmp_path / "plain"), f"{tmp_path / 'plain'}: no glbs/ folder"),
        (dict(fmt="objaverse", path=tmp_path / "none"), f"{tmp_path / 'none'}: Objaverse folder does not exist"),
        (dict(fmt="objaverse", path=root, captions=tmp_path / "no.csv"), f"{tmp_path / 'no.csv'}: no such file"),
        (dict(fmt="objaverse", path=root, captions=_cap3d(tmp_path / "empty.csv", [])),
         f"{tmp_path / 'empty.csv'}: empty file"),
    ]
    for kwargs, message in cases:
        fmt, path = kwargs.pop("fmt"), kwargs.pop("path")
        with pytest.raises(ImportFailed) as failed:
            run_import(catalog, ws, fmt, path, "refused", **kwargs)
        assert str(failed.value).startswith(message), (str(failed.value), message)
        assert "\n" not in str(failed.value)
    assert catalog.dataset("refused") is None
