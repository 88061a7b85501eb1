"""Turning whatever the user passes into RGB images, with clear errors for what cannot be used.

Accepted single images: a file path, a PIL image, an ``(H, W, 3)`` uint8 numpy array or torch
tensor (``(H, W)``, ``(H, W, 1)`` and ``(H, W, 4)`` are read as grayscale and RGBA). A batch is a
list or tuple of those, or a ``(B, H, W, 3)`` array or tensor. Sizes may differ inside a list.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from faceprint.errors import ImageError

ImageInput = str | os.PathLike | Image.Image | np.ndarray | torch.Tensor

#: Largest image, in pixels, that faceprint decodes: Pillow's own decompression-bomb limit.
MAX_PIXELS: int = Image.MAX_IMAGE_PIXELS or 89_478_485
#: Smallest side, in pixels, that MTCNN's 12x12 proposal window can scan.
MIN_SIDE: int = 12

#: File suffixes taken for images when a folder is searched.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
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
    return _decode(path, str(path))


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
    return _decode(io.BytesIO(data), name, max_pixels)


def declared_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` that an image file's header declares, read without decoding; None
    when the header cannot be read (decoding will say why)."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except Exception:  # any damage: decoding the file names it
        return None


def reduced_image_from_bytes(
    data: bytes, name: str, max_pixels: int | None, fit_pixels: int
) -> tuple[Image.Image, tuple[float, float]]:
    """:func:`image_from_bytes`, reduced to at most ``fit_pixels`` pixels as it is decoded
    (JPEG's DCT scaling through ``draft``, then ``reduce``/resampling: a large photo never
    costs its full size in the detector).

    Returns:
        The upright RGB image and ``(sx, sy)``: multiply its x and y coordinates by these to
        get the original's (``(1.0, 1.0)`` when it was small enough already).
    """
    if not data:
        raise ImageError(f"{name}: an empty (zero-byte) file")
    image, full = _decode(io.BytesIO(data), name, max_pixels, fit_pixels)
    return image, (full[0] / image.width, full[1] / image.height)


def _fit(size: tuple[int, int], pixels: int) -> tuple[int, int]:
    w, h = size
    scale = min(1.0, (pixels / (w * h)) ** 0.5)
    return max(1, int(w * scale)), max(1, int(h * scale))


def _decode(
    source, name: str, max_pixels: int | None = None, fit_pixels: int | None = None
) -> Image.Image | tuple[Image.Image, tuple[int, int]]:
    limit = max_pixels or MAX_PIXELS  # read now: callers may raise MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source) as img:
                _check_pixels(img.size, name, limit)
                if fit_pixels is None:
                    img.load()
                    return to_rgb_pil(img)
                return _decode_reduced(img, fit_pixels)
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


def _decode_reduced(img: Image.Image, pixels: int):
    """The upright RGB image within ``pixels`` pixels, and the upright full size."""
    full = img.size
    if full[0] * full[1] > pixels:
        img.draft("RGB", _fit(full, pixels))  # JPEG decodes at 1/2, 1/4 or 1/8: no full copy
    img.load()
    if img.mode in ("1", "P", "PA"):  # resampled as RGB, not by nearest palette index
        img = img.convert("RGBA" if img.mode == "PA" else "RGB")
    if img.width * img.height > pixels:
        img.thumbnail(_fit(img.size, pixels), Image.Resampling.BILINEAR, reducing_gap=2.0)
    upright = to_rgb_pil(img)
    if upright.size != img.size:  # EXIF turned it a quarter
        full = full[::-1]
    return upright, full


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
    elif isinstance(image, Image.Image):
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
    """Refuse an image of ``(width, height)`` too small for MTCNN to scan.

    Raises:
        ImageError: a side is below :data:`MIN_SIDE`.
    """
    w, h = size
    if min(w, h) < MIN_SIDE:
        raise ImageError(
            f"{name} is {w}x{h} pixels: too small to hold a face "
            f"(MTCNN needs at least {MIN_SIDE}x{MIN_SIDE})"
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
