"""The packed store: a dataset's views (or images) decoded once, at the model's input size, in one uint8 file.

Training from PNG files decodes and resizes every view of every batch again; on a small machine that decoding
takes the cores the training step needs. The packed store does it once: one file per dataset and input size,

    <workspace>/renders/packed/<dataset>-<size>.u8      (the folder: :attr:`engine.workspace.Workspace.packed`)

holding ``N`` images of ``H x W x 3`` uint8 pixels back to back (row ``r`` at byte ``r * H * W * 3``; the
views of a shape are consecutive rows, in view order), then a JSON index, then its length (8 bytes, little
endian) and the magic ``CFPACK01``. The index maps every packed file path to its row (rows in the order written:
0, 1, 2, ...) and records the pixel transform, a *stamp* (a sha256 of every packed file's path, size and
modification time) and a CRC-32 of every block of :data:`BLOCK_ROWS` rows of pixels. The pixels are what
the model's preprocessing makes of the file *before* ``ToTensor`` (open_clip: resize + centre crop, RGB); the
loader memory-maps the file (``np.memmap``, no decoding), and :class:`PixelNormalizer` applies the rest of the
preprocessing (``ToTensor``'s scaling, ``Normalize``) to whole batches, on the training device — on the CPU the
tensors are bit-for-bit those of the PNG path (the tests compare them).

The file is written to a temporary sibling and renamed into place, index included, so a store that exists is
complete. It is *stale* when a packed file changed (the stamp differs: a re-render, an edited image), when the
training split has a file it lacks (new items, new views), or when the model's pixel transform differs; a stale
store is never read: training falls back to the files with a one-line hint, or (``store: packed``) rebuilds it.

A damaged store is never read either. Its index is checked whole before use (:func:`read_index`: its sizes add
up to the file's, every row is in range and in order), else it is not used, as a stale one; a block of pixels is
checked against its CRC the first time a run reads it (one pass over the file in a whole run), and a block that
does not match is read from the image files instead (:meth:`PackedStore.read`, with a one-line warning). A store
of the first version (no checksums) is not used: ``auto`` falls back to the files with a note to pack again,
``packed`` packs again; ``trainer pack`` checks every block and rewrites a damaged store.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import struct
import zlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from engine.atomic import replacing
from engine.data.images import DECODE, open_rgb
from engine.disk import reserve
from engine.errors import CrossfoldError

SUFFIX = ".u8"
MAGIC = b"CFPACK01"
VERSION = 2  # 1: no block checksums
BLOCK_ROWS = 64  # rows of pixels per checksum (64 views of 224 px: 9.6 MB)
MAX_SIDE = 4096  # px: no store holds larger images (engine.mesh_files.VIEW_SIZES)

log = logging.getLogger(__name__)
_TRAILER = struct.Struct("<Q8s")
STORE_CHOICES = ("auto", "packed", "files")


class StoreUnavailable(CrossfoldError):
    """No usable packed store (``reason`` says why: not packed yet, stale, another transform)."""


# ------------------------------------------------------------------------------------------------- transforms


@dataclass(frozen=True)
class PixelTransform:
    """The PIL part of a preprocessing pipeline: image file -> ``H x W x 3`` uint8 pixels."""

    ops: tuple[Callable[[Image.Image], Image.Image], ...]
    size: tuple[int, int]  # (H, W)

    @property
    def description(self) -> str:
        return " | ".join([DECODE, *(repr(op) for op in self.ops)])

    def pixels(self, path: str | os.PathLike[str]) -> np.ndarray:
        image = open_rgb(path, self.size)
        for op in self.ops:
            image = op(image)
        array = np.asarray(image.convert("RGB") if image.mode != "RGB" else image, dtype=np.uint8)
        if array.shape != (*self.size, 3):
            raise CrossfoldError(f"{path}: preprocessing gave {array.shape[1]}x{array.shape[0]} pixels, "
                                 f"expected {self.size[1]}x{self.size[0]}")
        return array


class PixelNormalizer:
    """The tensor part of a preprocessing pipeline, on batches: uint8 ``[..., H, W, 3]`` -> float ``[..., 3, H, W]``.

    Does what ``ToTensor`` then the remaining transforms (``Normalize``) do to one image, to a whole batch at
    once, on whatever device the pixels are on. Float input (the PNG path's output) passes through unchanged.
    """

    def __init__(self, ops: Sequence[Callable[[torch.Tensor], torch.Tensor]]) -> None:
        self.ops = tuple(ops)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype != torch.uint8:
            return images
        x = images.movedim(-1, -3).contiguous()
        x = x.to(dtype=torch.get_default_dtype()).div(255)  # torchvision's to_tensor
        for op in self.ops:
            x = op(x)
        return x


def split_preprocess(preprocess: Callable[..., Any]) -> tuple[PixelTransform, PixelNormalizer]:
    """Split a torchvision ``Compose`` at its ``ToTensor``: (PIL part, tensor part).

    StoreUnavailable when the pipeline cannot be split so that the store gives the same tensors: no
    ``Compose``, no ``ToTensor``, a random transform (a train-time augmentation), a tensor transform other than
    ``Normalize``, or no fixed output size.
    """
    from torchvision import transforms as T

    ops = list(getattr(preprocess, "transforms", []))
    cut = next((i for i, op in enumerate(ops) if isinstance(op, T.ToTensor)), None)
    if not isinstance(preprocess, T.Compose) or cut is None:
        raise StoreUnavailable(f"the model's preprocessing ({type(preprocess).__name__}) has no ToTensor step")
    pil_ops, tensor_ops = ops[:cut], ops[cut + 1 :]
    for op in pil_ops:
        if "Random" in type(op).__name__:
            raise StoreUnavailable(f"the model's preprocessing is random ({op!r}): pixels cannot be stored")
    for op in tensor_ops:
        if not isinstance(op, T.Normalize):
            raise StoreUnavailable(f"the model's preprocessing has a tensor step the store cannot batch: {op!r}")
    size = _output_size(pil_ops)
    if size is None:
        raise StoreUnavailable("the model's preprocessing has no fixed output size (no centre crop)")
    return PixelTransform(tuple(pil_ops), size), PixelNormalizer(tensor_ops)


def _output_size(ops: Sequence[Callable[[Image.Image], Image.Image]]) -> tuple[int, int] | None:
    """(H, W) the PIL ops give whatever the input's size (tried on two differently shaped blank images)."""
    sizes = set()
    for w, h in ((97, 61), (53, 120)):
        image = Image.new("RGB", (w, h))
        for op in ops:
            image = op(image)
        sizes.add((image.height, image.width))
    return sizes.pop() if len(sizes) == 1 else None


def pixel_transform_for_size(size: int) -> Callable[..., Any]:
    """open_clip's default evaluation preprocessing at ``size`` (what models without their own config use)."""
    import open_clip

    return open_clip.image_transform(size, is_train=False)


# ------------------------------------------------------------------------------------------------- files


def store_path(packed: Path, dataset: str, size: tuple[int, int]) -> Path:
    """The store of ``dataset`` at ``size`` in the folder of packed stores (a workspace's ``packed``)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", dataset)
    tag = f"{size[0]}" if size[0] == size[1] else f"{size[0]}x{size[1]}"
    return Path(packed) / f"{name}-{tag}{SUFFIX}"


def stamp(paths: Iterable[str]) -> str:
    """sha256 of every file's path, size and modification time (in the given order)."""
    h = hashlib.sha256()
    for p in paths:
        try:
            st = os.stat(p)
            h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{p}\0missing\n".encode())
    return h.hexdigest()


def dataset_visuals(catalog: Any, dataset: str) -> tuple[str, list[str]]:
    """(modality, paths) of every visual observation of the dataset (all splits), item by item, in view order."""
    ds = catalog.require_dataset(dataset)
    modality = "view" if ds.kind == "shape-text" else "image"
    seen: set[str] = set()
    paths = []
    for _, _, path, _ in catalog.observations(ds.id, modality, None):
        if path and path not in seen:
            seen.add(path)
            paths.append(path)
    return modality, paths


@dataclass
class PackReport:
    path: Path
    images: int
    size: tuple[int, int]
    bytes: int
    action: str  # built | up to date


def pack_dataset(
    catalog: Any, packed: Path, dataset: str, preprocess: Callable[..., Any], threads: int | None = None,
    on_progress: Callable[[int, int], None] | None = None, force: bool = False,
) -> PackReport:
    """Write (or keep, when up to date) the packed store of ``dataset`` for ``preprocess``'s pixel transform."""
    pixel, _ = split_preprocess(preprocess)
    modality, paths = dataset_visuals(catalog, dataset)
    if not paths:
        hint = " (render it first: `trainer render`)" if modality == "view" else ""
        raise CrossfoldError(f"dataset {dataset!r} has no {modality}s to pack{hint}")
    path = store_path(packed, dataset, pixel.size)
    if not force:
        try:
            store = PackedStore.open(path, pixel, paths)
            if not store.damaged_blocks():
                return PackReport(path, store.count, store.size, path.stat().st_size, "up to date")
        except StoreUnavailable:
            pass
    write_store(path, paths, pixel, threads=threads, on_progress=on_progress, dataset=dataset)
    return PackReport(path, len(paths), pixel.size, path.stat().st_size, "built")


def write_store(
    path: Path, paths: Sequence[str], pixel: PixelTransform, threads: int | None = None,
    on_progress: Callable[[int, int], None] | None = None, dataset: str = "",
) -> None:
    """Decode ``paths`` through ``pixel`` into a new store at ``path`` (temp file + rename: all or nothing)."""
    from engine.threads import job_cores

    h, w = pixel.size
    n = len(paths)
    row_bytes = h * w * 3
    sums: list[int] = []
    before = stamp(paths)
    with replacing(path) as tmp, open(tmp, "r+b") as f:
        reserve(f, n * row_bytes)  # the space first: a memory map past a full disk dies of SIGBUS
        if n:
            array = np.memmap(f, dtype=np.uint8, mode="r+", shape=(n, h, w, 3))
            workers = max(1, threads or job_cores())
            done = 0
            with ThreadPoolExecutor(max_workers=workers) as pool:  # PIL decodes and resizes without the GIL
                for i, pixels in enumerate(pool.map(pixel.pixels, paths)):
                    array[i] = pixels
                    done += 1
                    if on_progress is not None and (done % 64 == 0 or done == n):
                        on_progress(done, n)
            array.flush()
            sums = block_sums(array)
            del array
        after = stamp(paths)
        if after != before:
            raise CrossfoldError(f"files of {dataset or path.name} changed while packing; pack again")
        index = {"version": VERSION, "dataset": dataset, "count": n, "height": h, "width": w,
                 "transform": pixel.description, "stamp": after, "rows": {p: i for i, p in enumerate(paths)},
                 "block_rows": BLOCK_ROWS, "crc32": sums}
        blob = json.dumps(index, separators=(",", ":")).encode("utf-8")
        f.seek(n * row_bytes)
        f.write(blob)
        f.write(_TRAILER.pack(len(blob), MAGIC))
        f.flush()


def block_sums(array: np.ndarray) -> list[int]:
    """The CRC-32 of every block of :data:`BLOCK_ROWS` rows of ``array``, in order."""
    return [_crc(array[start : start + BLOCK_ROWS]) for start in range(0, len(array), BLOCK_ROWS)]


def _crc(rows: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(rows).data)


def read_index(path: Path) -> dict[str, Any]:
    """The JSON index of a store file, checked whole (StoreUnavailable if absent, not a complete store, or damaged:
    see :func:`_check_index`)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            end = f.tell()
            if end < _TRAILER.size:
                raise StoreUnavailable(f"{path.name} is not a packed store")
            f.seek(end - _TRAILER.size)
            length, magic = _TRAILER.unpack(f.read(_TRAILER.size))
            if magic != MAGIC or length > end - _TRAILER.size:
                raise StoreUnavailable(f"{path.name} is not a packed store")
            f.seek(end - _TRAILER.size - length)
            index = json.loads(f.read(length).decode("utf-8"))
    except FileNotFoundError:
        raise StoreUnavailable("not packed yet") from None
    except (OSError, ValueError, RecursionError) as exc:
        raise StoreUnavailable(f"{path.name} cannot be read ({type(exc).__name__})") from None
    problem = _check_index(index, end - _TRAILER.size - length)
    if problem is not None:
        raise StoreUnavailable(f"{path.name} {problem}")
    return index


def _whole(value: Any, lo: int, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def _check_index(index: Any, pixel_bytes: int) -> str | None:
    """What is wrong with a store's index (None: nothing) whose pixels take ``pixel_bytes`` bytes of the file: the
    version, the sizes (which must add up to the file's), every row (0, 1, 2, ... in the order written: a row out
    of range, negative, repeated or moved is damage) and one checksum per block."""
    if not isinstance(index, dict):
        return "is damaged (its index is not a JSON object)"
    if index.get("version") == 1:
        return "was packed by an earlier version, without checksums; pack it again"
    if index.get("version") != VERSION:
        return "was written by another version"
    count, h, w, rows = index.get("count"), index.get("height"), index.get("width"), index.get("rows")
    if not (_whole(count, 0, 2**40) and _whole(h, 1, MAX_SIDE) and _whole(w, 1, MAX_SIDE)):
        return "is damaged (its index has no plausible count and size)"
    if count * h * w * 3 != pixel_bytes:
        return f"is damaged (its index counts {count} images of {w}x{h}, the file holds {pixel_bytes} bytes of pixels)"
    if not isinstance(index.get("transform"), str) or not isinstance(index.get("stamp"), str):
        return "is damaged (its index has no transform or stamp)"
    if not isinstance(rows, dict) or len(rows) != count or any(
            not _whole(r, i, i) for i, r in enumerate(rows.values())):
        return "is damaged (its rows are not 0 to count - 1 in order)"
    sums, block = index.get("crc32"), index.get("block_rows")
    if not _whole(block, 1, 2**20) or not isinstance(sums, list) or len(sums) != -(-count // block) or not all(
            _whole(c, 0, 2**32 - 1) for c in sums):
        return "is damaged (its index has no checksum for every block)"
    return None


class PackedStore:
    """A store opened for reading: ``read(paths)`` gives their pixels, ``uint8 [len(paths), H, W, 3]``.

    The memory map is opened lazily in each process that reads (a pickled store carries only its path and index).
    """

    def __init__(self, path: Path, index: dict[str, Any], pixel: PixelTransform | None = None) -> None:
        self.path = Path(path)
        self.rows: dict[str, int] = index["rows"]
        self.count = int(index["count"])
        self.size = (int(index["height"]), int(index["width"]))
        self.transform = str(index["transform"])
        self.block_rows = int(index["block_rows"])
        self.sums: list[int] = list(index["crc32"])
        self.pixel = pixel  # what reads a damaged block's views from their files instead
        self.checked: dict[int, bool] = {}  # block -> whether it matched its checksum (this process, this run)
        self._array: np.ndarray | None = None

    @classmethod
    def open(cls, path: Path, pixel: PixelTransform, needed: Iterable[str]) -> PackedStore:
        """The store at ``path`` if it is complete, up to date and holds every ``needed`` path."""
        index = read_index(path)
        if index.get("transform") != pixel.description or (index["height"], index["width"]) != pixel.size:
            raise StoreUnavailable("packed with another preprocessing")
        rows: dict[str, int] = index["rows"]
        missing = sum(1 for p in needed if p not in rows)
        if missing:
            raise StoreUnavailable(f"out of date ({missing} files not packed)")
        if stamp(rows) != index["stamp"]:
            raise StoreUnavailable("out of date (files changed since packing)")
        return cls(path, index, pixel)

    @property
    def array(self) -> np.ndarray:
        if self._array is None:
            h, w = self.size
            self._array = np.memmap(self.path, dtype=np.uint8, mode="r", shape=(self.count, h, w, 3))
        return self._array

    def read(self, paths: Sequence[str]) -> np.ndarray:
        """The pixels of ``paths``; those in a block that does not match its checksum come from their files."""
        rows = [self.rows[p] for p in paths]
        out = self.array[rows]
        for i, (path, row) in enumerate(zip(paths, rows, strict=True)):
            if not self._block_ok(row // self.block_rows):
                if self.pixel is None:
                    raise CrossfoldError(f"{self.path}: packed pixels damaged; `trainer pack --force` rewrites them")
                out[i] = self.pixel.pixels(path)
        return out

    def _block_ok(self, block: int, warn: bool = True) -> bool:
        ok = self.checked.get(block)
        if ok is None:
            start = block * self.block_rows
            ok = self.checked[block] = _crc(self.array[start : start + self.block_rows]) == self.sums[block]
            if not ok and warn:
                log.warning("packed store %s: rows %d-%d do not match their checksum (damaged); their views are read "
                            "from the image files (`trainer pack --force` rewrites the store)", self.path, start,
                            min(start + self.block_rows, self.count) - 1)
        return ok

    def damaged_blocks(self) -> list[int]:
        """Every block that does not match its checksum (reads the whole store)."""
        return [b for b in range(len(self.sums)) if not self._block_ok(b, warn=False)]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_array"] = None
        return state


# ------------------------------------------------------------------------------------------------- choice


def pack_hint(dataset: str, model: str) -> str:
    return f"`trainer pack {dataset} --model {model}` packs them once"


def choose_store(
    mode: str, catalog: Any, packed: Path, dataset: str, model: str, preprocess: Callable[..., Any],
    needed: Sequence[str], on_note: Callable[[str], None] | None = None,
) -> tuple[PackedStore | None, PixelNormalizer | None]:
    """The store training reads (None: the PNG files) and the batch normalizer that goes with it.

    ``auto``: the packed store when it is there and up to date, else the files (``on_note`` gets a one-line
    hint). ``packed``: the store, (re)built first when missing or stale. ``files``: the files.
    """
    if mode not in STORE_CHOICES:
        raise CrossfoldError(f"store must be one of {', '.join(STORE_CHOICES)}, not {mode!r}")
    if mode == "files":
        return None, None
    try:
        pixel, normalizer = split_preprocess(preprocess)
    except StoreUnavailable as exc:
        if mode == "packed":
            raise CrossfoldError(f"--store packed: {exc}") from None
        return None, None
    path = store_path(packed, dataset, pixel.size)
    try:
        return PackedStore.open(path, pixel, needed), normalizer
    except StoreUnavailable as exc:
        if mode == "auto":
            if on_note is not None:
                on_note(f"views of {dataset!r} are decoded from image files each step (packed store {exc}); "
                        f"{pack_hint(dataset, model)}")
            return None, None
    pack_dataset(catalog, packed, dataset, preprocess, force=True)
    return PackedStore.open(path, pixel, needed), normalizer
