"""Decoding large images reduced (``reduced_image_from_bytes``), as the service does: the
factors it returns map the reduced image's pixels back onto the upright original's."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from faceprint.errors import ImageError
from faceprint.images import declared_size, reduced_image_from_bytes


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
    reduced, (sx, sy) = reduced_image_from_bytes(data, "photo", None, 600_000)
    assert reduced.width * reduced.height <= 600_000
    assert (reduced.width < reduced.height) == (orientation in (6, 8))  # turned upright
    assert (reduced.width * sx, reduced.height * sy) == pytest.approx(full.size, abs=1e-6)
    np.testing.assert_allclose(_centre(reduced) * (sx, sy), _centre(full), atol=4)


def test_a_small_image_is_not_reduced():
    data = _encoded(_marked(400, 300), "PNG")
    image, scale = reduced_image_from_bytes(data, "photo", None, 600_000)
    assert image.size == (400, 300) and scale == (1.0, 1.0)


def test_reduced_decoding_keeps_the_pixel_limit_and_the_errors():
    data = _encoded(_marked(3000, 2000), "PNG")
    with pytest.raises(ImageError, match="photo is 3000x2000"):
        reduced_image_from_bytes(data, "photo", 1_000_000, 600_000)
    with pytest.raises(ImageError, match="empty"):
        reduced_image_from_bytes(b"", "photo", None, 600_000)


def test_declared_size_reads_only_the_header():
    head = _encoded(_marked(3000, 2000), "PNG")[:100]  # the header, no pixel data
    assert declared_size(head) == (3000, 2000)
    assert declared_size(b"not an image") is None
