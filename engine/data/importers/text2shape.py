"""Text2Shape captions (``captions.tablechair.csv``): ``id, modelId, description, category,
topLevelSynsetId, subSynsetId``, several rows per shape.

One item per ``modelId`` (its key; category = ``category`` lower-cased), one caption observation per
row. Each shape is looked up under ``--meshes-root`` (default: the CSV's folder), first match wins:

* ShapeNet v2 ``<synsetId>/<modelId>/models/model_normalized.obj`` (synset = ``topLevelSynsetId``),
  ShapeNet v1 ``<synsetId>/<modelId>/model.obj``, or the same without the synset folder;
* a flat ``<modelId>.{obj,off,ply,stl,glb,gltf}``;

and pre-rendered views ``<modelId>/*.png`` (also ``.jpg``), in natural name order, become the item's
``view`` observations (a shape with only a mesh is rendered later by ``trainer render``). A shape
with neither is reported under its key and skipped. A mesh or view whose real path is outside the
meshes root (and every ``--allow-outside`` folder), e.g. through a symlinked model folder, is
reported and not used. Items are split by a hash of the key.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from engine.catalog.records import ItemRecord
from engine.data.importers.checks import (
    IMAGE_SUFFIXES,
    MESH_SUFFIXES,
    check_caption,
    image_problem,
    is_dir,
    is_file,
    mesh_problem,
    natural_key,
)
from engine.data.importers.paths import PathOutsideRoot, allowed_roots, real_path_inside, resolve_inside, resolve_root
from engine.data.importers.reading import csv_rows, require_file
from engine.data.importers.report import ImportReport
from engine.data.importers.source import ImportOptions, LoadedSource
from engine.data.splits import split_for_key

_WHAT = "Text2Shape captions CSV (id, modelId, description, category, topLevelSynsetId, subSynsetId)"


@dataclass
class _Shape:
    key: str
    category: str
    synset: str
    sub_synset: str
    captions: list[str] = field(default_factory=list)


def load(path: Path, options: ImportOptions, report: ImportReport) -> LoadedSource:
    require_file(path)
    _, rows = csv_rows(path, report, ",", ("modelId", "description"), _WHAT)
    root = resolve_root(options.meshes_root or path.parent, "meshes root")
    roots = allowed_roots(root, options.allow_outside)
    shapes: dict[str, _Shape] = {}
    for lineno, row in rows:
        report.records_read += 1
        where = f"line {lineno}"
        model_id = row["modelId"].strip()
        if not model_id:
            report.skip(path, where, "empty modelId")
            continue
        caption, problem = check_caption(row["description"], line_breaks=True)
        if problem is not None:
            report.skip(path, where, f"{problem} for {model_id}")
            continue
        if not caption:
            report.skip(path, where, f"empty description for {model_id}")
            continue
        shape = shapes.get(model_id)
        if shape is None:
            shape = shapes[model_id] = _Shape(
                key=model_id,
                category=row.get("category", "").strip().lower(),
                synset=row.get("topLevelSynsetId", "").strip(),
                sub_synset=row.get("subSynsetId", "").strip(),
            )
        shape.captions.append(caption)
    return LoadedSource(
        kind="shape-text", root=root, records=_records(path, root, roots, shapes.values(), report), total=len(shapes)
    )


def _records(
    source: Path, root: Path, roots: tuple[Path, ...], shapes: Iterable[_Shape], report: ImportReport
) -> Iterator[ItemRecord | None]:
    for shape in shapes:
        where = f"key {shape.key}"
        try:
            mesh = find_mesh(root, shape.key, shape.synset)
            views = find_views(root, shape.key)
        except PathOutsideRoot as exc:
            report.skip(source, where, str(exc))
            yield None
            continue
        if mesh is not None:
            try:
                mesh = real_path_inside(mesh, roots)
            except PathOutsideRoot as exc:
                report.skip(source, where, f"mesh dropped: {exc}")
                mesh = None
        if mesh is not None and (problem := mesh_problem(mesh)) is not None:
            report.skip(source, where, problem)
            mesh = None
        good_views: list[str] = []
        for named in views:
            try:
                view = real_path_inside(named, roots)
            except PathOutsideRoot as exc:
                report.skip(source, where, f"view dropped: {exc}")
                continue
            if (problem := image_problem(view)) is not None:
                report.skip(source, where, f"view dropped: {problem}")
            else:
                good_views.append(str(view))
        if mesh is None and not good_views:
            report.skip(source, where, f"no mesh or views under {root}")
            yield None
            continue
        meta = {k: v for k, v in (("synset", shape.synset), ("sub_synset", shape.sub_synset)) if v}
        yield ItemRecord(
            key=shape.key,
            split=split_for_key(shape.key),
            category=shape.category,
            asset_path=str(mesh) if mesh is not None else "",
            meta=meta,
            captions=shape.captions,
            views=good_views,
        )


def find_mesh(root: Path, model_id: str, synset: str = "") -> Path | None:
    """The first mesh file of ``model_id`` in the layouts above, or None."""
    candidates: list[Path] = []
    for base in ([resolve_inside(root, synset)] if synset else []) + [root]:
        folder = resolve_inside(base, model_id)
        candidates += [folder / "models" / "model_normalized.obj", folder / "model.obj"]
    flat = resolve_inside(root, model_id)
    candidates += [flat.with_name(flat.name + suffix) for suffix in MESH_SUFFIXES]
    return next((c for c in candidates if is_file(c)), None)


def find_views(root: Path, model_id: str) -> list[Path]:
    """Pre-rendered views ``<root>/<modelId>/*.png`` in natural order (empty when there are none)."""
    folder = resolve_inside(root, model_id)
    if not is_dir(folder):
        return []
    try:
        views = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and is_file(p)]
    except OSError:
        return []
    return sorted(views, key=lambda p: natural_key(p.name))
