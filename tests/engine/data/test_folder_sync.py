"""Importing a folder again into its dataset synchronises it (engine/data/importers/sync.py): real files, a real
SQLite catalogue. Added, removed, changed and unchanged items; a rescan of an unchanged folder writes nothing but
the import record; splits never move; a changed mesh loses the views rendered from its old file; the items another
source merged into the dataset stay."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
import trimesh
from PIL import Image

from engine.catalog import Catalog
from engine.data.importers import ImportFailed, ImportReport, run_import
from engine.data.splits import split_for_key
from engine.workspace import Workspace


def _png(path: Path, shade: int = 50, size: int = 8) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), (shade, shade, shade)).save(path)
    return path


def _photos(tmp_path: Path, n: int = 12) -> Path:
    folder = tmp_path / "photos"
    for i in range(n):
        _png(folder / ("cats" if i % 2 else "dogs") / f"p{i:02d}.png", shade=10 * i)
    return folder


def _ws(tmp_path: Path) -> tuple[Workspace, Catalog]:
    ws = Workspace.open(tmp_path / "ws")
    return ws, ws.catalog()


def _tables(catalog: Catalog) -> tuple[list, list]:
    with sqlite3.connect(catalog.path) as db:
        items = db.execute("SELECT id, dataset_id, key, split, category, asset_path, meta FROM items "
                           "ORDER BY id").fetchall()
        observations = db.execute("SELECT * FROM observations ORDER BY id").fetchall()
    return items, observations


def _counts(report: ImportReport) -> tuple[int, int, int, int]:
    return (report.items_added, report.items_removed, report.items_changed, report.items_unchanged)


def test_rescan_adds_removes_changes_and_keeps_splits(tmp_path: Path) -> None:
    folder = _photos(tmp_path)
    ws, catalog = _ws(tmp_path)
    first = run_import(catalog, ws, "folder", folder, "photos")
    assert (first.items_added, first.synced) == (12, False)
    ds = catalog.require_dataset("photos")
    splits = {i.key: i.split for i in catalog.items(ds.id)}
    assert splits == {k: split_for_key(k) for k in splits}
    assert ds.meta["revision"] == 1

    (folder / "dogs" / "p00.png").unlink()  # removed
    os.remove(folder / "cats" / "p01.png")  # removed
    _png(folder / "birds" / "new.png")  # added (a new sub-folder: a new category)
    _png(folder / "dogs" / "p02.png", shade=200, size=9)  # changed: another size
    again = run_import(catalog, ws, "folder", folder, "photos")
    assert again.synced and _counts(again) == (1, 2, 1, 9)
    assert again.summary_line().startswith(
        "synchronised 'photos' (folder): added 1, removed 2, changed 1, unchanged 9 ")
    items = {i.key: i for i in catalog.items(ds.id)}
    assert set(items) == set(splits) - {"dogs/p00.png", "cats/p01.png"} | {"birds/new.png"}
    assert all(items[k].split == splits[k] for k in items if k in splits)  # a rescan never moves an item's split
    assert catalog.require_dataset("photos").meta["revision"] == 2
    assert items["dogs/p02.png"].meta["revision"] == 2 and items["birds/new.png"].meta["revision"] == 2
    assert "revision" not in items["dogs/p04.png"].meta  # as the first import made it: revision 0
    stat = os.stat(folder / "dogs" / "p02.png")
    assert items["dogs/p02.png"].meta["file"] == {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    summary = catalog.summary("photos")
    assert (summary.items, summary.by_modality) == (11, {"image": 11})  # the removed items' observations went too
    log = [json.loads(line) for line in Path(again.log_path).read_text().splitlines()]
    assert (log[0]["items_removed"], log[0]["items_changed"], log[0]["items_unchanged"]) == (2, 1, 9)


def test_rescan_of_an_unchanged_folder_writes_nothing_but_the_import_record(tmp_path: Path) -> None:
    folder = _photos(tmp_path)
    ws, catalog = _ws(tmp_path)
    run_import(catalog, ws, "folder", folder, "photos")
    before = _tables(catalog)
    meta_before = catalog.require_dataset("photos").meta
    again = run_import(catalog, ws, "folder", folder, "photos")
    assert _counts(again) == (0, 0, 0, 12) and again.observations_added == 0
    assert _tables(catalog) == before
    meta = catalog.require_dataset("photos").meta
    assert meta["revision"] == meta_before["revision"] == 1
    assert {k: v for k, v in meta.items() if k not in ("last_import", "imports")} == \
        {k: v for k, v in meta_before.items() if k not in ("last_import", "imports")}
    assert len(meta["imports"]) == 1 and meta["last_import"]["items_added"] == 0


def test_a_touched_file_is_changed_and_an_unreadable_one_is_reported_and_removed(tmp_path: Path) -> None:
    folder = _photos(tmp_path, n=4)
    ws, catalog = _ws(tmp_path)
    run_import(catalog, ws, "folder", folder, "photos")
    touched = folder / "dogs" / "p00.png"
    st = touched.stat()
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # same bytes, a later mtime
    (folder / "cats" / "p01.png").write_bytes(b"not a png any more")
    again = run_import(catalog, ws, "folder", folder, "photos")
    assert _counts(again) == (0, 1, 1, 2)
    assert [(p.where, p.reason.startswith("unreadable image")) for p in again.problems] == [
        ("key cats/p01.png", True)]
    ds = catalog.require_dataset("photos")
    assert catalog.item_by_key(ds.id, "cats/p01.png") is None


def test_items_imported_before_stamps_get_one_and_count_as_unchanged(tmp_path: Path) -> None:
    folder = _photos(tmp_path, n=3)
    ws, catalog = _ws(tmp_path)
    run_import(catalog, ws, "folder", folder, "photos")
    with sqlite3.connect(catalog.path) as db:  # as an older Crossfold stored them
        db.execute("UPDATE items SET meta = json_remove(meta, '$.file', '$.revision')")
        db.execute("UPDATE datasets SET meta = json_remove(meta, '$.revision')")
    again = run_import(catalog, ws, "folder", folder, "photos")
    assert _counts(again) == (0, 0, 0, 3)
    ds = catalog.require_dataset("photos")
    assert all(set(i.meta) == {"file"} for i in catalog.items(ds.id))
    assert "revision" not in ds.meta  # nothing was added, changed or removed
    _png(folder / "dogs" / "p00.png", shade=99, size=10)
    later = run_import(catalog, ws, "folder", folder, "photos")
    assert _counts(later) == (0, 0, 1, 2)
    assert catalog.item_by_key(ds.id, "dogs/p00.png").meta["revision"] == 1


def test_a_changed_mesh_loses_its_views_and_the_others_keep_their_rows(tmp_path: Path) -> None:
    folder = tmp_path / "meshes"
    folder.mkdir()
    for name in ("a", "b", "c"):
        trimesh.creation.box(extents=(1, 1, 1)).export(folder / f"{name}.obj")
    ws, catalog = _ws(tmp_path)
    run_import(catalog, ws, "folder", folder, "meshes", up_axis="z")
    ds = catalog.require_dataset("meshes")
    renders = tmp_path / "renders"
    views = {}
    for item in catalog.items(ds.id):  # views as trainer render records them (real files)
        views[item.id] = [str(_png(renders / item.key / f"view_{v}.png", shade=v)) for v in range(2)]
    catalog.replace_views(views)
    view_ids = {o[0] for o in catalog.observations(ds.id, "view")}
    assert catalog.replace_views(views) == 6
    assert {o[0] for o in catalog.observations(ds.id, "view")} == view_ids  # the same views keep their ids

    trimesh.creation.box(extents=(2, 1, 1)).export(folder / "b.obj")
    again = run_import(catalog, ws, "folder", folder, "meshes", up_axis="z")
    assert _counts(again) == (0, 0, 1, 2)
    b = catalog.item_by_key(ds.id, "b.obj")
    assert [o.modality for o in b.observations] == []  # rendered from the old file: `trainer render` renders it
    kept = {o[0] for o in catalog.observations(ds.id, "view")}
    assert len(kept) == 4 and kept <= view_ids
    assert catalog.require_dataset("meshes").meta["up_axis"] == "z"


def test_only_the_folders_own_items_can_be_removed(tmp_path: Path) -> None:
    folder = _photos(tmp_path, n=2)
    other = tmp_path / "other"
    _png(other / "x.png")
    ws, catalog = _ws(tmp_path)
    run_import(catalog, ws, "folder", folder, "photos")
    merged = run_import(catalog, ws, "folder", other, "photos")
    assert (merged.synced, merged.items_added) == (False, 1)
    (other / "x.png").unlink()  # gone, but not from the folder being rescanned
    (folder / "dogs" / "p00.png").unlink()
    again = run_import(catalog, ws, "folder", folder, "photos")
    assert _counts(again) == (0, 1, 0, 1)
    ds = catalog.require_dataset("photos")
    assert sorted(i.key for i in catalog.items(ds.id)) == ["cats/p01.png", "x.png"]


def test_a_folder_gone_or_emptied_removes_nothing(tmp_path: Path) -> None:
    folder = _photos(tmp_path, n=3)
    ws, catalog = _ws(tmp_path)
    run_import(catalog, ws, "folder", folder, "photos")
    before = _tables(catalog)
    for path in sorted(folder.rglob("*.png")):
        path.unlink()  # an empty mount point looks like this
    with pytest.raises(ImportFailed, match="holds none of the 3 files imported from it"):
        run_import(catalog, ws, "folder", folder, "photos")
    shutil.rmtree(folder)
    with pytest.raises(ImportFailed, match="no such folder"):
        run_import(catalog, ws, "folder", folder, "photos")
    assert _tables(catalog) == before


def test_a_rescan_checks_only_files_whose_stamp_changed(tmp_path: Path) -> None:
    """The stamp is the rule: same size and mtime is the same file, not opened again (a rescan of a large folder
    costs a stat per file); any other stamp is checked again."""
    folder = _photos(tmp_path, n=2)
    ws, catalog = _ws(tmp_path)
    run_import(catalog, ws, "folder", folder, "photos")
    same = folder / "dogs" / "p00.png"
    st = same.stat()
    same.write_bytes(b"\0" * st.st_size)  # the same size, then the same mtime
    os.utime(same, ns=(st.st_atime_ns, st.st_mtime_ns))
    other = folder / "cats" / "p01.png"
    st = other.stat()
    other.write_bytes(b"\0" * st.st_size)
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    again = run_import(catalog, ws, "folder", folder, "photos")
    assert _counts(again) == (0, 1, 0, 1)
    assert [p.where for p in again.problems] == ["key cats/p01.png"]


def test_a_rescan_hands_on_only_records_that_can_change_the_catalogue(tmp_path: Path) -> None:
    """An unchanged file without captions stops at the sync (it would add nothing: a rescan of a big folder
    skips the duplicate check and the catalogue's merge for it); an unchanged one with captions, a changed one
    and a new one go on. Only files under the rescanned folder can be removed: not those of a sibling folder whose
    name starts with the folder's."""
    from engine.catalog.records import FILE_STAMP, ItemRecord
    from engine.data.importers.sync import FolderSync, file_stamp

    folder = _photos(tmp_path, n=4)
    ws, catalog = _ws(tmp_path)
    run_import(catalog, ws, "folder", folder, "photos")
    ds = catalog.require_dataset("photos")
    _png(folder / "cats" / "p03.png", shade=99, size=9)
    root = folder.resolve()
    sibling = str(tmp_path.resolve() / "photos-old" / "x.png")

    def record(key: str, captions: list[str]) -> ItemRecord:
        real = root / key
        return ItemRecord(key, meta={FILE_STAMP: file_stamp(real)}, captions=captions, images=[str(real)])

    owners = {str(root / i.key): i.key for i in catalog.items(ds.id)} | {sibling: "elsewhere.png"}
    sync = FolderSync(catalog, ds.id, (root,), revision=2, meshes=False, owners=owners)
    plain, captioned, changed = record("dogs/p00.png", []), record("cats/p01.png", ["a cat"]), record(
        "cats/p03.png", [])
    added = ItemRecord("new.png", captions=[], images=[str(root / "new.png")])
    out = list(sync.records([plain, captioned, None, changed, added]))
    assert out == [None, captioned, None, changed, added]
    assert (sync.unchanged, set(sync.changed)) == (2, {catalog.item_by_key(ds.id, "cats/p03.png").id})
    report = ImportReport("photos", "folder", str(folder))
    sync.apply(report)
    assert (report.items_removed, report.items_changed, report.items_unchanged) == (1, 1, 2)  # dogs/p02.png
    assert catalog.item_by_key(ds.id, "dogs/p02.png") is None
