"""Flickr8k/30k ``results_20130124.token`` files: ``<image>#<n>\\t<caption>`` per line.

Lines naming the same image make one item (key: the image name, as a path relative to the images
root) with one caption observation each. Items are split by a hash of the key. A problem with a
whole item (its image missing, unreadable or outside the root) is reported at the first line that
names the image.
"""

from __future__ import annotations

import re
from pathlib import Path

from engine.data.importers.checks import check_caption
from engine.data.importers.image_items import CaptionedImage, image_records
from engine.data.importers.paths import KeyResolver, PathOutsideRoot, allowed_roots, resolve_root
from engine.data.importers.reading import decoded_lines, require_file
from engine.data.importers.report import ImportReport
from engine.data.importers.source import ImportOptions, LoadedSource

_LINE = re.compile(r"^(?P<image>.+)#(?P<n>\d+)\t(?P<caption>.*)$")


def load(path: Path, options: ImportOptions, report: ImportReport) -> LoadedSource:
    require_file(path)
    root = resolve_root(options.images_root or path.parent, "images root")
    images: dict[str, CaptionedImage] = {}
    keys = KeyResolver(root)
    for lineno, text in decoded_lines(path, report):
        if not text.strip():
            continue
        report.records_read += 1
        where = f"line {lineno}"
        m = _LINE.match(text)
        if m is None:
            report.skip(path, where, "malformed line: expected '<image>#<n><TAB><caption>'")
            continue
        name, (caption, problem) = m.group("image").strip(), check_caption(m.group("caption"))
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
