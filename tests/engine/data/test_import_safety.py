"""Importers and hostile input: nothing read outside the roots, one caption rule, no traceback.

Real files throughout: real symlinks, PNGs written by PIL, meshes written by trimesh.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from engine.catalog.repository import Catalog
from engine.data.importers import ImportFailed, ImportReport, run_import
from engine.data.importers.checks import MAX_CAPTION_CHARS
from engine.data.importers.paths import PathOutsideRoot, allowed_roots, real_path_inside
from engine.render.mesh import MeshError, load_mesh
from engine.workspace import Workspace

ROOT = Path(__file__).resolve().parents[3]
SECRET = "TOP SECRET LINE FROM OUTSIDE"


def _ws(tmp_path: Path) -> tuple[Workspace, Catalog]:
    ws = Workspace.open(tmp_path / "ws")
    return ws, ws.catalog()


def _png(path: Path, shade: int = 80) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (shade, shade, shade)).save(path)
    return path


def _outside(tmp_path: Path) -> Path:
    """A folder next to (not inside) the roots, with a secret caption file, image and mesh."""
    out = tmp_path / "outside"
    out.mkdir()
    (out / "secret.txt").write_text(f"{SECRET}\n{SECRET} 2\n", encoding="utf-8")
    _png(out / "secret.png", 250)
    (out / "model").mkdir()
    trimesh.creation.box().export(out / "model" / "model.obj")
    _png(out / "model" / "view_0.png", 250)
    return out


def _texts(catalog: Catalog, name: str) -> list[str]:
    ds = catalog.require_dataset(name)
    return [t for _, _, t, _ in catalog.observations(ds.id, "text")]


def _paths(catalog: Catalog, name: str) -> list[str]:
    ds = catalog.require_dataset(name)
    paths = [p for m in ("image", "view") for _, _, p, _ in catalog.observations(ds.id, m)]
    return paths + [i.asset_path for i in catalog.items(ds.id) if i.asset_path]


def _assert_nothing_from(catalog: Catalog, name: str, out: Path) -> None:
    assert not any(SECRET in t for t in _texts(catalog, name))
    real_out = str(out.resolve())
    assert not any(str(Path(p).resolve()).startswith(real_out) for p in _paths(catalog, name))


def _reported(report: ImportReport, where: str, *words: str) -> bool:
    return any(p.where == where and all(w in p.reason for w in words) for p in report.problems)


# ---- 1. symlinks out of the root -----------------------------------------------------------------

def test_real_path_inside_is_the_one_check(tmp_path: Path) -> None:
    root = tmp_path / "root"
    out = _outside(tmp_path)
    _png(root / "in.png")
    (root / "link.png").parent.mkdir(exist_ok=True)
    (root / "link.png").symlink_to(out / "secret.png")
    (root / "inner.png").symlink_to(root / "in.png")
    roots = allowed_roots(root.resolve())
    assert real_path_inside(root / "in.png", roots) == (root / "in.png").resolve()
    assert real_path_inside(root / "inner.png", roots) == (root / "in.png").resolve()
    with pytest.raises(PathOutsideRoot, match="--allow-outside"):
        real_path_inside(root / "link.png", roots)
    with pytest.raises(PathOutsideRoot, match="NUL"):
        real_path_inside(str(root) + "/a\x00b.png", roots)
    assert real_path_inside(root / "link.png", allowed_roots(root, [out])) == (out / "secret.png").resolve()


def test_folder_caption_symlink_and_image_symlink_out_are_skipped(tmp_path: Path) -> None:
    out = _outside(tmp_path)
    folder = tmp_path / "pics"
    _png(folder / "good.png")
    (folder / "good.txt").write_text("A good caption.\n", encoding="utf-8")
    _png(folder / "passwd.png")
    (folder / "passwd.txt").symlink_to(out / "secret.txt")
    (folder / "img_out.png").symlink_to(out / "secret.png")
    (folder / "img_out.txt").write_text("Caption of a picture outside.\n", encoding="utf-8")
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "folder", folder, "f")
    assert _reported(report, "key passwd.png", "secret.txt", "outside the import root")
    assert _reported(report, "key img_out.png", "secret.png", "outside the import root")
    assert _texts(catalog, "f") == ["A good caption."]
    _assert_nothing_from(catalog, "f", out)

    again = run_import(catalog, ws, "folder", folder, "f2", allow_outside=[out])
    assert report.skipped == 2 and again.skipped == 0
    assert sorted(_texts(catalog, "f2")) == sorted(["A good caption.", SECRET, f"{SECRET} 2",
                                                    "Caption of a picture outside."])


def _image_source(fmt: str, folder: Path) -> Path:
    """A source of format ``fmt`` naming good.png (2 captions) and link_out.png (1 caption)."""
    if fmt == "csv":
        path = folder / "t.csv"
        path.write_text("filepath,title\ngood.png,Good one.\nlink_out.png,Linked out.\ngood.png,Good two.\n",
                        encoding="utf-8")
    elif fmt == "flickr-token":
        path = folder / "captions.token"
        path.write_text("good.png#0\tGood one.\nlink_out.png#0\tLinked out.\ngood.png#1\tGood two.\n",
                        encoding="utf-8")
    elif fmt == "karpathy":
        path = folder / "dataset.json"
        path.write_text(json.dumps({"images": [
            {"filename": "good.png", "split": "train", "sentences": [{"raw": "Good one."}, {"raw": "Good two."}]},
            {"filename": "link_out.png", "split": "test", "sentences": [{"raw": "Linked out."}]},
        ]}), encoding="utf-8")
    else:
        path = folder / "captions.json"
        path.write_text(json.dumps({
            "images": [{"id": 1, "file_name": "good.png"}, {"id": 2, "file_name": "link_out.png"}],
            "annotations": [{"image_id": 1, "caption": "Good one."}, {"image_id": 2, "caption": "Linked out."},
                            {"image_id": 1, "caption": "Good two."}],
        }), encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", ["csv", "flickr-token", "karpathy", "coco"])
def test_image_formats_skip_a_symlink_out_of_the_root(tmp_path: Path, fmt: str) -> None:
    out = _outside(tmp_path)
    folder = tmp_path / "data"
    _png(folder / "good.png")
    (folder / "link_out.png").symlink_to(out / "secret.png")
    source = _image_source(fmt, folder)
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, fmt, source, "d")
    [problem] = report.problems
    assert problem.file == str(source) and "link_out.png" in problem.reason and "outside" in problem.reason
    assert sorted(_texts(catalog, "d")) == ["Good one.", "Good two."]
    _assert_nothing_from(catalog, "d", out)

    allowed = run_import(catalog, ws, fmt, source, "d2", allow_outside=[out])
    assert allowed.skipped == 0 and sorted(_texts(catalog, "d2")) == ["Good one.", "Good two.", "Linked out."]


def test_text2shape_symlinked_mesh_folder_is_skipped(tmp_path: Path) -> None:
    out = _outside(tmp_path)
    meshes = tmp_path / "meshes"
    meshes.mkdir()
    trimesh.creation.box().export(meshes / "good.obj")
    (meshes / "evil").symlink_to(out / "model", target_is_directory=True)
    source = tmp_path / "captions.csv"
    with source.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "modelId", "description", "category", "topLevelSynsetId", "subSynsetId"])
        w.writerows([["1", "good", "A box.", "Box", "", ""], ["2", "evil", "A linked box.", "Box", "", ""]])
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "text2shape", source, "t", meshes_root=meshes)
    assert _reported(report, "key evil", "mesh dropped", "outside the import root")
    assert _reported(report, "key evil", "view dropped", "outside the import root")
    assert _reported(report, "key evil", "no mesh or views")
    assert _texts(catalog, "t") == ["A box."]
    _assert_nothing_from(catalog, "t", out)

    allowed = run_import(catalog, ws, "text2shape", source, "t2", meshes_root=meshes, allow_outside=[out])
    assert allowed.skipped == 0 and allowed.items_added == 2


def test_cli_folder_with_a_caption_file_linked_to_etc_passwd(tmp_path: Path) -> None:
    """The acceptance line: `trainer import folder DIR --name x` with x.png and x.txt -> /etc/passwd."""
    passwd = Path("/etc/passwd")
    if not passwd.is_file():
        pytest.skip("no /etc/passwd here")
    folder = tmp_path / "dir"
    _png(folder / "x.png")
    (folder / "x.txt").symlink_to(passwd)
    _png(folder / "y.png")
    (folder / "y.txt").write_text("A fine caption.\n", encoding="utf-8")
    ws = tmp_path / "ws"

    def trainer(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "trainer", *args, "--workspace", str(ws)], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)

    done = trainer("import", "folder", str(folder), "--name", "x")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "key x.png" in done.stdout and "/etc/passwd" in done.stdout and "--allow-outside" in done.stdout
    assert "2 new items (1 with captions)" in done.stdout  # x.png is kept, without the caption file
    shown = json.loads(trainer("datasets", "show", "x", "--json").stdout)
    assert shown["items"] == 2 and shown["by_modality"] == {"text": 1, "image": 2}
    assert shown["captioned_items"] == 1
    lines = {line.strip() for line in passwd.read_text(errors="replace").splitlines() if line.strip()}
    catalog = Workspace.open(ws).catalog()
    assert not lines & set(_texts(catalog, "x"))


# ---- 2. captions ---------------------------------------------------------------------------------

def test_csv_unclosed_quote_is_reported_and_loses_no_other_record(tmp_path: Path) -> None:
    for name in ("a", "b", "c", "d"):
        _png(tmp_path / f"{name}.png")
    table = tmp_path / "t.csv"
    table.write_text(
        "filepath,title\n"
        "a.png,First.\n"
        'b.png,"An unclosed quote\n'
        "c.png,Third.\n"
        'd.png,"Fourth, quoted."\n'
        "a.png,Fifth.\n",
        encoding="utf-8",
    )
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "csv", table, "t")
    assert [(p.file, p.where) for p in report.problems] == [(str(table), "line 3")]
    assert "unclosed quote" in report.problems[0].reason
    assert sorted(_texts(catalog, "t")) == ["Fifth.", "First.", "Fourth, quoted.", "Third."]
    assert report.items_added == 3


def test_csv_unclosed_quote_at_the_end_swallows_nothing(tmp_path: Path) -> None:
    _png(tmp_path / "a.png")
    table = tmp_path / "t.csv"
    rows = "".join(f"a.png,Caption {i}.\n" for i in range(50))
    table.write_text(f'filepath,title\na.png,"Never closed\n{rows}', encoding="utf-8")
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "csv", table, "t")
    assert [p.where for p in report.problems] == ["line 2"]
    assert len(_texts(catalog, "t")) == 50


def _caption_source(fmt: str, folder: Path, bad: list[str]) -> Path:
    """A source of format ``fmt`` captioning good.png with "Fine." and every text of ``bad``."""
    texts = ["Fine.", *bad]
    if fmt == "csv":
        path = folder / "t.csv"
        with path.open("w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows([["filepath", "title"], *(["good.png", t] for t in texts)])
    elif fmt == "flickr-token":
        path = folder / "c.token"
        path.write_text("".join(f"good.png#{i}\t{t}\n" for i, t in enumerate(texts)), encoding="utf-8")
    elif fmt == "karpathy":
        path = folder / "k.json"
        path.write_text(json.dumps({"images": [
            {"filename": "good.png", "split": "train", "sentences": [{"raw": t} for t in texts]}]}))
    elif fmt == "coco":
        path = folder / "c.json"
        path.write_text(json.dumps({"images": [{"id": 1, "file_name": "good.png"}],
                                    "annotations": [{"image_id": 1, "caption": t} for t in texts]}))
    else:  # folder
        path = folder
        (folder / "good.txt").write_text("".join(f"{t}\n" for t in texts), encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", ["csv", "flickr-token", "karpathy", "coco", "folder"])
def test_over_long_and_multi_line_captions_are_refused_alike(tmp_path: Path, fmt: str) -> None:
    folder = tmp_path / "data"
    _png(folder / "good.png")
    long = "word " * (MAX_CAPTION_CHARS // 5 + 10)
    edge = "x" * MAX_CAPTION_CHARS
    bad = [long] if fmt in ("flickr-token", "folder") else [long, "two\nlines"]  # one line a caption there
    breaks_kept = fmt == "csv"  # a quoted CSV field may span lines (legal CSV): its breaks become spaces
    refused = [long] if breaks_kept else bad
    source = _caption_source(fmt, folder, [*bad, edge])
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, fmt, source, "c")
    reasons = [p.reason for p in report.problems]
    assert len(reasons) == len(refused), reasons
    assert any(f"at most {MAX_CAPTION_CHARS:,}" in r for r in reasons)
    if len(refused) > 1:
        assert any("several lines" in r for r in reasons)
    assert sorted(_texts(catalog, "c")) == sorted(["Fine.", edge, *(["two lines"] if breaks_kept else [])])


def test_text2shape_refuses_over_long_descriptions(tmp_path: Path) -> None:
    trimesh.creation.box().export(tmp_path / "m.obj")
    source = tmp_path / "captions.csv"
    with source.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "modelId", "description", "category", "topLevelSynsetId", "subSynsetId"])
        w.writerows([["1", "m", "A box.", "", "", ""], ["2", "m", "y" * (MAX_CAPTION_CHARS + 1), "", "", ""]])
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "text2shape", source, "t")
    assert _reported(report, "line 3", "characters")
    assert _texts(catalog, "t") == ["A box."]


# ---- 3. JSON that is not what it should be -------------------------------------------------------

@pytest.mark.parametrize(("fmt", "what"), [("karpathy", "Karpathy split JSON"), ("coco", "COCO captions JSON")])
def test_deeply_nested_json_is_a_one_line_error(tmp_path: Path, fmt: str, what: str) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"images": ' + "[" * 200_000 + "]" * 200_000 + "}", encoding="utf-8")
    ws, catalog = _ws(tmp_path)
    with pytest.raises(ImportFailed) as info:
        run_import(catalog, ws, fmt, path, "d")
    message = str(info.value)
    assert message.startswith(f"{path}: not a {what}") and "nested too deeply" in message
    assert "\n" not in message


def test_huge_integer_in_json_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_text('{"images": [{"id": ' + "9" * 5000 + "}]}", encoding="utf-8")
    ws, catalog = _ws(tmp_path)
    with pytest.raises(ImportFailed, match="not a COCO captions JSON"):
        run_import(catalog, ws, "coco", path, "d")


# ---- 4. the same file twice ----------------------------------------------------------------------

def test_same_file_under_two_images_roots_is_one_item(tmp_path: Path) -> None:
    root = tmp_path / "images"
    _png(root / "sub" / "e.png")
    _png(root / "f.png", 30)
    first = tmp_path / "first.csv"
    first.write_text("filepath,title\nsub/e.png,Seen from the root.\nf.png,Another.\n", encoding="utf-8")
    second = tmp_path / "second.csv"
    second.write_text("filepath,title\ne.png,Seen from sub.\n", encoding="utf-8")
    ws, catalog = _ws(tmp_path)
    run_import(catalog, ws, "csv", first, "dup", images_root=root)
    report = run_import(catalog, ws, "csv", second, "dup", images_root=root / "sub")
    assert _reported(report, "key e.png", "duplicate file", "already item 'sub/e.png'")
    assert report.items_added == 0
    ds = catalog.require_dataset("dup")
    assert sorted(i.key for i in catalog.items(ds.id)) == ["f.png", "sub/e.png"]
    assert sorted(_texts(catalog, "dup")) == ["Another.", "Seen from the root."]


def test_same_file_twice_in_one_source_through_a_symlink(tmp_path: Path) -> None:
    _png(tmp_path / "a.png")
    (tmp_path / "alias.png").symlink_to(tmp_path / "a.png")
    _png(tmp_path / "b.png", 10)
    table = tmp_path / "t.csv"
    table.write_text("filepath,title\na.png,One.\nalias.png,Two.\nb.png,Three.\n", encoding="utf-8")
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "csv", table, "t")
    assert [p.where for p in report.problems] == ["key alias.png"]
    assert "1 caption(s) skipped" in report.problems[0].reason
    assert sorted(_texts(catalog, "t")) == ["One.", "Three."]
    again = run_import(catalog, ws, "csv", table, "t")  # a re-import is not a duplicate of itself
    assert [p.where for p in again.problems] == ["key alias.png"] and again.observations_added == 0


# ---- 5. merging imports --------------------------------------------------------------------------

def test_importing_another_format_into_a_dataset_says_so_and_lists_both(tmp_path: Path) -> None:
    _png(tmp_path / "a.png")
    _png(tmp_path / "b.png", 10)
    table = tmp_path / "t.csv"
    table.write_text("filepath,title\na.png,One.\n", encoding="utf-8")
    token = tmp_path / "c.token"
    token.write_text("b.png#0\tTwo.\n", encoding="utf-8")
    ws, catalog = _ws(tmp_path)
    first = run_import(catalog, ws, "csv", table, "m")
    assert first.notes == []
    second = run_import(catalog, ws, "flickr-token", token, "m")
    assert len(second.notes) == 1 and "merged into the existing dataset 'm'" in second.notes[0]
    assert str(table) in second.notes[0]
    again = run_import(catalog, ws, "flickr-token", token, "m")
    assert again.notes == []  # the same source again: nothing new to say
    imports = catalog.require_dataset("m").meta["imports"]
    assert [(i["format"], i["source"]) for i in imports] == [("csv", str(table)), ("flickr-token", str(token))]
    assert catalog.summary("m").items == 2


# ---- 6. meshes -----------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["nan", "inf"])
def test_mesh_with_non_finite_vertices_says_so(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "m.obj"
    path.write_text(f"v {bad} 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", encoding="utf-8")
    with pytest.raises(MeshError, match="non-finite vertex coordinates"):
        load_mesh(path)
    box = trimesh.creation.box()
    vertices = np.array(box.vertices)
    vertices[:] = np.nan
    trimesh.Trimesh(vertices, box.faces, process=False).export(tmp_path / "all.ply")
    with pytest.raises(MeshError, match="non-finite"):
        load_mesh(tmp_path / "all.ply")
