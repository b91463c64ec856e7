"""Hostile inputs for `trainer import`, all seven formats: :func:`importer_cases`.

Every case builds its own files under ``tmp/<case name>/`` (real PNGs from PIL, real meshes from
trimesh, real symlinks). ``tmp/outside/`` holds the files no import may read: a caption file, an
image and a model folder; every case lists them (and ``/etc/passwd`` where it is the target) in
``forbidden``. Meshes are not loaded at import time (that is the renderer's job), so a mesh that
is garbage inside but non-empty is imported and counted as a good record.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

from tests.faults.case import FaultCase

SECRET_LINES = ("SECRET caption from outside", "SECRET second line")
T2S_HEADER = ["id", "modelId", "description", "category", "topLevelSynsetId", "subSynsetId"]
LONG = "word " * 1000  # 5,000 characters: over the caption limit


def _png(path: Path, shade: int = 90) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (shade, 40, 200)).save(path)
    return path


def _box(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    trimesh.creation.box().export(path)
    return path


def _text(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _link(path: Path, target: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target, target_is_directory=target.is_dir())
    return path


def _csv(path: Path, rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def _json(path: Path, data: object) -> Path:
    return _text(path, json.dumps(data))


def _karpathy(*entries: tuple[str, list[str]]) -> dict[str, object]:
    return {"images": [{"filename": name, "split": "train", "sentences": [{"raw": t} for t in texts]}
                       for name, texts in entries]}


def _coco(*entries: tuple[str, list[str]]) -> dict[str, object]:
    images = [{"id": i, "file_name": name} for i, (name, _) in enumerate(entries, 1)]
    annotations = [{"image_id": i, "caption": t} for i, (_, texts) in enumerate(entries, 1) for t in texts]
    return {"images": images, "annotations": annotations}


def _truncated_png(path: Path) -> Path:
    _png(path)
    path.write_bytes(path.read_bytes()[:30])
    return path


def _nan_mesh(path: Path) -> Path:
    box = trimesh.creation.box()
    vertices = np.array(box.vertices)
    vertices[0] = np.nan
    path.parent.mkdir(parents=True, exist_ok=True)
    trimesh.Trimesh(vertices, box.faces, process=False).export(path)
    return path


def importer_cases(tmp: Path) -> list[FaultCase]:  # one flat list of cases reads best
    """Build every case's files under ``tmp`` and return the cases (at least 50, all seven formats)."""
    out = tmp / "outside"
    secret_txt = _text(out / "secret.txt", "".join(f"{line}\n" for line in SECRET_LINES))
    secret_png = _png(out / "secret.png", 250)
    secret_model = out / "model"
    _box(secret_model / "model.obj")
    _png(secret_model / "view_0.png", 250)
    passwd = Path("/etc/passwd")
    forbidden = (secret_txt, secret_png, secret_model)
    cases: list[FaultCase] = []

    def case(name: str, category: str, build: Callable[[Path], tuple[str, ...]], expect_exit: int,
             good: int, captions: int | None = None, extra_forbidden: tuple[Path, ...] = (),
             before: Callable[[Path], tuple[tuple[str, ...], ...]] | None = None) -> None:
        d = tmp / name
        d.mkdir(parents=True)
        argv = build(d)
        cases.append(FaultCase(name=name, category=category, argv=(*argv, "--name", name),
                               expect_exit=expect_exit, good_records=good, good_captions=captions,
                               forbidden=forbidden + extra_forbidden,
                               before=before(d) if before else ()))

    def folder(d: Path) -> Path:
        """A folder with one good captioned image (the good record of most folder cases)."""
        _png(d / "good.png")
        _text(d / "good.txt", "A good caption.\n")
        return d

    # ---- folder ------------------------------------------------------------------------------
    def f_caption_link(d: Path) -> tuple[str, ...]:
        folder(d)
        _png(d / "x.png")
        _link(d / "x.txt", secret_txt)
        return ("import", "folder", str(d))

    def f_passwd(d: Path) -> tuple[str, ...]:
        folder(d)
        _png(d / "x.png")
        _link(d / "x.txt", passwd)
        return ("import", "folder", str(d))

    def f_image_link(d: Path) -> tuple[str, ...]:
        folder(d)
        _link(d / "out.png", secret_png)
        _text(d / "out.txt", "Caption of a picture outside.\n")
        return ("import", "folder", str(d))

    def f_dir_link(d: Path) -> tuple[str, ...]:
        folder(d)
        _link(d / "sub", out)
        return ("import", "folder", str(d))

    def f_non_utf8(d: Path) -> tuple[str, ...]:
        _png(d / "a.png")
        _text(d / "a.txt", b"first good\n\xff\xfe not utf-8\nsecond good\n")
        return ("import", "folder", str(d))

    def f_empty_caption_file(d: Path) -> tuple[str, ...]:
        folder(d)
        _png(d / "e.png")
        _text(d / "e.txt", "")
        return ("import", "folder", str(d))

    def f_caption_dir(d: Path) -> tuple[str, ...]:
        folder(d)
        _png(d / "c.png")
        (d / "c.txt").mkdir()
        return ("import", "folder", str(d))

    def f_truncated_png(d: Path) -> tuple[str, ...]:
        folder(d)
        _truncated_png(d / "t.png")
        _text(d / "t.txt", "A truncated picture.\n")
        return ("import", "folder", str(d))

    def f_garbage_png(d: Path) -> tuple[str, ...]:
        folder(d)
        _text(d / "g.png", os.urandom(2048))
        _text(d / "g.txt", "Garbage bytes.\n")
        return ("import", "folder", str(d))

    def f_png_dir(d: Path) -> tuple[str, ...]:
        folder(d)
        (d / "dir.png").mkdir()
        _text(d / "dir.txt", "A folder named like a picture.\n")
        return ("import", "folder", str(d))

    def f_long_line(d: Path) -> tuple[str, ...]:
        folder(d)
        _png(d / "h.png")
        _text(d / "h.txt", f"{LONG}\nA short one.\n{'x' * 1_000_000}\n")
        return ("import", "folder", str(d))

    def f_empty_folder(d: Path) -> tuple[str, ...]:
        return ("import", "folder", str(d))

    def f_is_file(d: Path) -> tuple[str, ...]:
        return ("import", "folder", str(_png(d / "single.png")))

    def f_missing(d: Path) -> tuple[str, ...]:
        return ("import", "folder", str(d / "nowhere"))

    def f_nan_mesh(d: Path) -> tuple[str, ...]:
        _box(d / "good.obj")
        _text(d / "good.txt", "A box.\n")
        _nan_mesh(d / "nan.ply")
        _text(d / "nan.txt", "A box with a NaN corner.\n")
        return ("import", "folder", str(d))

    def f_empty_mesh(d: Path) -> tuple[str, ...]:
        _box(d / "good.obj")
        _text(d / "good.txt", "A box.\n")
        _text(d / "empty.off", b"")
        _text(d / "empty.txt", "An empty mesh file.\n")
        return ("import", "folder", str(d))

    def f_mesh_link(d: Path) -> tuple[str, ...]:
        _box(d / "good.obj")
        _text(d / "good.txt", "A box.\n")
        _link(d / "link.obj", secret_model / "model.obj")
        _text(d / "link.txt", "A box from outside.\n")
        return ("import", "folder", str(d))

    def f_alias(d: Path) -> tuple[str, ...]:
        folder(d)
        _link(d / "alias.png", d / "good.png")
        _text(d / "alias.txt", "The same picture again.\n")
        return ("import", "folder", str(d))

    def f_bad_name(d: Path) -> tuple[str, ...]:
        folder(d)
        raw = os.fsencode(d) + b"/\xff\xfe.png"
        _png(Path(os.fsdecode(raw)))
        _text(Path(os.fsdecode(os.fsencode(d) + b"/\xff\xfe.txt")), "A name that is not UTF-8.\n")
        return ("import", "folder", str(d))

    def f_dangling(d: Path) -> tuple[str, ...]:
        folder(d)
        _link(d / "dangling.png", out / "does-not-exist.png")
        _text(d / "dangling.txt", "A link to nothing.\n")
        return ("import", "folder", str(d))

    def f_no_captions(d: Path) -> tuple[str, ...]:  # a phone's photos: no caption file at all
        _png(d / "IMG_0001.jpg")
        _png(d / "trip" / "IMG_0002.png")
        _png(d / "trip" / "IMG_0003.webp")
        _truncated_png(d / "broken.png")
        return ("import", "folder", str(d))

    def f_no_captions_meshes(d: Path) -> tuple[str, ...]:
        _box(d / "chair" / "a.obj")
        _box(d / "table" / "b.ply")
        _text(d / "empty.stl", b"")
        return ("import", "folder", str(d), "--up", "z")

    def f_caption_loop(d: Path) -> tuple[str, ...]:
        folder(d)
        _png(d / "loop.png")
        (d / "loop.txt").symlink_to(d / "loop.txt")
        return ("import", "folder", str(d))

    def f_link_loop(d: Path) -> tuple[str, ...]:
        folder(d)
        (d / "loop.png").symlink_to(d / "loop.png")
        _text(d / "loop.txt", "A link to itself.\n")
        return ("import", "folder", str(d))

    case("folder_caption_symlink_out", "symlink-out", f_caption_link, 0, 2, 1)  # x.png kept, its caption not
    case("folder_caption_symlink_etc_passwd", "symlink-out", f_passwd, 0, 2, 1, extra_forbidden=(passwd,))
    case("folder_image_symlink_out", "symlink-out", f_image_link, 0, 1, 1)
    case("folder_subfolder_symlink_out", "symlink-out", f_dir_link, 0, 1, 1)
    case("folder_caption_not_utf8", "encoding", f_non_utf8, 0, 1, 2)
    case("folder_caption_file_empty", "empty", f_empty_caption_file, 0, 2, 1)  # e.png: an item without captions
    case("folder_caption_file_is_folder", "dir-as-file", f_caption_dir, 0, 2, 1)
    case("folder_truncated_png", "bad-image", f_truncated_png, 0, 1, 1)
    case("folder_garbage_png", "bad-image", f_garbage_png, 0, 1, 1)
    case("folder_folder_named_png", "dir-as-file", f_png_dir, 0, 1, 1)
    case("folder_over_long_caption_lines", "caption", f_long_line, 0, 2, 2)
    case("folder_empty", "empty", f_empty_folder, 0, 0, 0)
    case("folder_path_is_a_file", "dir-as-file", f_is_file, 2, 0)
    case("folder_missing", "missing", f_missing, 2, 0)
    case("folder_nan_mesh_imported_for_the_renderer", "bad-mesh", f_nan_mesh, 0, 2, 2)
    case("folder_empty_mesh", "bad-mesh", f_empty_mesh, 0, 1, 1)
    case("folder_mesh_symlink_out", "symlink-out", f_mesh_link, 0, 1, 1)
    case("folder_same_file_through_a_symlink", "duplicate", f_alias, 0, 1, 1)
    case("folder_file_name_not_utf8", "encoding", f_bad_name, 0, 1, 1)
    case("folder_dangling_symlink_out", "symlink-out", f_dangling, 0, 1, 1)
    case("folder_symlink_loop", "symlink-out", f_link_loop, 0, 1, 1)
    case("folder_no_caption_files", "empty", f_no_captions, 0, 3, 0)
    case("folder_no_caption_files_meshes", "empty", f_no_captions_meshes, 0, 2, 0)
    case("folder_caption_symlink_loop", "symlink-out", f_caption_loop, 0, 2, 1)

    # ---- csv ---------------------------------------------------------------------------------
    def c_table(d: Path, *rows: str, header: str = "filepath,title") -> tuple[str, ...]:
        _png(d / "good.png")
        table = _text(d / "t.csv", header + "\n" + "good.png,A good caption.\n" + "".join(f"{r}\n" for r in rows))
        return ("import", "csv", str(table))

    def c_link(d: Path) -> tuple[str, ...]:
        _link(d / "link_out.png", secret_png)
        return c_table(d, "link_out.png,Linked out.")

    def c_alias_root(d: Path) -> tuple[str, ...]:
        _png(d / "real" / "a.png", 10)
        _link(d / "sub", d / "real")
        return c_table(d, "real/a.png,Seen once.", "sub/a.png,Seen twice.")

    def c_two_roots(d: Path) -> tuple[str, ...]:
        _png(d / "images" / "sub" / "e.png")
        _text(d / "second.csv", "filepath,title\ne.png,Seen from sub.\n")
        return ("import", "csv", str(d / "second.csv"), "--images-root", str(d / "images" / "sub"))

    def c_two_roots_before(d: Path) -> tuple[tuple[str, ...], ...]:
        first = _text(d / "first.csv", "filepath,title\nsub/e.png,Seen from the root.\n")
        return (("import", "csv", str(first), "--images-root", str(d / "images"),
                 "--name", "csv_same_file_under_two_images_roots"),)

    def c_utf16(d: Path) -> tuple[str, ...]:
        _png(d / "good.png")
        table = _text(d / "t.csv", "filepath,title\ngood.png,A good caption.\n".encode("utf-16"))
        return ("import", "csv", str(table))

    def c_bad_separator(d: Path) -> tuple[str, ...]:
        return (*c_table(d), "--separator", '"')

    case("csv_symlink_out", "symlink-out", c_link, 0, 1, 1)
    case("csv_dotdot_path", "dotdot", lambda d: c_table(d, "../outside/secret.png,Escapes."), 0, 1, 1)
    case("csv_absolute_path_outside", "dotdot", lambda d: c_table(d, f"{secret_png},Absolute."), 0, 1, 1)
    case("csv_nul_in_name", "nul", lambda d: c_table(d, "a\x00b.png,A NUL byte."), 0, 1, 1)
    case("csv_unclosed_quote", "unclosed-quote",
         lambda d: c_table(d, 'good.png,"Never closed', "good.png,After the quote.", "good.png,Last one."), 0, 1, 3)
    case("csv_multi_line_caption", "caption",
         lambda d: c_table(d, 'good.png,"two\nlines"', "good.png,After."), 0, 1, 3)  # the break becomes a space
    case("csv_huge_field", "caption", lambda d: c_table(d, f"good.png,{'y' * 200_000}", "good.png,After."),
         0, 1, 2)
    case("csv_over_long_caption", "caption", lambda d: c_table(d, f"good.png,{LONG}"), 0, 1, 1)
    case("csv_row_not_utf8", "encoding", lambda d: (
        _png(d / "good.png"),
        "import", "csv", str(_text(d / "t.csv", b"filepath,title\ngood.png,Fine.\ngood.png,bad \xff\xfe\n")),
    )[1:], 0, 1, 1)
    case("csv_empty_file", "empty", lambda d: ("import", "csv", str(_text(d / "t.csv", ""))), 2, 0)
    case("csv_header_only", "empty", lambda d: ("import", "csv", str(_text(d / "t.csv", "filepath,title\n"))),
         0, 0, 0)
    case("csv_missing_column", "format", lambda d: c_table(d, header="image,caption"), 2, 0)
    case("csv_missing_image", "missing", lambda d: c_table(d, "nowhere.png,Missing."), 0, 1, 1)
    case("csv_truncated_png", "bad-image",
         lambda d: (_truncated_png(d / "t.png"), c_table(d, "t.png,Truncated."))[1], 0, 1, 1)
    case("csv_image_is_a_folder", "dir-as-file",
         lambda d: ((d / "dir.png").mkdir(), c_table(d, "dir.png,A folder."))[1], 0, 1, 1)
    case("csv_source_is_a_folder", "dir-as-file", lambda d: ("import", "csv", str(d)), 2, 0)
    case("csv_same_file_through_a_symlinked_subfolder", "duplicate", c_alias_root, 0, 2, 2)
    case("csv_same_file_under_two_images_roots", "duplicate", c_two_roots, 0, 1, 1, before=c_two_roots_before)
    case("csv_utf16", "encoding", c_utf16, 2, 0)
    case("csv_separator_is_a_quote", "options", c_bad_separator, 2, 0)
    case("csv_binary_garbage", "format",
         lambda d: ("import", "csv", str(_text(d / "t.csv", os.urandom(4096)))), 2, 0)
    case("csv_too_few_fields", "format", lambda d: c_table(d, "only-one-field", ",,,,"), 0, 1, 1)
    case("csv_allow_outside_missing", "options",
         lambda d: (*c_table(d), "--allow-outside", str(d / "nowhere")), 2, 0)

    # ---- karpathy ----------------------------------------------------------------------------
    def k_source(d: Path, data: object) -> tuple[str, ...]:
        _png(d / "good.png")
        return ("import", "karpathy", str(_json(d / "dataset.json", data)))

    good_k = ("good.png", ["A good caption."])

    def k_link(d: Path) -> tuple[str, ...]:
        _link(d / "link_out.png", secret_png)
        return k_source(d, _karpathy(good_k, ("link_out.png", ["Linked out."])))

    def k_wrong_types(d: Path) -> tuple[str, ...]:
        data = _karpathy(good_k)
        data["images"] += [  # type: ignore[operator]
            {"filename": 7, "sentences": [{"raw": "x"}]},
            {"filename": "good.png", "sentences": "not a list"},
            {"filename": "good.png", "split": ["train"], "sentences": [{"raw": ["a"]}, {"tokens": [1, 2]}, 5]},
            "not an object", None, [],
        ]
        return k_source(d, data)

    def k_deep(d: Path) -> tuple[str, ...]:
        _png(d / "good.png")
        return ("import", "karpathy", str(_text(d / "deep.json", '{"images": ' + "[" * 100_000 + "]" * 100_000 + "}")))

    def k_bytes(d: Path, content: bytes) -> tuple[str, ...]:
        _png(d / "good.png")
        return ("import", "karpathy", str(_text(d / "dataset.json", content)))

    case("karpathy_symlink_out", "symlink-out", k_link, 0, 1, 1)
    case("karpathy_dotdot_filename", "dotdot",
         lambda d: k_source(d, _karpathy(good_k, ("../outside/secret.png", ["Escapes."]))), 0, 1, 1)
    case("karpathy_absolute_filepath", "dotdot", lambda d: k_source(d, {"images": [
        {"filename": "good.png", "sentences": [{"raw": "A good caption."}]},
        {"filepath": "/etc", "filename": "passwd", "sentences": [{"raw": "Passwd."}]}]}), 0, 1, 1,
         extra_forbidden=(passwd,))
    case("karpathy_nested_json", "nested-json", k_deep, 2, 0)
    case("karpathy_top_level_list", "json-types", lambda d: k_source(d, [1, 2, 3]), 2, 0)
    case("karpathy_images_not_a_list", "json-types", lambda d: k_source(d, {"images": {"a": 1}}), 2, 0)
    case("karpathy_wrong_types_inside", "json-types", k_wrong_types, 0, 1, 1)
    case("karpathy_huge_caption", "caption",
         lambda d: k_source(d, _karpathy(("good.png", ["A good caption.", "z" * 10_000_000]))), 0, 1, 1)
    case("karpathy_multi_line_caption", "caption",
         lambda d: k_source(d, _karpathy(("good.png", ["A good caption.", "two\nlines"]))), 0, 1, 1)
    case("karpathy_lone_surrogate_caption", "encoding",
         lambda d: k_bytes(d, b'{"images": [{"filename": "good.png", "sentences": [{"raw": "ok"}, '
                              b'{"raw": "bad \\udcff"}]}]}'), 0, 1, 1)
    case("karpathy_not_utf8", "encoding", lambda d: k_bytes(d, b'{"images": [{"filename": "\xff\xfe"}]}'), 2, 0)
    case("karpathy_empty_file", "empty", lambda d: k_bytes(d, b""), 2, 0)
    case("karpathy_huge_integer", "json-types", lambda d: k_bytes(d, b'{"images": [' + b"9" * 5000 + b"]}"), 2, 0)
    case("karpathy_nul_in_filename", "nul",
         lambda d: k_source(d, _karpathy(good_k, ("a\x00b.png", ["A NUL byte."]))), 0, 1, 1)
    case("karpathy_source_is_a_folder", "dir-as-file", lambda d: ("import", "karpathy", str(d)), 2, 0)

    # ---- coco --------------------------------------------------------------------------------
    def o_source(d: Path, data: object) -> tuple[str, ...]:
        _png(d / "good.png")
        return ("import", "coco", str(_json(d / "captions.json", data)))

    def o_link(d: Path) -> tuple[str, ...]:
        _link(d / "link_out.png", secret_png)
        return o_source(d, _coco(good_k, ("link_out.png", ["Linked out."])))

    def o_wrong_types(d: Path) -> tuple[str, ...]:
        data = _coco(good_k)
        data["images"] += [{"id": True, "file_name": "good.png"}, {"id": 1.5, "file_name": "x.png"},  # type: ignore[operator]
                           {"id": [9], "file_name": "x.png"}, {"id": 9, "file_name": 3}, "nope", None]
        data["annotations"] += [{"image_id": 1, "caption": 5}, {"image_id": 77, "caption": "Unknown image."},  # type: ignore[operator]
                                {"image_id": {"a": 1}, "caption": "x"}, [], None]
        return o_source(d, data)

    def o_alias(d: Path) -> tuple[str, ...]:
        _link(d / "alias.png", d / "good.png")
        return o_source(d, _coco(good_k, ("alias.png", ["The same picture."])))

    def o_garbage(d: Path) -> tuple[str, ...]:
        _text(d / "garbage.png", b"\x89PNG\r\n\x1a\n" + os.urandom(500))
        return o_source(d, _coco(good_k, ("garbage.png", ["Garbage."])))

    case("coco_symlink_out", "symlink-out", o_link, 0, 1, 1)
    case("coco_dotdot_file_name", "dotdot",
         lambda d: o_source(d, _coco(good_k, ("../outside/secret.png", ["Escapes."]))), 0, 1, 1)
    case("coco_nested_json", "nested-json",
         lambda d: ("import", "coco", str(_text(d / "deep.json", '{"images": [], "annotations": '
                                                + "[" * 100_000 + "]" * 100_000 + "}"))), 2, 0)
    case("coco_wrong_types_inside", "json-types", o_wrong_types, 0, 1, 1)
    case("coco_no_annotations", "json-types", lambda d: o_source(d, {"images": []}), 2, 0)
    case("coco_same_file_through_a_symlink", "duplicate", o_alias, 0, 1, 1)
    case("coco_garbage_png", "bad-image", o_garbage, 0, 1, 1)
    case("coco_over_long_caption", "caption", lambda d: o_source(d, _coco(("good.png", ["A good caption.", LONG]))),
         0, 1, 1)

    # ---- flickr-token ------------------------------------------------------------------------
    def t_source(d: Path, *lines: str | bytes) -> tuple[str, ...]:
        _png(d / "good.png")
        body = b"good.png#0\tA good caption.\n" + b"".join(
            (line if isinstance(line, bytes) else line.encode("utf-8")) + b"\n" for line in lines)
        return ("import", "flickr-token", str(_text(d / "captions.token", body)))

    def t_link(d: Path) -> tuple[str, ...]:
        _link(d / "link_out.png", secret_png)
        return t_source(d, "link_out.png#0\tLinked out.")

    case("token_symlink_out", "symlink-out", t_link, 0, 1, 1)
    case("token_dotdot", "dotdot", lambda d: t_source(d, "../outside/secret.png#0\tEscapes."), 0, 1, 1)
    case("token_malformed_lines", "format",
         lambda d: t_source(d, "no tab here", "good.png\tno number", "#0\tno image", "good.png#x\tbad n"), 0, 1, 1)
    case("token_huge_line", "caption", lambda d: t_source(d, "good.png#1\t" + "q" * 10_000_000), 0, 1, 1)
    case("token_line_not_utf8", "encoding", lambda d: t_source(d, b"good.png#1\t\xff\xfe bytes"), 0, 1, 1)
    case("token_empty_file", "empty",
         lambda d: ("import", "flickr-token", str(_text(d / "captions.token", b""))), 0, 0, 0)
    case("token_nul_in_name", "nul", lambda d: t_source(d, "a\x00b.png#0\tA NUL byte."), 0, 1, 1)
    case("token_source_missing", "missing", lambda d: ("import", "flickr-token", str(d / "none.token")), 2, 0)
    case("token_images_root_is_a_file", "dir-as-file",
         lambda d: (*t_source(d), "--images-root", str(d / "good.png")), 2, 0)

    # ---- text2shape --------------------------------------------------------------------------
    def s_source(d: Path, *rows: list[str]) -> tuple[str, ...]:
        _box(d / "meshes" / "good.obj")
        table = _csv(d / "captions.csv", [T2S_HEADER, ["1", "good", "A box.", "Box", "", ""], *rows])
        return ("import", "text2shape", str(table), "--meshes-root", str(d / "meshes"))

    def s_folder_link(d: Path) -> tuple[str, ...]:
        _link(d / "meshes" / "evil", secret_model)
        return s_source(d, ["2", "evil", "A linked box.", "Box", "", ""])

    def s_flat_link(d: Path) -> tuple[str, ...]:
        _link(d / "meshes" / "evil.obj", secret_model / "model.obj")
        return s_source(d, ["2", "evil", "A linked box.", "Box", "", ""])

    def s_view_link(d: Path) -> tuple[str, ...]:
        _png(d / "meshes" / "good" / "view_0.png")
        _link(d / "meshes" / "good" / "view_1.png", secret_png)
        return s_source(d)

    def s_nan(d: Path) -> tuple[str, ...]:
        _nan_mesh(d / "meshes" / "nan.ply")
        return s_source(d, ["2", "nan", "A box with a NaN corner.", "Box", "", ""])

    def s_empty_mesh(d: Path) -> tuple[str, ...]:
        _text(d / "meshes" / "empty.obj", b"")
        return s_source(d, ["2", "empty", "An empty mesh.", "Box", "", ""])

    def s_garbage_view(d: Path) -> tuple[str, ...]:
        _text(d / "meshes" / "good" / "view_0.png", os.urandom(300))
        return s_source(d)

    def s_unclosed(d: Path) -> tuple[str, ...]:
        _box(d / "meshes" / "good.obj")
        table = _text(d / "captions.csv", ",".join(T2S_HEADER) + "\n1,good,A box.,Box,,\n"
                      '2,good,"Never closed,Box,,\n3,good,Another box.,Box,,\n')
        return ("import", "text2shape", str(table), "--meshes-root", str(d / "meshes"))

    case("t2s_symlinked_model_folder", "symlink-out", s_folder_link, 0, 1, 1)
    case("t2s_flat_mesh_symlink_out", "symlink-out", s_flat_link, 0, 1, 1)
    case("t2s_view_symlink_out", "symlink-out", s_view_link, 0, 1, 1)
    case("t2s_dotdot_model_id", "dotdot",
         lambda d: s_source(d, ["2", "../../outside/model", "Escapes.", "Box", "", ""]), 0, 1, 1)
    case("t2s_nan_mesh_imported_for_the_renderer", "bad-mesh", s_nan, 0, 2, 2)
    case("t2s_empty_mesh", "bad-mesh", s_empty_mesh, 0, 1, 1)
    case("t2s_garbage_view_dropped_mesh_kept", "bad-image", s_garbage_view, 0, 1, 1)
    case("t2s_unclosed_quote", "unclosed-quote", s_unclosed, 0, 1, 2)
    case("t2s_multi_line_description", "caption",  # a quoted field with a line break, kept as one line
         lambda d: s_source(d, ["2", "good", "A box\r\nwith a lid.", "Box", "", ""]), 0, 1, 2)
    case("t2s_over_long_description", "caption",
         lambda d: s_source(d, ["2", "good", LONG, "Box", "", ""]), 0, 1, 1)
    case("t2s_nul_in_model_id", "nul", lambda d: s_source(d, ["2", "a\x00b", "A NUL byte.", "Box", "", ""]), 0, 1, 1)
    case("t2s_missing_columns", "format",
         lambda d: ("import", "text2shape", str(_text(d / "c.csv", "a,b\n1,2\n"))), 2, 0)
    case("t2s_meshes_root_missing", "missing",
         lambda d: (*s_source(d)[:3], "--meshes-root", str(d / "nowhere")), 2, 0)

    # ---- objaverse ---------------------------------------------------------------------------
    secret_glb = _box(out / "secret.glb")
    _box(out / "shard" / "hidden.glb")

    def v_root(d: Path) -> Path:
        """glbs/000-000/good.glb: the good record of every objaverse case."""
        _box(d / "obj" / "glbs" / "000-000" / "good.glb")
        return d / "obj"

    def v_captions(d: Path, body: bytes) -> tuple[str, ...]:
        return ("import", "objaverse", str(v_root(d)), "--captions",
                str(_text(d / "cap3d.csv", b"good,A good caption.\n" + body)))

    def v_lvis(d: Path, body: bytes | object) -> tuple[str, ...]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return ("import", "objaverse", str(v_root(d)), "--lvis", str(_text(d / "lvis.json", data)))

    def v_glb_link(d: Path) -> tuple[str, ...]:
        root = v_root(d)
        _link(root / "glbs" / "000-000" / "evil.glb", secret_glb)
        return ("import", "objaverse", str(root), "--captions",
                str(_csv(d / "cap3d.csv", [["good", "A good caption."], ["evil", "A GLB from outside."]])))

    def v_shard_link(d: Path) -> tuple[str, ...]:
        root = v_root(d)
        _link(root / "glbs" / "000-001", out / "shard")
        return ("import", "objaverse", str(root))

    def v_garbage(d: Path) -> tuple[str, ...]:
        root = v_root(d)
        _text(root / "glbs" / "000-000" / "garbage.glb", b"glTF" + os.urandom(300))
        _text(root / "glbs" / "000-000" / "empty.glb", b"")
        return ("import", "objaverse", str(root))

    def v_gzip_bomb(d: Path) -> tuple[str, ...]:
        import gzip

        bomb = _text(d / "lvis-annotations.json.gz", gzip.compress(b" " * (80 << 20), compresslevel=1))
        return ("import", "objaverse", str(v_root(d)), "--lvis", str(bomb))

    case("objaverse_glb_symlink_out", "symlink-out", v_glb_link, 0, 1, 1, extra_forbidden=(secret_glb,))
    case("objaverse_shard_symlink_out", "symlink-out", v_shard_link, 0, 1, 0, extra_forbidden=(out / "shard",))
    case("objaverse_garbage_and_empty_glb", "bad-mesh", v_garbage, 0, 1, 0)
    case("objaverse_cap3d_bad_rows", "format",  # not UTF-8, too many / few fields, no uid, unclosed quote, too long
         lambda d: v_captions(d, b"good,\xff\xfe bytes\ngood,a,b\ngood\n,no uid\ngood,\"never closed\n"
                                 + b"good," + LONG.encode() + b"\ngood,\"A second\nline.\"\n"), 0, 1, 2)
    case("objaverse_cap3d_binary", "encoding", lambda d: v_captions(d, bytes(range(256)) * 40), 0, 1, 1)
    case("objaverse_cap3d_empty", "empty",
         lambda d: ("import", "objaverse", str(v_root(d)), "--captions", str(_text(d / "c.csv", b""))), 2, 0)
    case("objaverse_cap3d_is_a_folder", "dir-as-file",
         lambda d: ("import", "objaverse", str(v_root(d)), "--captions", str(d)), 2, 0)
    case("objaverse_lvis_not_json", "format", lambda d: v_lvis(d, b'{"chair": ["good"'), 2, 0)
    case("objaverse_lvis_a_list", "json-types", lambda d: v_lvis(d, ["good"]), 2, 0)
    case("objaverse_lvis_wrong_types_inside", "json-types",
         lambda d: v_lvis(d, {"chair": 5, "mug": [1, None, {"a": 1}, ""], "": ["good"], "x" * 500: ["good"],
                              "bad\ud800": ["good"], "box": ["good"]}), 0, 1, 0)
    case("objaverse_lvis_nested_json", "nested-json",
         lambda d: v_lvis(d, b'{"chair": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"), 2, 0)
    case("objaverse_lvis_gzip_bomb", "format", v_gzip_bomb, 2, 0)
    case("objaverse_lvis_not_gzip", "format",
         lambda d: ("import", "objaverse", str(v_root(d)), "--lvis", str(_text(d / "l.json.gz", b"{}"))), 2, 0)
    case("objaverse_no_glbs_folder", "format", lambda d: ("import", "objaverse", str(d)), 2, 0)
    case("objaverse_options_for_another_format", "args",
         lambda d: ("import", "folder", str(folder(d)), "--captions", str(_text(d / "c.csv", "good,A caption.\n"))),
         2, 0)
    return cases
