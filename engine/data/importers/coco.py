"""COCO caption annotations (``captions_train2017.json``, ...).

``{"images": [{"id", "file_name"}, ...], "annotations": [{"image_id", "caption"}, ...]}``. Key: the
``file_name``; image: ``root/file_name``. Items are split by a hash of the key (COCO's own
train/val files can be imported into one dataset without their images mixing across splits).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.data.importers.checks import check_caption
from engine.data.importers.image_items import CaptionedImage, image_records
from engine.data.importers.paths import allowed_roots, resolve_root
from engine.data.importers.reading import load_json, require_file
from engine.data.importers.report import ImportReport
from engine.data.importers.source import ImportFailed, ImportOptions, LoadedSource

_WHAT = 'COCO captions JSON ({"images": [{"id", "file_name"}], "annotations": [{"image_id", "caption"}]})'


def load(path: Path, options: ImportOptions, report: ImportReport) -> LoadedSource:
    require_file(path)
    root = resolve_root(options.images_root or path.parent, "images root")
    data = load_json(path, _WHAT)
    if not isinstance(data, dict):
        raise ImportFailed(f"{path}: not a {_WHAT}: the top level is not an object")
    entries, annotations = data.get("images"), data.get("annotations")
    if not isinstance(entries, list) or not isinstance(annotations, list):
        missing = "images" if not isinstance(entries, list) else "annotations"
        first = entries[:9] if isinstance(entries, list) else []
        karpathy = any(isinstance(e, dict) and "sentences" in e for e in first)
        hint = "; it looks like a Karpathy split file (format karpathy)" if karpathy else ""
        raise ImportFailed(f"{path}: not a {_WHAT}: no {missing!r} list{hint}")

    by_id: dict[Any, CaptionedImage] = {}
    by_key: dict[str, CaptionedImage] = {}
    for i, entry in enumerate(entries):
        ok = isinstance(entry, dict) and _is_id(entry.get("id")) and isinstance(entry.get("file_name"), str)
        if not ok or not entry["file_name"].strip():
            report.skip(path, f"images[{i}]", "not an image entry with \"id\" and \"file_name\"")
            continue
        key = entry["file_name"].strip()
        if entry["id"] in by_id:
            report.skip(path, f"images[{i}]", f"image id {entry['id']} listed twice")
            continue
        img = by_key.get(key)  # the same file under two ids: one item
        if img is None:
            img = by_key[key] = CaptionedImage(key=key, where=f"key {key}", candidates=(key,),
                                               meta={"coco_id": entry["id"]})
        by_id[entry["id"]] = img

    for i, ann in enumerate(annotations):
        report.records_read += 1
        where = f"annotations[{i}]"
        if not isinstance(ann, dict) or not _is_id(ann.get("image_id")):
            report.skip(path, where, "not an annotation with \"image_id\" and \"caption\"")
            continue
        img = by_id.get(ann["image_id"])
        if img is None:
            report.skip(path, where, f"unknown image_id {ann['image_id']}")
            continue
        caption, problem = check_caption(ann["caption"]) if isinstance(ann.get("caption"), str) else ("", None)
        if problem is not None:
            report.skip(path, where, f"{problem} for {img.key!r}")
            continue
        if not caption:
            report.skip(path, where, f"empty caption for {img.key!r}")
            continue
        img.captions.append(caption)
    records = image_records(path, root, by_key.values(), report, allowed_roots(root, options.allow_outside))
    return LoadedSource(kind="image-text", root=root, records=records, total=len(by_key))


def _is_id(value: Any) -> bool:
    return isinstance(value, int | str) and not isinstance(value, bool)
