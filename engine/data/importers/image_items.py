"""Image-text items from captioned image names: the last step shared by the image formats.

A format's loader groups its captions by image (:class:`CaptionedImage`) while parsing; this module
turns each group into an ``ItemRecord`` lazily, resolving the image inside the images root (by name
and by real path: a symlink out of the allowed roots is skipped) and checking it, so the checks run
while the catalogue consumes the records.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.catalog.records import ItemRecord
from engine.data.importers.checks import image_problem, is_file
from engine.data.importers.paths import PathOutsideRoot, real_path_inside, resolve_inside
from engine.data.importers.report import ImportReport
from engine.data.splits import split_for_key


@dataclass
class CaptionedImage:
    """One image of a source and its captions.

    ``where`` is where a problem with the whole item is reported (``line 4``: the first line naming
    the image; ``key 1000092795.jpg``). ``candidates`` are image paths relative to the root, tried
    in order (Karpathy's ``filepath/filename``, then ``filename``). ``split`` None = hash of key.
    """

    key: str
    where: str
    candidates: tuple[str, ...]
    captions: list[str] = field(default_factory=list)
    split: str | None = None
    category: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def image_records(
    source: Path, root: Path, images: Iterable[CaptionedImage], report: ImportReport, roots: Sequence[Path]
) -> Iterator[ItemRecord | None]:
    """One ItemRecord per usable image, None (reported) per unusable one, in order.

    ``roots``: the real folders the images may lie in (see ``paths.allowed_roots``); the record
    holds the image's real path."""
    for img in images:
        skipped = f"{len(img.captions)} caption(s) skipped"
        if not img.captions:
            report.skip(source, img.where, f"image {img.key!r} has no usable caption")
            yield None
            continue
        try:
            paths = [resolve_inside(root, name) for name in img.candidates]
        except PathOutsideRoot as exc:
            report.skip(source, img.where, f"{exc}; {skipped}")
            yield None
            continue
        path = next((p for p in paths if is_file(p)), paths[0])
        try:
            path = real_path_inside(path, roots)
        except PathOutsideRoot as exc:
            report.skip(source, img.where, f"{exc}; {skipped}")
            yield None
            continue
        problem = image_problem(path)
        if problem is not None:
            report.skip(source, img.where, f"{problem}; {skipped}")
            yield None
            continue
        yield ItemRecord(
            key=img.key,
            split=img.split or split_for_key(img.key),
            category=img.category,
            meta=img.meta,
            captions=img.captions,
            images=[str(path)],
        )
