"""The dataset formats ``trainer import`` reads, and what each takes: one list for the importers
(:mod:`engine.data.importers`), the ``trainer import`` command and the app's Import dialog.

Cheap to import (no catalogue, no image library): the CLI's parser and the dialog read it at start.
To add a format: its entry here, its module in ``engine/data/importers/`` and its loader there.
"""

from __future__ import annotations

from dataclasses import dataclass

IMAGES, MESHES = "images", "meshes"
TEXT2SHAPE, KARPATHY, COCO = "text2shape", "karpathy", "coco"
FLICKR_TOKEN, CSV, FOLDER = "flickr-token", "csv", "folder"
OBJAVERSE = "objaverse"


@dataclass(frozen=True)
class ImportFormat:
    name: str  # the FORMAT argument of ``trainer import``
    title: str  # what people call it
    description: str  # what its source looks like and where its files resolve
    root: str  # IMAGES or MESHES: the root option it takes (``--images-root`` / ``--meshes-root``)
    folder: bool = False  # the source is a folder, not a file
    file_types: str = ""  # the source files' kind, with ``suffixes`` (empty: any file)
    suffixes: tuple[str, ...] = ()


# The Import dialog lists them in this order and preselects the first.
IMPORT_FORMATS: tuple[ImportFormat, ...] = (
    ImportFormat(FLICKR_TOKEN, "Flickr8k / Flickr30k token file",
                 "<image>#<n><TAB><caption> per line (results_20130124.token). Images resolve against the "
                 "images folder (default: the file's folder).", IMAGES,
                 file_types="Token files", suffixes=(".token", ".txt")),
    ImportFormat(KARPATHY, "Karpathy split JSON",
                 "dataset_coco.json, dataset_flickr30k.json, dataset_flickr8k.json; the splits are kept.", IMAGES,
                 file_types="JSON", suffixes=(".json",)),
    ImportFormat(COCO, "COCO captions JSON",
                 "captions_train2017.json and the like; images resolve against the images folder.", IMAGES,
                 file_types="JSON", suffixes=(".json",)),
    ImportFormat(CSV, "CSV / TSV table",
                 "One row per (image, caption); name the image and caption columns below.", IMAGES,
                 file_types="Tables", suffixes=(".csv", ".tsv", ".txt")),
    ImportFormat(FOLDER, "Folder of images or meshes",
                 "Every image or mesh, as it is; a same-name .txt beside one gives it captions (one per "
                 "line); sub-folders are categories.", IMAGES, folder=True),
    ImportFormat(TEXT2SHAPE, "Text2Shape captions CSV",
                 "captions.tablechair.csv; shapes are found under the meshes folder (ShapeNet layout, flat "
                 "<modelId>.obj files, or <modelId>/*.png pre-rendered views).", MESHES,
                 file_types="CSV", suffixes=(".csv",)),
    ImportFormat(OBJAVERSE, "Objaverse GLBs (glbs/000-xxx/<uid>.glb)",
                 "The folder holding glbs/ (hf-objaverse-v1): one item per GLB, Y-up. Optional: Cap3D captions "
                 "(Cap3D_automated_Objaverse.csv, uid,caption rows) and LVIS categories (lvis-annotations.json).",
                 MESHES, folder=True),
)
#: The format names, in the order above (``trainer import``'s choices).
FORMATS: tuple[str, ...] = tuple(f.name for f in IMPORT_FORMATS)
FORMAT_BY_NAME: dict[str, ImportFormat] = {f.name: f for f in IMPORT_FORMATS}
