"""The Import dialog takes the objaverse format from the format list: a folder source, the optional Cap3D captions
and LVIS files, no meshes folder; the import runs as a real child process into a real workspace.

No sleeps: every wait is on a signal (qtbot.waitSignal).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import trimesh

from app.dialogs.import_dialog import ImportDialog, import_args
from engine.workspace import Workspace


def _download(tmp_path: Path) -> tuple[Path, Path, Path]:
    root = tmp_path / "hf-objaverse-v1"
    for shard, uid in (("000-000", "u1"), ("000-001", "u2")):
        (root / "glbs" / shard).mkdir(parents=True)
        trimesh.creation.box().export(root / "glbs" / shard / f"{uid}.glb")
    captions = tmp_path / "Cap3D_automated_Objaverse.csv"
    with captions.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["u1", "A box."], ["u2", "Another box, bigger."]])
    lvis = tmp_path / "lvis-annotations.json"
    lvis.write_text(json.dumps({"box": ["u1", "u2"]}), encoding="utf-8")
    return root, captions, lvis


def test_import_args_pass_the_objaverse_files_and_only_for_objaverse() -> None:
    assert import_args("objaverse", "/o", "obj", meshes_root="/m", captions="/c.csv", lvis="/l.json") == [
        "import", "objaverse", "/o", "--name", "obj", "--captions", "/c.csv", "--lvis", "/l.json", "--events", "-"]
    assert import_args("folder", "/f", "f", captions="/c.csv", lvis="/l.json") == [
        "import", "folder", "/f", "--name", "f", "--events", "-"]


def test_the_dialog_imports_an_objaverse_folder_with_captions_and_categories(qtbot, tmp_path: Path) -> None:
    root, captions, lvis = _download(tmp_path)
    dialog = ImportDialog(Workspace.open(tmp_path / "ws"))
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.set_format("flickr-token")
    assert not dialog.captions.isVisibleTo(dialog) and not dialog.lvis.isVisibleTo(dialog)

    dialog.set_format("objaverse")
    assert dialog.source.folder and dialog.source.edit.placeholderText() == "folder"
    assert "glbs/" in dialog.hint.text()
    assert dialog.captions.isVisibleTo(dialog) and dialog.lvis.isVisibleTo(dialog)
    assert not dialog.meshes_root.isVisibleTo(dialog) and not dialog.images_root.isVisibleTo(dialog)
    assert not dialog.csv_box.isVisibleTo(dialog)
    dialog.layout().activate()
    assert dialog.hint.height() >= dialog.hint.heightForWidth(dialog.hint.width())  # the hint is not cut off

    dialog.source.setText(str(root))
    dialog.captions.setText(str(tmp_path / "missing.csv"))
    assert not dialog.start_import() and "missing.csv is not a file" in dialog.state.text()
    dialog.captions.setText(str(captions))
    dialog.lvis.setText(str(lvis))
    assert dialog.name.text() == "hf-objaverse-v1"
    with qtbot.waitSignal(dialog.imported, timeout=60_000) as blocker:
        assert dialog.start_import()
    report = blocker.args[0]
    assert report["format"] == "objaverse" and report["items_added"] == 2 and report["captioned_items_added"] == 2
    assert report["skipped"] == 0 and dialog.problems.rowCount() == 0
    catalog = Workspace.open(tmp_path / "ws").catalog()
    ds = catalog.require_dataset("hf-objaverse-v1")
    assert catalog.categories(ds.id) == ["box"] and ds.meta["up_axis"] == "y"
