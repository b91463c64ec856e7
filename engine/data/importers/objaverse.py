"""Objaverse 1.0 as its downloader lays it out (``hf-objaverse-v1``): ``ROOT/glbs/<shard>/<uid>.glb``, shards
named ``000-000`` ... ``000-159``.

One item per GLB (key: its uid, the file's stem; split by a hash of the key); the meshes are Y-up (glTF's
definition), the default ``--up``. ROOT is the folder holding ``glbs/`` (or ``glbs/`` itself). Optional:

* ``--captions``: Cap3D's ``Cap3D_automated_Objaverse*.csv``, rows ``uid,caption`` without a header row (a
  first row ``uid,caption`` is taken as one and skipped). A caption is matched to a GLB by uid; the rows of uids
  that are not under ROOT (Cap3D captions ~785k objects; a download is usually a part of them) are counted in a
  note, not reported one by one. A row that is not ``uid,caption`` or whose caption breaks the caption rule is
  reported (file, line, reason) and skipped.
* ``--lvis``: the LVIS annotations (``lvis-annotations.json``, or the downloader's ``.json.gz``): an object
  ``{category: [uid, ...]}``. An item's category is the first category listing its uid (in file order); uids in
  several categories are counted in a note, uids not under ROOT too. A category whose value is not a list, or a
  uid that is not a string, is reported (file, ``key <category>[i]``, reason) and skipped.

A GLB is checked cheaply (loading it is the renderer's job): non-empty, its 12-byte header says ``glTF`` version
2 and the file's length (a truncated download is caught). A GLB or shard folder whose real path lies outside ROOT
(and every ``--allow-outside`` folder) is reported and skipped; so is a uid found in two shards (the first is
kept). Other files (``*.tmp`` of an interrupted download, ...) are ignored.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import struct
from collections.abc import Iterator
from pathlib import Path

from engine.catalog.records import ItemRecord
from engine.data.importers.checks import check_caption, mesh_problem
from engine.data.importers.paths import PathOutsideRoot, allowed_roots, real_path_inside, resolve_root
from engine.data.importers.reading import csv_rows, load_json, open_source, require_file
from engine.data.importers.report import ImportReport
from engine.data.importers.source import ImportFailed, ImportOptions, LoadedSource
from engine.data.splits import split_for_key

GLBS = "glbs"
_SHARD = re.compile(r"\d{3}-\d{3}")
_CAP3D = "Cap3D captions CSV (uid,caption rows)"
_LVIS = "file of LVIS annotations ({category: [uid, ...]})"
_HEADER_UIDS = frozenset({"uid", "object_id", "objaverse_uid"})
_MAX_CATEGORY_CHARS = 200
_MAX_GZ_BYTES = 64 << 20  # the real lvis-annotations.json is a few MB; more than this is not one


def load(path: Path, options: ImportOptions, report: ImportReport) -> LoadedSource:
    if options.images_root is not None or options.meshes_root is not None:
        raise ImportFailed(f"{path}: objaverse takes ROOT, the folder holding glbs/; "
                           "--images-root and --meshes-root do not apply")
    root = resolve_root(path, "Objaverse folder")
    roots = allowed_roots(root, options.allow_outside)
    glbs = _glbs_folder(path, root, roots)
    found = _scan(path, glbs, roots, report)
    report.records_read = len(found)
    if not found:
        report.skip(path, "folder", f"no <uid>.glb files in {glbs} or its shard folders")
    captions = _captions(options.captions, found, report) if options.captions is not None else {}
    categories = _categories(options.lvis, found, report) if options.lvis is not None else {}
    return LoadedSource(
        kind="shape-text", root=root, records=_records(path, roots, found, captions, categories, report),
        total=len(found),
    )


def _glbs_folder(path: Path, root: Path, roots: tuple[Path, ...]) -> Path:
    """``ROOT/glbs`` (its real path, inside the roots), or ROOT when it is the glbs folder itself."""
    glbs = root / GLBS
    if glbs.is_dir():
        try:
            return real_path_inside(glbs, roots)
        except PathOutsideRoot as exc:
            raise ImportFailed(f"{path}: {exc}") from exc
    if root.name == GLBS or any(_SHARD.fullmatch(name) and (root / name).is_dir() for name in _names(root)):
        return root
    raise ImportFailed(f"{path}: no {GLBS}/ folder; expected Objaverse's layout {GLBS}/000-023/<uid>.glb")


def _names(folder: Path) -> list[str]:
    try:
        return sorted(os.listdir(folder))
    except OSError as exc:
        raise ImportFailed(f"{folder}: cannot be listed ({exc.strerror or exc})") from exc


def _scan(source: Path, glbs: Path, roots: tuple[Path, ...], report: ImportReport) -> dict[str, str]:
    """uid -> GLB path of every ``<shard>/<uid>.glb`` (and ``<uid>.glb``) under ``glbs``, in name order.

    Paths are kept as strings: a full Objaverse download holds ~800k GLBs."""
    found: dict[str, str] = {}
    for name in _names(glbs):
        entry = os.path.join(glbs, name)
        if name.startswith("."):
            continue
        if _is_glb(name):
            _add(found, name, entry, source, report)
            continue
        if not os.path.isdir(entry):
            continue
        try:
            real_path_inside(entry, roots)  # a shard folder symlinked out of the roots is not even listed
            names = sorted(os.listdir(entry))
        except PathOutsideRoot as exc:
            report.skip(source, f"folder {GLBS}/{name}", f"shard skipped: {exc}")
            continue
        except OSError as exc:
            report.skip(source, f"folder {GLBS}/{name}", f"shard skipped: cannot be listed ({exc.strerror or exc})")
            continue
        for file in names:
            if _is_glb(file) and not file.startswith("."):
                _add(found, file, os.path.join(entry, file), source, report)
    return found


def _is_glb(name: str) -> bool:
    return name.lower().endswith(".glb") and len(name) > len(".glb")


def _add(found: dict[str, str], name: str, path: str, source: Path, report: ImportReport) -> None:
    uid = name[: -len(".glb")]
    first = found.get(uid)
    if first is not None:
        report.skip(source, f"key {uid}", f"{path}: the same uid as {first}; the first is kept")
        return
    found[uid] = path


def _captions(csv_path: Path, found: dict[str, str], report: ImportReport) -> dict[str, list[str]]:
    """uid -> captions of the uids in ``found``; the other uids' rows are counted in a note."""
    require_file(csv_path)
    _, rows = csv_rows(csv_path, report, ",", ("uid", "caption"), _CAP3D, columns=("uid", "caption"))
    captions: dict[str, list[str]] = {}
    elsewhere = 0
    for lineno, row in rows:
        where = f"line {lineno}"
        uid = row["uid"].strip()
        if lineno == 1 and uid.lower() in _HEADER_UIDS:
            continue  # a header row some copies of the file have
        if not uid:
            report.skip(csv_path, where, "empty uid")
            continue
        if uid not in found:
            elsewhere += 1
            continue
        caption, problem = check_caption(row["caption"], line_breaks=True)
        if problem is not None or not caption:
            report.skip(csv_path, where, f"{problem or 'empty caption'} for {uid}")
            continue
        kept = captions.setdefault(uid, [])
        if caption not in kept:
            kept.append(caption)
    report.notes.append(
        f"{csv_path.name}: captions for {len(captions):,} of the {len(found):,} GLBs; "
        f"{_count(elsewhere, 'row')} for uids not under the folder (not imported)"
    )
    return captions


def _categories(lvis_path: Path, found: dict[str, str], report: ImportReport) -> dict[str, str]:
    """uid -> the first LVIS category listing it, for the uids in ``found``."""
    data = _lvis_document(lvis_path)
    if not isinstance(data, dict):
        raise ImportFailed(f"{lvis_path}: not a {_LVIS}: the document is a {_json_type(data)}")
    category_of: dict[str, str] = {}
    several: set[str] = set()
    elsewhere = 0
    for key, uids in data.items():
        category = key.strip()
        problem = _category_problem(category)
        if problem is None and not isinstance(uids, list):
            problem = f"expected a list of uids, found a {_json_type(uids)}"
        if problem is not None:
            shown = key if key.strip() and key.isprintable() and len(key) <= 80 else repr(key[:80])
            report.skip(lvis_path, f"key {shown}", f"category skipped: {problem}")
            continue
        for i, uid in enumerate(uids):
            if not isinstance(uid, str) or not uid.strip():
                report.skip(lvis_path, f"key {category}[{i}]", f"not a uid: {_json_type(uid)} {str(uid)[:40]!r}")
                continue
            uid = uid.strip()
            if uid not in found:
                elsewhere += 1
                continue
            first = category_of.setdefault(uid, category)
            if first != category:
                several.add(uid)
    report.notes.append(
        f"{lvis_path.name}: categories for {len(category_of):,} of the {len(found):,} GLBs "
        f"({len(several):,} in several categories: the first listed kept); "
        f"{_count(elsewhere, 'listed uid')} not under the folder"
    )
    return category_of


def _lvis_document(path: Path) -> object:
    """The parsed LVIS annotations, ``.json`` or gzip-compressed ``.json.gz``."""
    if path.suffix.lower() != ".gz":
        return load_json(path, _LVIS)
    with open_source(path) as raw:
        try:
            with gzip.GzipFile(fileobj=raw) as f:
                data = f.read(_MAX_GZ_BYTES + 1)
        except (OSError, EOFError) as exc:
            raise ImportFailed(f"{path}: not a {_LVIS}: unreadable gzip ({exc})") from exc
    if len(data) > _MAX_GZ_BYTES:
        raise ImportFailed(f"{path}: not a {_LVIS}: decompresses to more than {_MAX_GZ_BYTES:,} bytes")
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ImportFailed(f"{path}: not a {_LVIS}: invalid JSON ({str(exc)[:80]})") from None


def _category_problem(category: str) -> str | None:
    if not category:
        return "empty category name"
    if len(category) > _MAX_CATEGORY_CHARS:
        return f"category name of {len(category):,} characters (at most {_MAX_CATEGORY_CHARS})"
    try:
        category.encode("utf-8")
    except UnicodeEncodeError:
        return "category name is not valid Unicode text (lone surrogates)"
    if not category.isprintable():
        return "category name with a line break or control character"
    return None


def _count(n: int, what: str) -> str:
    return f"{n:,} {what}{'' if n == 1 else 's'}"


def _json_type(value: object) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def glb_problem(path: Path) -> str | None:
    """None when ``path`` starts with a GLB 2 header whose length is the file's, else why it does not."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(12)
    except OSError as exc:
        return f"unreadable GLB {path}: {exc.strerror or exc}"
    if len(head) < 12 or head[:4] != b"glTF":
        return f"not a GLB file (no glTF header): {path}"
    version, length = struct.unpack("<II", head[4:])
    if version != 2:
        return f"GLB version {version}, expected 2: {path}"
    if length != size:
        return f"damaged GLB (its header says {length:,} bytes, the file has {size:,}; a truncated download?): {path}"
    return None


def _records(
    source: Path,
    roots: tuple[Path, ...],
    found: dict[str, str],
    captions: dict[str, list[str]],
    categories: dict[str, str],
    report: ImportReport,
) -> Iterator[ItemRecord | None]:
    for uid, glb in found.items():
        where = f"key {uid}"
        try:
            real = real_path_inside(glb, roots)
        except PathOutsideRoot as exc:
            report.skip(source, where, str(exc))
            yield None
            continue
        problem = mesh_problem(real) or glb_problem(real)
        if problem is not None:
            report.skip(source, where, problem)
            yield None
            continue
        yield ItemRecord(
            key=uid,
            split=split_for_key(uid),
            category=categories.get(uid, ""),
            asset_path=str(real),
            captions=captions.get(uid, []),
        )
