"""Karpathy split files (``dataset_flickr30k.json``, ``dataset_coco.json``, ``dataset_flickr8k.json``).

``{"images": [{"filename", "filepath"?, "split", "sentences": [{"raw", "tokens"}, ...]}, ...]}``.
Key: ``filepath/filename`` when ``filepath`` is there (COCO), else ``filename``. The image is
``root/filepath/filename``, else ``root/filename``. The source's split is kept (``restval`` ->
``train``); an entry without a known split gets the hash split.
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
from engine.data.splits import normalize_split

_WHAT = "Karpathy split JSON ({\"images\": [{\"filename\", \"split\", \"sentences\"}, ...]})"


def load(path: Path, options: ImportOptions, report: ImportReport) -> LoadedSource:
    require_file(path)
    root = resolve_root(options.images_root or path.parent, "images root")
    data = load_json(path, _WHAT)
    entries = data.get("images") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ImportFailed(f"{path}: not a {_WHAT}: no \"images\" list")
    if entries and not any(isinstance(e, dict) and "filename" in e for e in entries):
        hint = "; it looks like COCO captions (format coco)" if "annotations" in data else ""
        raise ImportFailed(f"{path}: not a {_WHAT}: no image entry has a \"filename\"{hint}")
    images: dict[str, CaptionedImage] = {}
    for i, entry in enumerate(entries):
        img = _entry(path, i, entry, report)
        if img is None:
            continue
        if img.key in images:  # the same image listed twice: one item with all captions
            images[img.key].captions.extend(img.captions)
        else:
            images[img.key] = img
    records = image_records(path, root, images.values(), report, allowed_roots(root, options.allow_outside))
    return LoadedSource(kind="image-text", root=root, records=records, total=len(images))


def _entry(path: Path, i: int, entry: Any, report: ImportReport) -> CaptionedImage | None:
    filename = entry.get("filename") if isinstance(entry, dict) else None
    if not isinstance(filename, str) or not filename.strip():
        report.records_read += 1
        report.skip(path, f"images[{i}]", "not an image entry with a \"filename\"")
        return None
    filename = filename.strip()
    filepath = entry.get("filepath")
    filepath = filepath.strip().strip("/") if isinstance(filepath, str) else ""
    key = f"{filepath}/{filename}" if filepath else filename
    where = f"key {key}"
    sentences = entry.get("sentences")
    if not isinstance(sentences, list):
        report.records_read += 1
        report.skip(path, where, "no \"sentences\" list")
        return None
    captions: list[str] = []
    for j, sentence in enumerate(sentences):
        report.records_read += 1
        caption, problem = _sentence_text(sentence)
        if problem is not None:
            report.skip(path, where, f"sentence {j}: {problem}")
        elif caption:
            captions.append(caption)
        else:
            report.skip(path, where, f"sentence {j}: empty or not a {{\"raw\": ...}} sentence")
    meta = {k: entry[k] for k in ("imgid", "cocoid") if isinstance(entry.get(k), int | str)}
    return CaptionedImage(
        key=key,
        where=where,
        candidates=(key, filename) if filepath else (key,),
        captions=captions,
        split=normalize_split(entry.get("split")),
        meta=meta,
    )


def _sentence_text(sentence: Any) -> tuple[str, str | None]:
    """(caption, None), ("", why it is refused), or ("", None) when there is no text at all."""
    if not isinstance(sentence, dict):
        return "", None
    raw = sentence.get("raw")
    if isinstance(raw, str):
        return check_caption(raw)
    tokens = sentence.get("tokens")
    if isinstance(tokens, list) and all(isinstance(t, str) for t in tokens):
        return check_caption(" ".join(t.strip() for t in tokens))
    return "", None
