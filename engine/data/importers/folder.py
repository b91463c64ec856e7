"""A folder of images (png/jpg/jpeg/webp/bmp) or meshes (obj/off/ply/stl/glb/gltf), each imported with or
without a same-stem ``.txt`` holding one caption per line (blank lines ignored).

Every readable image or mesh becomes an item; one without a caption file (or whose caption file has no usable
line) has no text observations: it can be searched with a pretrained model (``trainer index --pretrained``),
not trained on. The folder is walked recursively (hidden files and folders skipped, symlinked folders not
followed); a symlinked file whose real path is outside the folder (and every ``--allow-outside`` folder) is
skipped and reported; such a caption file is reported and its item imported without it. A caption line longer
than the caption limit is reported and skipped. Key: the file's path relative to the folder; category: its
sub-folder (``chair`` for ``chair/a.obj``, empty at the top). A folder holding both kinds is imported as the kind
with more captioned files (files with a ``.txt``; all files when neither kind has one), each captioned file of the
other kind being reported; as many of each is an ImportFailed. Images without captions beside meshes are their
textures (ShapeNet's ``images/texture0.jpg``): neither counted nor reported. Meshes make
a ``shape-text`` dataset (rendered later by ``trainer render``), images an ``image-text`` one.
Items are split by a hash of the key. Each item keeps its file's size and mtime (``meta["file"]``): importing the
same folder into the same dataset again synchronises it (``sync.py``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from engine.catalog.records import FILE_STAMP, ItemRecord
from engine.data.importers.checks import (
    IMAGE_SUFFIXES,
    MESH_SUFFIXES,
    check_caption,
    image_problem,
    is_file,
    mesh_problem,
)
from engine.data.importers.paths import PathOutsideRoot, allowed_roots, key_inside, real_path_inside
from engine.data.importers.reading import decoded_lines
from engine.data.importers.report import ImportReport
from engine.data.importers.source import ImportFailed, ImportOptions, LoadedSource
from engine.data.importers.sync import file_stamp
from engine.data.splits import split_for_key


def load(path: Path, options: ImportOptions, report: ImportReport) -> LoadedSource:
    if not path.exists():
        raise ImportFailed(f"{path}: no such folder")
    if not path.is_dir():
        raise ImportFailed(f"{path}: is a file; the folder format takes a folder of images or meshes")
    root = path.resolve()
    roots = allowed_roots(root, options.allow_outside)
    images, meshes = _scan(root)
    report.records_read = len(images) + len(meshes)
    if images and meshes:
        captioned_images, captioned_meshes = _captioned(images), _captioned(meshes)
        if captioned_images or captioned_meshes:  # textures and stray pictures have no captions
            n_images, n_meshes = len(captioned_images), len(captioned_meshes)
        else:
            n_images, n_meshes = len(images), len(meshes)
        if n_images == n_meshes:
            raise ImportFailed(
                f"{path}: holds {n_images} images and {n_meshes} meshes; "
                "a folder must hold one kind (the kind with more files is imported)"
            )
        keep, drop = (images, meshes) if n_images > n_meshes else (meshes, images)
        if keep is meshes and captioned_meshes:
            drop = captioned_images  # the others are the meshes' textures
        kept_name = "images" if keep is images else "meshes"
        why = f"not one of the folder's {kept_name} ({n_images} images, {n_meshes} meshes)"
        for file in drop:
            report.skip(path, f"key {key_inside(root, file)}", why)
    else:
        keep = images or meshes
    is_mesh = bool(keep) and keep is meshes
    if not keep:
        report.skip(path, "folder", f"no images ({', '.join(IMAGE_SUFFIXES)}) or meshes "
                                    f"({', '.join(MESH_SUFFIXES)}) found")
    return LoadedSource(
        kind="shape-text" if is_mesh else "image-text",
        root=root,
        records=_records(path, root, roots, keep, is_mesh, report, options.known),
        total=len(keep),
    )


def _captioned(files: list[Path]) -> list[Path]:
    return [f for f in files if f.with_suffix(".txt").is_file()]


def _scan(root: Path) -> tuple[list[Path], list[Path]]:
    images: list[Path] = []
    meshes: list[Path] = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            suffix = os.path.splitext(name)[1].lower()
            if suffix in IMAGE_SUFFIXES:
                images.append(Path(folder, name))
            elif suffix in MESH_SUFFIXES:
                meshes.append(Path(folder, name))
    return images, meshes


def _captions(text_file: Path, real_text: Path, report: ImportReport) -> list[str]:
    """The captions of a caption file, one a non-blank line; each refused line is reported."""
    captions: list[str] = []
    for lineno, line in decoded_lines(real_text, report):
        caption, problem = check_caption(line)
        if problem is not None:
            report.skip(text_file, f"line {lineno}", problem)
        elif caption:
            captions.append(caption)
    return captions


def _records(
    source: Path, root: Path, roots: tuple[Path, ...], files: list[Path], is_mesh: bool, report: ImportReport,
    known: Mapping[str, Mapping[str, int]],
) -> Iterator[ItemRecord | None]:
    for file in files:
        key = key_inside(root, file)
        where = f"key {key}"
        try:
            real_file = real_path_inside(file, roots)
        except PathOutsideRoot as exc:
            report.skip(source, where, str(exc))
            yield None
            continue
        try:
            stamp: dict[str, int] | None = file_stamp(real_file)
        except OSError as exc:
            stamp, problem = None, f"cannot be read: {exc.strerror or exc}"
        if stamp is not None:  # a file unchanged since it was imported was checked then
            problem = None if known.get(key) == stamp else (mesh_problem(real_file) if is_mesh
                                                             else image_problem(real_file))
        if problem is not None or stamp is None:
            report.skip(source, where, problem or "cannot be read")
            yield None
            continue
        yield ItemRecord(
            key=key,
            split=split_for_key(key),
            category=key.rpartition("/")[0],  # the sub-folder: its path relative to the folder, "" at the top
            asset_path=str(real_file) if is_mesh else "",
            meta={FILE_STAMP: stamp},  # how a rescan tells a changed file (importers/sync.py)
            captions=_item_captions(source, where, file.with_suffix(".txt"), roots, report),
            images=[] if is_mesh else [str(real_file)],
        )


def _item_captions(source: Path, where: str, text_file: Path, roots: tuple[Path, ...], report: ImportReport
                   ) -> list[str]:
    """The captions of the file beside an item: none without a caption file; a caption file that cannot be read
    (outside the roots, permissions, ...) is reported and the item keeps no captions."""
    if not is_file(text_file):
        return []
    try:
        return _captions(text_file, real_path_inside(text_file, roots), report)
    except (PathOutsideRoot, ImportFailed) as exc:
        report.skip(source, where, f"caption file {text_file.name} not read: {exc}")
        return []
