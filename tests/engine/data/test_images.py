"""Image files as model input: scaled JPEG decoding, EXIF orientation, and the batched encoder's decoding workers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.data.images import REDUCING_GAP, draft_size, open_rgb
from engine.errors import CrossfoldError
from engine.evaluate.encode import _Images, encode_image_files, encode_images
from engine.models.factory import build_encoder


def _photo(path: Path, size: tuple[int, int] = (640, 480), exif: Image.Exif | None = None) -> Path:
    """A smooth, photograph-like picture (gradients and a disc) with a bright marker in its top-left corner."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    disc = ((x - w * 0.6) ** 2 + (y - h * 0.5) ** 2 < (min(w, h) * 0.3) ** 2) * 80
    pixels = np.stack([x / w * 200 + disc, y / h * 200, 120 + disc / 2], axis=-1)
    pixels[: h // 8, : w // 8] = 255  # the marker shows which way the picture was turned
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    kwargs = {"exif": exif} if exif is not None else {}
    image.save(path, quality=92, **kwargs)
    return path


def test_draft_size_keeps_a_reducing_gap() -> None:
    assert draft_size(None) is None and draft_size(0) is None
    assert draft_size(64) == (64 * REDUCING_GAP, 64 * REDUCING_GAP)
    assert draft_size((64, 96)) == (96 * REDUCING_GAP, 96 * REDUCING_GAP)


def test_jpeg_is_decoded_at_the_smallest_scale_the_model_allows(tmp_path: Path) -> None:
    path = _photo(tmp_path / "a.jpg")
    assert open_rgb(path).size == (640, 480)
    small = open_rgb(path, 64)  # 1/2 scale: both sides stay >= 128; 1/4 (160x120) would not
    assert small.size == (320, 240) and small.mode == "RGB"
    assert open_rgb(path, 224).size == (640, 480)  # 1/2 would leave 240 < 448: full size
    assert open_rgb(path, 32).size == (160, 120)


def test_scaled_decoding_gives_the_model_nearly_the_same_input(tmp_path: Path) -> None:
    _, _, preprocess, _ = build_encoder("cf-rn-tiny-64")
    path = _photo(tmp_path / "a.jpg")
    full, scaled = preprocess(open_rgb(path)), preprocess(open_rgb(path, 64))
    # normalised units: one grey level is 1 / 255 / std ~ 0.015
    assert float((full - scaled).abs().mean()) < 0.01
    assert float((full - scaled).abs().max()) < 0.1


def test_png_is_decoded_in_full(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    Image.new("RGBA", (300, 200), (10, 20, 30, 128)).save(path)
    image = open_rgb(path, 32)
    assert image.size == (300, 200) and image.mode == "RGB"


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: shown turned 90 degrees clockwise
    path = _photo(tmp_path / "phone.jpg", exif=exif)
    image = open_rgb(path)
    assert image.size == (480, 640)
    pixels = np.asarray(image)
    # the marker (top-left as stored) is top-right once upright
    assert pixels[:40, -40:].mean() > 240 and pixels[:40, :40].mean() < 240
    assert open_rgb(path, 64).size == (240, 320)


def test_damaged_exif_is_ignored(tmp_path: Path) -> None:
    path = _photo(tmp_path / "a.jpg")
    data = path.read_bytes()
    # an APP1 "Exif" segment whose TIFF header is garbage, right after the SOI marker
    bad = b"\xff\xe1" + (2 + 6 + 8).to_bytes(2, "big") + b"Exif\x00\x00" + b"\x00garbage"
    broken = tmp_path / "broken-exif.jpg"
    broken.write_bytes(data[:2] + bad + data[2:])
    assert open_rgb(broken, 64).size == (320, 240)


@pytest.fixture(scope="module")
def tiny() -> tuple[torch.nn.Module, object]:
    encoder, _, preprocess, _ = build_encoder("cf-rn-tiny-64")
    return encoder.eval(), preprocess


def test_decoding_workers_give_the_same_embeddings(tmp_path: Path, tiny) -> None:
    encoder, preprocess = tiny
    paths = [str(_photo(tmp_path / f"{i}.jpg", (200 + 13 * i, 150 + 7 * i))) for i in range(10)]
    inline = encode_images(encoder, paths, preprocess, torch.device("cpu"), batch_size=4, workers=0)
    workers = encode_images(encoder, paths, preprocess, torch.device("cpu"), batch_size=4, workers=1)
    assert inline.shape == (10, encoder.embed_dim)
    torch.testing.assert_close(workers, inline, rtol=1e-5, atol=1e-6)  # unit vectors: |x| <= 1


@pytest.mark.parametrize("workers", [0, 1])
def test_an_unreadable_image_is_named_in_one_line(tmp_path: Path, tiny, workers: int) -> None:
    encoder, preprocess = tiny
    good = [str(_photo(tmp_path / f"{i}.jpg")) for i in range(3)]
    bad = tmp_path / "truncated.jpg"
    bad.write_bytes(Path(good[0]).read_bytes()[:200])
    with pytest.raises(CrossfoldError) as err:
        encode_images(encoder, [*good, str(bad)], preprocess, torch.device("cpu"), batch_size=2, workers=workers)
    message = str(err.value)
    assert message.startswith(f"{bad}: cannot read the image") and "\n" not in message


def test_images_dataset_reports_instead_of_raising(tmp_path: Path, tiny) -> None:
    _, preprocess = tiny
    missing = tmp_path / "gone.jpg"
    tensor, error = _Images([str(missing)], preprocess, 64)[0]
    assert tensor is None and error.startswith(f"{missing}: cannot read the image")


def test_encode_image_files_leaves_out_what_it_cannot_read(tmp_path: Path, tiny) -> None:
    encoder, preprocess = tiny
    paths = [str(_photo(tmp_path / f"{i}.jpg")) for i in range(5)]
    Path(paths[1]).write_bytes(b"not a jpeg")
    Path(paths[4]).unlink()
    emb, kept, problems = encode_image_files(encoder, paths, preprocess, torch.device("cpu"), batch_size=2,
                                             workers=0)
    assert kept == [0, 2, 3] and emb.shape == (3, encoder.embed_dim)
    assert [p.split(": ")[0] for p in problems] == [paths[1], paths[4]]
    every = encode_image_files(encoder, [paths[i] for i in kept], preprocess, torch.device("cpu"), workers=0)[0]
    torch.testing.assert_close(emb, every, rtol=1e-5, atol=1e-6)
