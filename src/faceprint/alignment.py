"""From a detected face to the square crop a recognition model eats, and its standardization.

Four ways to cut a face (:class:`Alignment`):

- ``box``: facenet-pytorch's crop of the detection box plus a margin, resized to a square.
- ``similarity``: a 5-point similarity warp of the landmarks onto a canonical template
  (insightface's ``norm_crop`` template, scaled to the crop size).
- ``dlib``: dlib's 5-point face chip (``get_face_chip_details``: 150 px, padding 0.25), the
  crop dlib's face-recognition ResNet was trained on, computed from MTCNN's landmarks
  (:data:`DLIB_MTCNN_TEMPLATE` maps them onto dlib's template).
- ``none``: a fixed crop for images that are already aligned (e.g. LFW deep-funneled).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from PIL import Image
from skimage.transform import SimilarityTransform

from faceprint.images import ImageInput, to_pil

AlignMethod = Literal["box", "similarity", "dlib", "none"]
ALIGN_METHODS: tuple[str, ...] = ("box", "similarity", "dlib", "none")

#: insightface's arcface template for 112x112 crops: eyes, nose tip, mouth corners, as (x, y).
ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)

#: dlib's 5-point template (``get_face_chip_details``) in a unit chip without padding, as
#: (x, y): outer and inner corner of the eye on the image's right, outer and inner corner of
#: the eye on its left, and the base of the nose (where it meets the upper lip).
DLIB_TEMPLATE_5 = np.array(
    [
        [0.8595674595992, 0.2134981538014],
        [0.6460604764104, 0.2289674387677],
        [0.1205750620789, 0.2137274526848],
        [0.3340850613712, 0.2290642403242],
        [0.4901123135679, 0.6277975316475],
    ],
    dtype=np.float64,
)


#: Where MTCNN's 5 landmarks (eye centres, nose tip, mouth corners) lie in dlib's unit chip
#: (padding 0): the median over LFW View 1 faces of MTCNN's landmarks mapped through dlib's own
#: chip transform (dlib's 5 points found by its shape predictor in MTCNN's box), fitted by
#: ``scripts/fit_dlib_template.py`` on pairsDevTrain.txt alone. MTCNN's eye centres sit 0.005
#: (left) and 0.025 (right) outside the midpoints of dlib's eye corners, its nose tip 0.09 above
#: dlib's nose base.
DLIB_MTCNN_TEMPLATE = np.array(
    [
        [0.2324, 0.2165],
        [0.7783, 0.2156],
        [0.5016, 0.5406],
        [0.2650, 0.8146],
        [0.7432, 0.8144],
    ],
    dtype=np.float64,
)


def dlib_template(image_size: int = 150, padding: float = 0.25) -> np.ndarray:
    """``(5, 2)`` positions of MTCNN's landmarks in dlib's chip of side ``image_size``:
    :data:`DLIB_MTCNN_TEMPLATE` padded as ``get_face_chip_details`` pads dlib's own template,
    ``(padding + p) / (2 * padding + 1) * image_size``."""
    return (padding + DLIB_MTCNN_TEMPLATE) / (2 * padding + 1) * image_size


@dataclass(frozen=True)
class Alignment:
    """How faces are cut from images before embedding.

    Attributes:
        method: ``"box"``, ``"similarity"``, ``"dlib"`` or ``"none"`` (see the module
            docstring).
        image_size: side of the output crop, in pixels.
        margin: ``box`` only: margin around the box, in output pixels (facenet-pytorch's meaning).
        template_scale: ``similarity`` only: zoom of the template about the crop centre; below 1
            shows more of the head.
        template_shift: ``similarity`` only: ``(dx, dy)`` shift of the template, in output pixels.
        crop_size: ``none`` only: side of the fixed centre crop, in input pixels.
        crop_offset: ``none`` only: ``(dx, dy)`` of the crop centre from the image centre.
        padding: ``dlib`` only: dlib's chip padding, as a fraction of the face (0.25 is the
            padding dlib's face-recognition ResNet was trained with).
    """

    method: AlignMethod = "box"
    image_size: int = 160
    margin: float = 32
    template_scale: float = 1.0
    template_shift: tuple[float, float] = (0.0, 0.0)
    crop_size: int = 110
    crop_offset: tuple[float, float] = (0.0, 0.0)
    padding: float = 0.25

    def __post_init__(self) -> None:
        if self.method not in ALIGN_METHODS:
            raise ValueError(
                f"alignment method must be one of {', '.join(ALIGN_METHODS)}, got {self.method!r}"
            )

    def parameters(self) -> dict:
        """The fields that matter for this method (e.g. no ``crop_size`` for ``box``)."""
        used = {
            "box": ("margin",),
            "similarity": ("template_scale", "template_shift"),
            "dlib": ("padding",),
            "none": ("crop_size", "crop_offset"),
        }[self.method]
        return {"method": self.method, "image_size": self.image_size} | {
            k: getattr(self, k) for k in used
        }

    def template(self) -> np.ndarray:
        """``(5, 2)`` landmark positions in the output crop (``similarity``)."""
        centred = (ARCFACE_TEMPLATE_112 - 56.0) * (self.image_size / 112.0) * self.template_scale
        return centred + self.image_size / 2.0 + np.asarray(self.template_shift)

    def crop(
        self, image: Image.Image, box: Sequence[float] | None, landmarks: np.ndarray | None
    ) -> Image.Image:
        """Cut one face from an RGB image.

        Args:
            image: RGB PIL image.
            box: ``(x1, y1, x2, y2)`` detection (``box``).
            landmarks: ``(5, 2)`` landmarks (``similarity``, ``dlib``).

        Returns:
            ``image_size`` x ``image_size`` RGB PIL image.
        """
        if self.method == "none":
            return center_crop(image, self.crop_size, self.crop_offset, self.image_size)
        if self.method == "similarity":
            return warp_to_template(image, landmarks, self.template(), self.image_size)
        if self.method == "dlib":
            template = dlib_template(self.image_size, self.padding)
            return warp_to_template(image, landmarks, template, self.image_size)
        return crop_box(image, box, self.image_size, self.margin)


def warp_to_template(
    image: Image.Image, landmarks: np.ndarray, template: np.ndarray, image_size: int
) -> Image.Image:
    """Warp ``image`` so that ``landmarks`` land on ``template`` (least-squares similarity).

    Args:
        image: RGB PIL image.
        landmarks: ``(N, 2)`` source points in image pixels.
        template: ``(N, 2)`` destination points in output pixels.
        image_size: output side in pixels.
    """
    transform = similarity_transform(landmarks, template)
    # PIL maps output pixels back to input pixels: hand it the inverse, as its 6 affine terms.
    inverse = np.linalg.inv(transform)
    return image.transform(
        (image_size, image_size), Image.AFFINE, inverse[:2].ravel().tolist(), Image.BILINEAR
    )


def similarity_transform(landmarks: np.ndarray, template: np.ndarray) -> np.ndarray:
    """The least-squares similarity that maps ``landmarks`` onto ``template``.

    Args:
        landmarks: ``(N, 2)`` source points ``(x, y)`` in image pixels (N >= 2; MTCNN's 5).
        template: ``(N, 2)`` destination points in output pixels.

    Returns:
        ``(3, 3)`` float64 homogeneous matrix from image to output pixels.

    Raises:
        ValueError: the points admit no similarity (all equal, or not finite).
    """
    source = np.asarray(landmarks, dtype=np.float64)
    transform = None
    if source.shape == np.shape(template) and len(source) >= 2 and np.isfinite(source).all():
        if hasattr(SimilarityTransform, "from_estimate"):  # scikit-image >= 0.26
            transform = SimilarityTransform.from_estimate(source, template) or None
        else:
            transform = SimilarityTransform()
            transform = transform if transform.estimate(source, template) else None
    if transform is None or not np.isfinite(transform.params).all():
        raise ValueError(f"cannot fit a similarity transform to landmarks {source.tolist()}")
    return transform.params


def center_crop(
    image: Image.Image,
    crop_size: int,
    offset: tuple[float, float] = (0.0, 0.0),
    image_size: int = 160,
) -> Image.Image:
    """A ``crop_size`` square around the image centre (shifted by ``offset``), resized to
    ``image_size``."""
    box = center_box(image.width, image.height, crop_size, offset)
    return image.crop(box).resize((image_size, image_size), Image.BILINEAR)


def center_box(
    width: int, height: int, crop_size: int, offset: tuple[float, float] = (0.0, 0.0)
) -> tuple[int, int, int, int]:
    """``(left, top, right, bottom)`` of a ``crop_size`` square at the image centre plus
    ``offset``."""
    cx = width / 2 + offset[0]
    cy = height / 2 + offset[1]
    half = crop_size / 2
    return (round(cx - half), round(cy - half), round(cx + half), round(cy + half))


def margin_box(
    box: Sequence[float],
    image_width: int,
    image_height: int,
    image_size: int = 160,
    margin: float = 0,
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


def crop_box(
    image: Image.Image, box: Sequence[float], image_size: int = 160, margin: float = 0
) -> Image.Image:
    """facenet-pytorch's face crop: ``box`` plus ``margin`` (see :func:`margin_box`), resized
    bilinearly to ``image_size`` x ``image_size``.

    Args:
        image: RGB PIL image.
        box: ``(x1, y1, x2, y2)`` in image pixels.
        image_size: output side in pixels.
        margin: margin in output pixels.
    """
    crop = margin_box(box, image.width, image.height, image_size, margin)
    return image.crop(crop).resize((image_size, image_size), Image.BILINEAR)


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
    face = crop_box(to_pil(img), box, image_size, margin)
    if save_path is not None:
        directory = os.path.dirname(os.fspath(save_path))
        if directory:
            os.makedirs(directory, exist_ok=True)
        face.save(save_path)
    return torch.from_numpy(np.asarray(face, dtype=np.float32).transpose(2, 0, 1).copy())


#: Mean R, G, B that dlib's ``input_rgb_image`` subtracts (stored in dlib's network file).
DLIB_MEAN_RGB = (122.782, 117.001, 104.298)


def standardize(crops: torch.Tensor, method: str) -> torch.Tensor:
    """Standardize a batch of 0..255 crops as a model's weights expect.

    Args:
        crops: ``(B, 3, H, W)`` float, values 0..255.
        method: ``"fixed"`` (:func:`fixed_image_standardization`), ``"per_image"``
            (:func:`prewhiten` of each crop on its own) or ``"dlib"`` (``(x - mean) / 256``
            with dlib's :data:`DLIB_MEAN_RGB`, about -0.48..0.58) or ``"raw"`` (unchanged,
            0..255: HSE FaceRes).
    """
    if method == "fixed":
        return fixed_image_standardization(crops)
    if method == "per_image":
        return _whiten(crops, start_dim=1)
    if method == "dlib":
        mean = torch.tensor(DLIB_MEAN_RGB, dtype=crops.dtype, device=crops.device)
        return (crops - mean.view(1, 3, 1, 1)) / 256.0
    if method == "raw":
        return crops
    raise ValueError(
        f"standardization must be 'fixed', 'per_image', 'dlib' or 'raw', got {method!r}"
    )


def fixed_image_standardization(image_tensor: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """``(x - 127.5) / 128``: maps 0..255 to about -1..1. Any shape.

    Args:
        image_tensor: float tensor, values 0..255.
        inplace: overwrite ``image_tensor`` (a tensor made for the purpose) instead of copying.
    """
    if inplace:
        # Multiplying by 1/128 (a power of two) gives the division's bits, and is cheaper.
        return image_tensor.sub_(127.5).mul_(0.0078125)
    return (image_tensor - 127.5) / 128.0


def prewhiten(x: torch.Tensor) -> torch.Tensor:
    """Per-image standardization over the whole tensor, as facenet-pytorch's ``prewhiten``.

    Zero mean and unit standard deviation, the std floored at ``1/sqrt(numel)``.
    """
    return _whiten(x, start_dim=0)


def _whiten(x: torch.Tensor, start_dim: int) -> torch.Tensor:
    """Zero mean, unit std over the dimensions from ``start_dim`` on (std floored at 1/sqrt(n))."""
    flat = x.flatten(start_dim)
    mean = flat.mean(dim=-1)
    std = flat.std(dim=-1).clamp(min=1.0 / float(flat.shape[-1]) ** 0.5)
    shape = (*mean.shape, *([1] * (x.dim() - start_dim)))
    return (x - mean.view(shape)) / std.view(shape)
