"""Opening an image file as model input: upright, RGB, and a JPEG decoded no larger than the model needs.

Every path that turns an image file into pixels for a model goes through :func:`open_rgb` (training from files,
the packed store, evaluation, index builds, image queries), so they all see the same pixels.

* **Scaled JPEG decoding.** A JPEG can be decoded at 1/2, 1/4 or 1/8 of its size for a fraction of the cost
  (``Image.draft``: the decoder scales the DCT blocks, it never makes the full-size pixels). Given the model's
  input ``size``, :func:`open_rgb` asks for the smallest such scale that keeps both sides at least
  ``REDUCING_GAP`` x ``size``, so the model's own resize still shrinks by two or more with its filter: Pillow's
  ``Image.thumbnail`` makes the same trade (its ``reducing_gap=2.0``). A 640x480 COCO photo for a 64 px model is
  decoded at 320x240, about twice as fast end to end, and the model's input stays within about one grey level
  of a full decode's; for a 224 px model it is decoded in full. Other formats are decoded in full.
* **Upright.** A photograph's EXIF orientation is applied (phones store most photos rotated and say so in the
  EXIF), so the model sees the picture as the thumbnails and any image viewer show it. A file whose EXIF cannot
  be read is used as stored.
"""

from __future__ import annotations

import os

from PIL import Image, ImageOps

REDUCING_GAP = 2  # a decoded JPEG keeps both sides >= REDUCING_GAP x the model's input size
DECODE = f"open_rgb(exif upright, jpeg draft >= {REDUCING_GAP}x size)"  # recorded by the packed store


def model_image_size(encoder: object) -> int:
    """The input size (pixels, the larger side) of an encoder's image tower."""
    visual = getattr(getattr(encoder, "clip", encoder), "visual", None)
    size = getattr(visual, "image_size", None) or (getattr(visual, "preprocess_cfg", None) or {}).get("size", 224)
    return int(max(size)) if isinstance(size, (tuple, list)) else int(size)


def draft_size(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    """The smallest decode size (width, height) a JPEG may be scaled down to for a model input of ``size``."""
    if not size:
        return None
    side = max(size) if isinstance(size, tuple) else int(size)
    return (side * REDUCING_GAP, side * REDUCING_GAP) if side > 0 else None


def open_rgb(path: str | os.PathLike[str], size: int | tuple[int, int] | None = None) -> Image.Image:
    """The image at ``path`` as an upright RGB image; a JPEG decoded at the smallest scale fit for ``size``.

    ``size``: the model's input size (pixels, or (H, W)); None decodes at full size. Raises what Pillow raises
    for a file it cannot read (``OSError``, ``ValueError``, ``Image.DecompressionBombError``).
    """
    with Image.open(path) as im:
        wanted = draft_size(size)
        if wanted is not None and im.format == "JPEG":
            im.draft("RGB", wanted)
        image = im.convert("RGB")  # keeps the file's EXIF in image.info
    try:
        ImageOps.exif_transpose(image, in_place=True)
    except (OSError, ValueError, TypeError, SyntaxError, KeyError):  # damaged EXIF: the pixels as stored
        pass
    return image
