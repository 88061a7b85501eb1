"""Decoding large images reduced (``decode_reduced``), as the service does: its pixels map back
onto the upright original's, and a file's declared size is read from its header alone."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from faceprint.errors import ImageError
from faceprint.images import declared_size, decode_reduced


def _marked(width: int, height: int) -> Image.Image:
    """White, with one black 60 x 60 square whose centre is at (0.75 w, 0.2 h)."""
    image = Image.new("RGB", (width, height), "white")
    x, y = int(width * 0.75), int(height * 0.2)
    image.paste((0, 0, 0), (x - 30, y - 30, x + 30, y + 30))
    return image


def _centre(image: Image.Image) -> np.ndarray:
    ys, xs = np.nonzero(np.asarray(image.convert("L")) < 128)
    return np.array([xs.mean(), ys.mean()])


def _encoded(image: Image.Image, image_format: str, orientation: int = 1) -> bytes:
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(out, image_format, exif=exif.tobytes(), quality=95)
    return out.getvalue()


@pytest.mark.parametrize(
    ("image_format", "orientation"), [("JPEG", 1), ("JPEG", 6), ("PNG", 1), ("PNG", 8)]
)
def test_reduced_coordinates_map_back_to_the_upright_original(image_format, orientation):
    data = _encoded(_marked(3000, 2000), image_format, orientation)
    full = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    reduced = decode_reduced(data, 600_000, "photo")
    assert reduced.image.width * reduced.image.height <= 600_000 and reduced.scale > 1
    assert reduced.original_size == full.size
    assert (reduced.image.width < reduced.image.height) == (orientation in (6, 8))  # upright
    np.testing.assert_allclose(
        reduced.to_original(_centre(reduced.image)), _centre(full), atol=reduced.scale
    )


def test_a_small_image_is_not_reduced():
    reduced = decode_reduced(_encoded(_marked(400, 300), "PNG"), 600_000, "photo")
    assert reduced.image.size == (400, 300) and reduced.scale == 1


def test_reduced_decoding_keeps_the_pixel_limit_and_the_errors():
    data = _encoded(_marked(3000, 2000), "PNG")
    with pytest.raises(ImageError, match="photo is 3000x2000"):
        decode_reduced(data, 600_000, "photo", max_pixels=1_000_000)
    with pytest.raises(ImageError, match="empty"):
        decode_reduced(b"", 600_000, "photo")


def test_declared_size_reads_only_the_header():
    head = _encoded(_marked(3000, 2000), "PNG")[:100]  # the header, no pixel data
    assert declared_size(head) == (3000, 2000)
    assert declared_size(b"not an image") is None
