"""Turning whatever the user passes into RGB images, with clear errors for what cannot be used.

Accepted single images: a file path, a PIL image, an ``(H, W, 3)`` uint8 numpy array or torch
tensor (``(H, W)``, ``(H, W, 1)`` and ``(H, W, 4)`` are read as grayscale and RGBA). A batch is a
list or tuple of those, or a ``(B, H, W, 3)`` array or tensor. Sizes may differ inside a list.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from faceprint.errors import ImageError

logger = logging.getLogger(__name__)

ImageInput = str | os.PathLike | Image.Image | np.ndarray | torch.Tensor

#: Largest image, in pixels, that faceprint decodes: Pillow's own decompression-bomb limit.
MAX_PIXELS: int = Image.MAX_IMAGE_PIXELS or 89_478_485
#: Smallest side, in pixels, of an image faceprint reads, whichever detector runs: a face in
#: a smaller one is too small to recognise, and MTCNN's proposal window (12x12) cannot scan it.
#: Checked where images are decoded, before any detector is chosen.
MIN_SIDE: int = 12

#: File suffixes taken for images when a folder is searched.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
#: Metadata from which Pillow reads an orientation (EXIF, XMP).
_ORIENTATION_INFO = ("exif", "xmp", "XML:com.adobe.xmp", "Raw profile type exif")
_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N"}


def is_batch(images: object) -> bool:
    """True when ``images`` is a list/tuple or a 4-D array/tensor (facenet-pytorch's rule)."""
    if isinstance(images, (list, tuple)):
        return True
    return isinstance(images, (np.ndarray, torch.Tensor)) and images.ndim == 4


def as_image_list(images: ImageInput | Sequence[ImageInput]) -> list[ImageInput]:
    """Split a single image or a batch into a list of single images."""
    if not is_batch(images):
        return [images]  # type: ignore[list-item]
    return list(images)  # type: ignore[arg-type]


def image_size(image: ImageInput) -> tuple[int, int]:
    """``(width, height)`` of one image as faceprint sees it (upright, EXIF applied)."""
    if isinstance(image, (np.ndarray, torch.Tensor)):
        return int(image.shape[1]), int(image.shape[0])
    return to_pil(image).size


def declared_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` that an image file's header declares, read without decoding the
    pixels; None when the header cannot be read (decoding the file says why)."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except Exception:  # any damage: decoding the file names it
        return None


def image_files(folder: str | os.PathLike) -> list[Path]:
    """The image files under ``folder``, searched recursively by :data:`IMAGE_SUFFIXES`,
    sorted."""
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def load_image(path: str | os.PathLike) -> Image.Image:
    """Read an image file as an upright RGB PIL image.

    EXIF orientation is applied, palette/grayscale/CMYK/RGBA images become RGB (alpha is
    dropped) and 16-bit images are scaled to 8 bits.

    Raises:
        ImageError: the file is missing, not an image, truncated or larger than ``MAX_PIXELS``.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such image file")
    return _decode(path, str(path))[0]


def image_from_bytes(
    data: bytes, name: str = "image", max_pixels: int | None = None
) -> Image.Image:
    """Decode an image file's bytes (an upload, an object-store blob) as :func:`load_image`
    reads a file; errors name the image ``name``.

    Args:
        data: the file's bytes.
        name: what errors call the image.
        max_pixels: refuse images larger than this, judged from the header before decoding
            (default :data:`MAX_PIXELS`).
    """
    if not data:
        raise ImageError(f"{name}: an empty (zero-byte) file")
    return _decode(io.BytesIO(data), name, max_pixels)[0]


@dataclass(frozen=True)
class ReducedImage:
    """An image decoded at most ``max_decoded_pixels`` large, for detection on huge photos.

    Attributes:
        image: upright RGB PIL image, ``scale`` times smaller than the file on each side
            (rounded up).
        scale: original pixels per decoded pixel on each side, an integer >= 1 (1: not
            reduced).
        original_size: ``(width, height)`` of the file's upright image.
    """

    image: Image.Image
    scale: int
    original_size: tuple[int, int]

    def to_original(self, coords: np.ndarray) -> np.ndarray:
        """Map coordinates in :attr:`image` (``(N, 4)`` boxes ``x1, y1, x2, y2``, ``(N, 5, 2)``
        landmarks, any ``(..., 2k)`` x/y array) to the original image's, as float32."""
        return np.asarray(coords, dtype=np.float32) * np.float32(self.scale)


def decode_reduced(
    source: bytes | str | os.PathLike,
    max_decoded_pixels: int,
    name: str | None = None,
    max_pixels: int | None = None,
) -> ReducedImage:
    """Decode an image file (a path, or its bytes) no larger than ``max_decoded_pixels``.

    JPEGs are decoded directly at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling, Pillow's
    ``draft``), so the full-size pixels never exist; other formats are decoded whole and
    box-averaged down at once (``Image.reduce``), before the RGB conversion and detection. Boxes
    found on :attr:`ReducedImage.image` map back with :meth:`ReducedImage.to_original`.

    Args:
        source: a file path, or the file's bytes.
        max_decoded_pixels: the most pixels the returned image may have (> 0).
        name: what errors call the image (default: the path, or ``"image"``).
        max_pixels: refuse files declaring more pixels than this (default :data:`MAX_PIXELS`).

    Raises:
        ImageError: as :func:`load_image` and :func:`image_from_bytes`.
    """
    if max_decoded_pixels < 1:
        raise ValueError(f"max_decoded_pixels must be positive, got {max_decoded_pixels}")
    if isinstance(source, (bytes, bytearray, memoryview)):
        name = name or "image"
        if not source:
            raise ImageError(f"{name}: an empty (zero-byte) file")
        source = io.BytesIO(source)
    else:
        source = Path(source)
        name = name or str(source)
        if not source.is_file():
            raise ImageError(f"{name}: no such image file")
    image, scale, size = _decode(source, name, max_pixels, max_decoded_pixels)
    return ReducedImage(image, scale, size)


def _decode(source, name, max_pixels=None, max_decoded_pixels=None):
    """Open, fully decode and convert one image file; every failure is an ImageError.

    Returns ``(upright RGB image, reduction factor, original upright (width, height))``.
    """
    limit = max_pixels or MAX_PIXELS  # read now: callers may raise MAX_PIXELS
    with _decoding(name, limit), warnings.catch_warnings(record=True) as caught:
        # Pillow warns of damaged metadata it skips; the pixels decide, so only log them.
        warnings.simplefilter("always")
        with Image.open(source) as img:
            _check_pixels(img.size, name, limit)
            size, scale = img.size, 1
            if max_decoded_pixels and img.format == "JPEG":
                scale = _draft(img, max_decoded_pixels)
            img.load()
            if img.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # a quarter turn swaps the sides
                size = size[::-1]
            if max_decoded_pixels:
                img, factor = _reduce(img, max_decoded_pixels)
                scale *= factor
            rgb = to_rgb_pil(img)
            for key in _ORIENTATION_INFO:  # applied: a damaged copy is not parsed again later
                rgb.info.pop(key, None)
        for warning in caught:
            logger.debug("%s: %s", name, warning.message)
    return rgb, scale, size


@contextlib.contextmanager
def _decoding(name: str, limit: int) -> Iterator[None]:
    """Turn whatever Pillow raises on a damaged file into one ImageError naming ``name``.

    Besides OSError, Pillow raises SyntaxError, ValueError, TypeError, struct.error,
    AttributeError, ... on damaged PNG, TIFF, GIF, WebP and JPEG files (the fuzz test in
    tests/test_images.py counts them); none of them is a fault of the caller's code. A
    MemoryError is not the file's to answer for, and goes on as it is.
    """
    try:
        yield
    except ImageError:
        raise
    except Image.DecompressionBombError as e:
        declared = re.search(r"\((\d+) pixels\)", str(e))
        size = f"{declared.group(1)} pixels" if declared else "too many pixels"
        raise ImageError(
            f"{name}: declares {size}, more than the {limit} faceprint decodes "
            "(a decompression bomb?); downscale it first"
        ) from None
    except UnidentifiedImageError:
        raise ImageError(
            f"{name}: not an image file Pillow can decode (corrupt or wrong format)"
        ) from None
    except OSError as e:
        raise ImageError(
            f"{name}: cannot decode image ({e}); the file is corrupt or truncated"
        ) from None
    except MemoryError:
        raise
    except Exception as e:
        raise ImageError(
            f"{name}: cannot decode image ({_qualified(e)}: {e}); the file is damaged"
        ) from None


def _qualified(error: BaseException) -> str:
    kind = type(error)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"


def _draft(img: Image.Image, max_decoded_pixels: int) -> int:
    """Ask libjpeg to decode ``img`` at the smallest of 1, 1/2, 1/4, 1/8 scale that fits
    ``max_decoded_pixels`` (1/8 if none does); returns the scale taken."""
    w, h = img.size
    for k in (1, 2, 4, 8):
        if -(-w // k) * -(-h // k) <= max_decoded_pixels:
            break
    if k == 1:
        return 1
    drafted = img.draft(img.mode, (max(1, w // k), max(1, h // k)))
    return 1 if drafted is None else round(w / drafted[1][2])


def _reduce(img: Image.Image, max_decoded_pixels: int) -> tuple[Image.Image, int]:
    """Box-average a decoded image by the smallest integer factor that fits the budget."""
    w, h = img.size
    factor = max(1, math.isqrt(w * h // max_decoded_pixels))
    while -(-w // factor) * -(-h // factor) > max_decoded_pixels:
        factor += 1
    if factor == 1:
        return img, 1
    if img.mode in ("P", "PA", "1") or img.mode in _SIXTEEN_BIT_MODES:
        img = to_rgb_pil(img)  # palette indices and 16-bit samples cannot be averaged as they are
    return img.reduce(factor), factor


def to_rgb_pil(img: Image.Image) -> Image.Image:
    """Return ``img`` upright (EXIF orientation applied) in RGB mode, 8 bits per channel."""
    _check_pixels(img.size, "image")
    img = ImageOps.exif_transpose(img) or img
    if img.mode in _SIXTEEN_BIT_MODES or img.mode in ("I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode in _SIXTEEN_BIT_MODES or arr.max() > 255 else 255.0
        arr = np.clip(np.rint(arr * (255.0 / top)), 0, 255).astype(np.uint8)
        img = Image.fromarray(arr, mode="L")
    if img.mode == "RGB":
        return img
    return img.convert("RGB")


def to_rgb_array(image: ImageInput, name: str = "image") -> np.ndarray:
    """Convert one image to a contiguous ``(H, W, 3)`` uint8 RGB array (values 0..255).

    Args:
        image: a path, PIL image, or ``(H, W[, C])`` uint8 array/tensor with C in {1, 3, 4}.
        name: how the image is called in error messages, e.g. ``"image 3 of the batch"``.

    Raises:
        ImageError: wrong type, shape or dtype, unreadable file, too small or too large.
    """
    if isinstance(image, (str, os.PathLike)):
        arr = np.asarray(load_image(image))
        name = str(image) if name == "image" else f"{name} ({image})"
    elif isinstance(image, Image.Image):
        lazy = isinstance(image, ImageFile.ImageFile)  # from Image.open: it decodes here
        with _decoding(name, MAX_PIXELS) if lazy else contextlib.nullcontext():
            arr = np.asarray(to_rgb_pil(image))
    elif isinstance(image, (np.ndarray, torch.Tensor)):
        arr = _array_to_rgb(image, name)
    else:
        raise ImageError(
            f"{name}: unsupported type {type(image).__name__}; pass a file path, a PIL image, "
            "or an (H, W, 3) uint8 numpy array or torch tensor"
        )
    check_min_side((arr.shape[1], arr.shape[0]), name)
    return np.ascontiguousarray(arr)


def check_min_side(size: tuple[int, int], name: str = "image") -> None:
    """Refuse an image of ``(width, height)`` too small to hold a face any detector finds.

    Raises:
        ImageError: a side is below :data:`MIN_SIDE`.
    """
    w, h = size
    if min(w, h) < MIN_SIDE:
        raise ImageError(
            f"{name} is {w}x{h} pixels: too small to hold a face "
            f"(images must be at least {MIN_SIDE}x{MIN_SIDE})"
        )


def to_pil(image: ImageInput, name: str = "image") -> Image.Image:
    """Like :func:`to_rgb_array`, but returns an RGB PIL image."""
    if (
        isinstance(image, Image.Image)
        and image.mode == "RGB"
        and image.getexif().get(0x0112, 1) == 1
    ):
        return image
    return Image.fromarray(to_rgb_array(image, name))


def _array_to_rgb(image: np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    shape = tuple(image.shape)
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        if image.dtype != torch.uint8:
            raise ImageError(
                f"{name}: tensor dtype is {image.dtype}, expected torch.uint8 with values 0..255"
                " (for floats in [0, 1] use (x * 255).round().to(torch.uint8))"
            )
        image = image.numpy()
    if image.dtype != np.uint8:
        raise ImageError(
            f"{name}: array dtype is {image.dtype}, expected uint8 with values 0..255"
            " (for floats in [0, 1] use (x * 255).round().astype(np.uint8))"
        )
    if image.ndim == 3 and image.shape[0] in (1, 3, 4) and image.shape[2] not in (1, 3, 4):
        raise ImageError(
            f"{name}: shape {shape} looks channels-first; pass (H, W, 3), e.g. x.permute(1, 2, 0)"
        )
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ImageError(
            f"{name}: shape {shape} is not an image; expected (H, W, 3) or a (B, H, W, 3) batch"
        )
    _check_pixels((image.shape[1], image.shape[0]), name)
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    return image[:, :, :3]


def _check_pixels(size: tuple[int, int], name: str, limit: int | None = None) -> None:
    w, h = size
    limit = limit or MAX_PIXELS
    if w * h > limit:
        raise_it = " or raise faceprint.images.MAX_PIXELS" if limit == MAX_PIXELS else ""
        raise ImageError(
            f"{name} is {w}x{h} = {w * h} pixels, more than the {limit} faceprint decodes "
            f"(a decompression-bomb guard); downscale it first{raise_it}"
        )
