"""Cheap checks of the files and captions a source names; each returns why a thing is unusable.

Images are opened and verified with PIL (header and, for PNG, chunk CRCs; pixels are not decoded),
which keeps a 100k-image import to a few minutes. Meshes are only checked to exist, be non-empty
and have a mesh suffix: loading them is the renderer's job and would dominate an import.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from PIL import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
MESH_SUFFIXES = (".obj", ".off", ".ply", ".stl", ".glb", ".gltf")


def is_file(path: Path) -> bool:
    """``path.is_file()``, False too when the name itself is unusable (too long, ...)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def _absent(path: Path, what: str) -> str:
    try:
        return f"not a file: {path}" if path.exists() else f"{what} not found: {path}"
    except (OSError, ValueError) as exc:
        return f"{what} path unusable: {path} ({getattr(exc, 'strerror', None) or exc})"


def image_problem(path: Path) -> str | None:
    """None when ``path`` is a readable image, else the reason it is not."""
    if not is_file(path):
        return _absent(path, "image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.verify()
    except Exception as exc:  # noqa: BLE001 - corrupt files raise anything from OSError to struct.error
        return f"unreadable image {path}: {_short(exc)}"
    return None


def mesh_problem(path: Path) -> str | None:
    """None when ``path`` looks like a usable mesh file, else the reason it does not."""
    if not is_file(path):
        return _absent(path, "mesh")
    if path.suffix.lower() not in MESH_SUFFIXES:
        return f"not a mesh format ({', '.join(MESH_SUFFIXES)}): {path}"
    try:
        if path.stat().st_size == 0:
            return f"empty mesh file: {path}"
    except OSError as exc:
        return f"unreadable mesh {path}: {exc.strerror or exc}"
    return None


MAX_CAPTION_CHARS = 2000  # a longer "caption" is a swallowed file or a document, not a caption
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")  # what str.splitlines splits on


def clean_caption(text: str) -> str:
    """A caption with its whitespace collapsed (see :func:`check_caption` for what is refused)."""
    return " ".join(text.split())


def check_caption(text: str, line_breaks: bool = False) -> tuple[str, str | None]:
    """(the cleaned caption, None) or (``""``, why it is refused), the same in every format.

    Refused: a caption with a line break inside it (leading/trailing ones are stripped, as some
    COCO captions end with ``\n``), or one longer than :data:`MAX_CAPTION_CHARS` once cleaned.
    ``line_breaks``: a caption that may legally span lines (a quoted CSV field), its breaks become spaces.
    """
    stripped = text.strip()
    if not line_breaks and not _LINE_BREAKS.isdisjoint(stripped):
        return "", f"caption spans several lines ({_preview(stripped)})"
    cleaned = clean_caption(stripped)
    if len(cleaned) > MAX_CAPTION_CHARS:
        return "", f"caption of {len(cleaned):,} characters (at most {MAX_CAPTION_CHARS:,}; {_preview(cleaned)})"
    return cleaned, None


def _preview(text: str, n: int = 40) -> str:
    head = " ".join(text[: n * 4].split())[:n]
    return repr(head + ("..." if len(text) > n else ""))


def natural_key(name: str) -> list[object]:
    """Sort key putting ``view_2.png`` before ``view_10.png`` (zero-padded names sort as usual)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _short(exc: Exception) -> str:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
