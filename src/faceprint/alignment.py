"""From a detected face to the square crop a recognition model eats, and its standardization."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from faceprint.images import ImageInput, to_pil


def margin_box(
    box: Sequence[float], image_width: int, image_height: int, image_size: int = 160, margin: float = 0
) -> tuple[int, int, int, int]:
    """The integer crop box facenet-pytorch takes around a detection.

    The margin is given in pixels of the *output* crop, so it scales with the face.

    Args:
        box: ``(x1, y1, x2, y2)`` in image pixels.
        image_width, image_height: size of the image the box lives in.
        image_size: side of the output crop.
        margin: margin in output pixels added around the box.

    Returns:
        ``(left, top, right, bottom)`` clipped to the image.
    """
    dx = margin * (box[2] - box[0]) / (image_size - margin)
    dy = margin * (box[3] - box[1]) / (image_size - margin)
    return (
        int(max(box[0] - dx / 2, 0)),
        int(max(box[1] - dy / 2, 0)),
        int(min(box[2] + dx / 2, image_width)),
        int(min(box[3] + dy / 2, image_height)),
    )


def extract_face(
    img: ImageInput,
    box: Sequence[float],
    image_size: int = 160,
    margin: float = 0,
    save_path: str | os.PathLike | None = None,
) -> torch.Tensor:
    """Crop a face with a margin and resize it to a square, as facenet-pytorch does.

    Args:
        img: the image the box was detected in (path, PIL image or ``(H, W, 3)`` uint8 array).
        box: ``(x1, y1, x2, y2)`` in pixels.
        image_size: output side in pixels.
        margin: margin in output pixels (see :func:`margin_box`).
        save_path: where to also write the crop as an image file (directories are created).

    Returns:
        ``(3, image_size, image_size)`` float32 tensor, RGB values in 0..255, not standardized.
    """
    pil = to_pil(img)
    crop_box = margin_box(box, pil.width, pil.height, image_size, margin)
    face = pil.crop(crop_box).resize((image_size, image_size), Image.BILINEAR)
    if save_path is not None:
        directory = os.path.dirname(os.fspath(save_path))
        if directory:
            os.makedirs(directory, exist_ok=True)
        face.save(save_path)
    return torch.from_numpy(np.asarray(face, dtype=np.float32).transpose(2, 0, 1).copy())


def fixed_image_standardization(image_tensor: torch.Tensor) -> torch.Tensor:
    """``(x - 127.5) / 128``: maps 0..255 to about -1..1. Any shape."""
    return (image_tensor - 127.5) / 128.0


def prewhiten(x: torch.Tensor) -> torch.Tensor:
    """Per-image standardization over the whole tensor, as facenet-pytorch's ``prewhiten``.

    Zero mean and unit standard deviation, the std floored at ``1/sqrt(numel)``.
    """
    mean = x.mean()
    std = x.std()
    std_adj = std.clamp(min=1.0 / (float(x.numel()) ** 0.5))
    return (x - mean) / std_adj
