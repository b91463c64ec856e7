"""open_clip-style CSV/TSV tables: one row per (image, caption), columns named by ``img_key`` and
``caption_key`` (default ``filepath`` / ``title``).

The separator is ``--separator`` (``\\t`` may be written as an escape), else a tab for ``.tsv`` and
a comma otherwise. Image paths are resolved against ``--images-root``, else the table's folder, and
must stay inside it. Rows naming the same image make one item (key: the image path relative to the
root) with several captions; items are split by a hash of the key.
"""

from __future__ import annotations

from pathlib import Path

from engine.data.importers.checks import check_caption
from engine.data.importers.image_items import CaptionedImage, image_records
from engine.data.importers.paths import KeyResolver, PathOutsideRoot, allowed_roots, resolve_root
from engine.data.importers.reading import csv_rows, require_file
from engine.data.importers.report import ImportReport
from engine.data.importers.source import ImportOptions, LoadedSource

_ESCAPES = {"\\t": "\t", "tab": "\t", "\\s": " ", "space": " "}


def separator_for(path: Path, separator: str | None) -> str:
    if separator:
        return _ESCAPES.get(separator.lower(), separator)
    return "\t" if path.suffix.lower() == ".tsv" else ","


def load(path: Path, options: ImportOptions, report: ImportReport) -> LoadedSource:
    require_file(path)
    img_key, caption_key = options.img_key, options.caption_key
    _, rows = csv_rows(
        path, report, separator_for(path, options.separator), (img_key, caption_key),
        f"table with columns {img_key!r} and {caption_key!r}",
    )
    root = resolve_root(options.images_root or path.parent, "images root")
    images: dict[str, CaptionedImage] = {}
    keys = KeyResolver(root)
    for lineno, row in rows:
        report.records_read += 1
        where = f"line {lineno}"
        name, (caption, problem) = row[img_key].strip(), check_caption(row[caption_key], line_breaks=True)
        if not name:
            report.skip(path, where, f"empty {img_key!r}")
            continue
        if problem is not None:
            report.skip(path, where, f"{problem} for {name!r}")
            continue
        if not caption:
            report.skip(path, where, f"empty caption for {name!r}")
            continue
        try:
            key = keys.key(name)
        except PathOutsideRoot as exc:
            report.skip(path, where, str(exc))
            continue
        img = images.get(key)
        if img is None:
            img = images[key] = CaptionedImage(key=key, where=where, candidates=(key,))
        img.captions.append(caption)
    records = image_records(path, root, images.values(), report, allowed_roots(root, options.allow_outside))
    return LoadedSource(kind="image-text", root=root, records=records, total=len(images))
