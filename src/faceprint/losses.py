"""``IdentityLoss``: how far a generated face is from a person, differentiably, through a frozen
face network, with the crop, input size and standardization its weights record names.

Face-GAN projects each hand-write this (pSp/e4e crop ``[35:223, 32:220]`` of a 256 px
FFHQ-aligned image and pool it; others resize and normalise their own way), and each gets the
input range, the crop or eval-mode batch norm slightly different. Here the cut (a fixed crop, or
a landmark warp with ``affine_grid``/``grid_sample``), the antialiased resize and the
standardization are one differentiable path, :func:`face_input`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from faceprint.alignment import Alignment, similarity_transform, standardize
from faceprint.models.inception_resnet_v1 import InceptionResnetV1
from faceprint.models.inference import optimize_for_inference

if TYPE_CHECKING:
    from faceprint.detection.base import Detections, Detector

#: pSp/e4e's face box in a 256 px FFHQ-aligned image: ``(top, bottom, left, right)``.
FFHQ_CROP_256 = (35, 223, 32, 220)


def check_images(images: torch.Tensor, input_range: tuple[float, float], name: str) -> None:
    """Refuse what can't be a batch of images in ``input_range``, naming the problem.

    Args:
        images: should be ``(B, 3, H, W)`` float with ``B >= 1``, finite, in ``input_range``.
        input_range: ``(low, high)``; values beyond it by more than 0.1% of its width fail.
        name: how the tensor is called in the message, e.g. ``"generated"``.

    Raises:
        ValueError: wrong shape or dtype, an empty batch, NaN/inf, or values out of range.
    """
    if images.dim() != 4 or images.shape[1] != 3 or not images.is_floating_point():
        raise ValueError(
            f"{name}: expected (B, 3, H, W) float images, got {tuple(images.shape)} {images.dtype}"
        )
    if images.shape[0] == 0:
        raise ValueError(f"{name}: empty batch (B = 0)")
    low, high = input_range
    lowest, highest = torch.aminmax(images.detach())
    lowest, highest = torch.stack([lowest, highest]).float().tolist()  # one device sync
    if not (np.isfinite(lowest) and np.isfinite(highest)):
        raise ValueError(f"{name}: the images hold NaN or infinite values")
    slack = 1e-3 * (high - low)
    if lowest < low - slack or highest > high + slack:
        raise ValueError(
            f"{name}: values span {lowest:.4g}..{highest:.4g}, outside input_range "
            f"{low:g}..{high:g}; clamp them, or declare the range the images use"
        )


def face_input(
    images: torch.Tensor,
    input_range: tuple[float, float],
    crop: str | Sequence[int] | None,
    size: int,
    standardization: str,
    warp: torch.Tensor | None = None,
) -> torch.Tensor:
    """Generated images to a face network's input, differentiably.

    Args:
        images: ``(B, 3, H, W)`` float, values in ``input_range``.
        input_range: ``(low, high)`` of the pixel values, e.g. ``(-1, 1)`` for most GANs.
        crop: None (the whole image), ``"ffhq"`` (:data:`FFHQ_CROP_256`, scaled to ``H, W``)
            or ``(top, bottom, left, right)`` in pixels.
        size: side of the network's square input.
        standardization: the weights' ``"fixed"`` or ``"per_image"``.
        warp: ``(B, 3, 3)`` similarity transforms from image pixels to crop pixels (a landmark
            alignment); replaces ``crop``.

    Returns:
        ``(B, 3, size, size)`` standardized crops; gradients flow to ``images``.
    """
    check_images(images, input_range, "images")
    low, high = input_range
    pixels = (images - low) * (255.0 / (high - low))
    if warp is not None:
        return standardize(warp_faces(pixels, warp, size), standardization)
    height, width = pixels.shape[2:]
    if crop == "ffhq":
        top, bottom, left, right = FFHQ_CROP_256
        crop = (
            round(top * height / 256),
            round(bottom * height / 256),
            round(left * width / 256),
            round(right * width / 256),
        )
    if crop is not None:
        top, bottom, left, right = crop
        if not (0 <= top < bottom <= height and 0 <= left < right <= width):
            raise ValueError(f"crop {tuple(crop)} does not fit images of {height}x{width}")
        pixels = pixels[:, :, top:bottom, left:right]
    return standardize(_resize(pixels, (size, size)), standardization)


def _resize(pixels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if pixels.shape[2:] == size:
        return pixels
    # Antialiased, so that downscaling a large generated image averages as a camera would.
    return F.interpolate(pixels, size=size, mode="bilinear", align_corners=False, antialias=True)


def warp_faces(pixels: torch.Tensor, transforms: torch.Tensor, size: int) -> torch.Tensor:
    """Warp each image by its similarity onto a ``size`` square, differentiably.

    The same geometry as :func:`faceprint.alignment.warp_to_template` (PIL: pixel ``i`` spans
    ``[i, i + 1)``, black outside the image). Where the warp shrinks the face, the images are
    first resized with antialiasing by the largest shrink of the batch, so that the bilinear
    sampling does not alias.

    Args:
        pixels: ``(B, 3, H, W)`` float images.
        transforms: ``(B, 3, 3)`` image-pixel to crop-pixel similarities.
        size: side of the output.

    Returns:
        ``(B, 3, size, size)``.
    """
    batch, _, height, width = pixels.shape
    transforms = transforms.to(torch.float64).cpu()
    shrink = float(transforms[:, :2, :2].det().abs().sqrt().max())
    if shrink < 1.0:
        # Normalized coordinates (what affine_grid speaks) are the same at any resolution.
        smaller = (max(1, round(height * shrink)), max(1, round(width * shrink)))
        pixels = _resize(pixels, smaller)
    to_unit = torch.tensor(
        [[2.0 / width, 0.0, -1.0], [0.0, 2.0 / height, -1.0], [0.0, 0.0, 1.0]], dtype=torch.float64
    )
    from_unit = torch.tensor(
        [[size / 2, 0.0, size / 2], [0.0, size / 2, size / 2], [0.0, 0.0, 1.0]], dtype=torch.float64
    )
    theta = (to_unit @ torch.linalg.inv(transforms) @ from_unit)[:, :2]
    grid = F.affine_grid(
        theta.to(pixels.device, pixels.dtype), [batch, 3, size, size], align_corners=False
    )
    return F.grid_sample(pixels, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _largest(faces: Detections) -> Detections:
    """The face of largest box area (the first of equal ones), as one-face detections."""
    areas = (faces.boxes[:, 2] - faces.boxes[:, 0]) * (faces.boxes[:, 3] - faces.boxes[:, 1])
    return faces.select([int(np.argmax(areas))])


class IdentityLoss(nn.Module):
    """``1 - cos(embed(generated), embed(target))`` through a frozen face network.

    Args:
        model: registry name or faceprint model file of the embedding network.
        input_range: ``(low, high)`` of the images' pixel values.
        crop: with ``align="fixed"``: see :func:`face_input`.
        align: ``"fixed"`` (the crop, or the whole image, resized) or ``"landmarks"`` (the
            detector finds 5 landmarks on the target, and the same similarity warp onto the
            model's template cuts both images; gradients flow through the warp).
        reduction: ``"mean"`` over the batch, or ``"none"`` for ``(B,)`` losses.
        device: where the networks live (``.to()`` moves them too, and the detector where it
            is a module, as MTCNN is).
        detector: with ``align="landmarks"``: a detector name (``"mtcnn"``, the default;
            ``"centerface"``; see :func:`faceprint.detection.create_detector`), built on
            ``device``, or a ready :class:`~faceprint.detection.Detector`.

    The networks are frozen: no parameter takes a gradient, and they stay in eval mode (batch
    norm with its running statistics) even when an enclosing model calls ``.train()``. It runs
    under autocast (bf16 on CPU, fp16/bf16 on CUDA); the loss comes out in float32.

    Example:
        >>> loss_fn = IdentityLoss(input_range=(-1, 1), crop="ffhq")
        >>> loss = loss_fn(generator(z), source_images)     # scalar in [0, 2]
    """

    def __init__(
        self,
        model: str | os.PathLike = "ms-celeb-1m",
        input_range: tuple[float, float] = (-1.0, 1.0),
        crop: str | Sequence[int] | None = None,
        align: str = "fixed",
        reduction: str = "mean",
        device: str | torch.device | None = None,
        detector: str | Detector = "mtcnn",
    ) -> None:
        super().__init__()
        from faceprint.weights.factory import create_model

        if reduction not in ("mean", "none"):
            raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
        if align not in ("fixed", "landmarks"):
            raise ValueError(f"align must be 'fixed' or 'landmarks', got {align!r}")
        if crop is not None and crop != "ffhq" and len(crop) != 4:
            raise ValueError(f"crop must be None, 'ffhq' or (top, bottom, left, right), got {crop}")
        if crop is not None and align == "landmarks":
            raise ValueError("align='landmarks' cuts the face itself: pass crop=None")
        if not input_range[1] > input_range[0]:
            raise ValueError(f"input_range must be (low, high) with low < high, got {input_range}")
        net = create_model(model, device=device).eval()
        if isinstance(net, InceptionResnetV1):
            # Exact for a frozen, eval-mode network (its batch norm is an affine map), and it
            # saves the batch-norm passes forward and backward.
            net = optimize_for_inference(net)
        self.net = net.requires_grad_(False)
        record = self.net.weights
        self.input_size = record.input_size or 160
        self.standardization = record.standardization or "fixed"
        self.input_range = (float(input_range[0]), float(input_range[1]))
        self.crop = crop
        self.align = align
        self.reduction = reduction
        self.detector: Detector | None = None
        if align == "landmarks":
            from faceprint.pipeline import make_detector

            found = make_detector(detector, device)
            if isinstance(found, nn.Module):
                found.requires_grad_(False)
            self.detector = found
            template = {**record.alignment.get("similarity", {}), "image_size": self.input_size}
            self.template = Alignment(method="similarity", **template).template()

    def train(self, mode: bool = True) -> IdentityLoss:
        """Keep the frozen networks in eval mode whatever the enclosing model asks."""
        super().train(mode)
        self.net.eval()
        if isinstance(self.detector, nn.Module):
            self.detector.eval()
        return self

    def landmarks(self, images: torch.Tensor) -> torch.Tensor:
        """The detector's 5 landmarks of the largest face of each image, without gradient.

        Args:
            images: ``(B, 3, H, W)`` in ``input_range``.

        Returns:
            ``(B, 5, 2)`` float32 ``(x, y)`` in image pixels (eyes, nose, mouth corners).

        Raises:
            ValueError: ``align`` is not ``"landmarks"``, or an image holds no face.
        """
        if self.detector is None:
            raise ValueError("landmarks are found with align='landmarks' only")
        check_images(images, self.input_range, "images")
        low, high = self.input_range
        pixels = ((images.detach().float() - low) * (255.0 / (high - low))).round().clamp(0, 255)
        arrays = list(pixels.to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())
        found = self.detector.detect_batch(arrays)
        missing = [i for i, faces in enumerate(found) if len(faces) == 0]
        if missing:
            raise ValueError(
                f"no face found in image(s) {missing} of the batch; pass their landmarks, or "
                "use align='fixed'"
            )
        return torch.from_numpy(np.stack([_largest(faces).landmarks[0] for faces in found]))

    def _warp(self, landmarks: torch.Tensor) -> torch.Tensor:
        points = landmarks.detach().cpu().double().numpy()
        return torch.from_numpy(np.stack([similarity_transform(p, self.template) for p in points]))

    def embed(self, images: torch.Tensor, landmarks: torch.Tensor | None = None) -> torch.Tensor:
        """Unit embeddings, differentiable in the pixels.

        Args:
            images: ``(B, 3, H, W)`` in ``input_range``.
            landmarks: ``align="landmarks"`` only: ``(B, 5, 2)`` landmarks of these images'
                faces, in their pixels; found with :meth:`landmarks` when not given.

        Returns:
            ``(B, D)`` float32 unit vectors.
        """
        warp = None
        if self.align == "landmarks":
            warp = self._warp(self.landmarks(images) if landmarks is None else landmarks)
            if len(warp) != len(images):
                raise ValueError(f"{len(warp)} sets of landmarks for {len(images)} images")
        x = face_input(
            images, self.input_range, self.crop, self.input_size, self.standardization, warp
        )
        x = x.to(next(self.net.parameters()).dtype, memory_format=torch.channels_last)
        return F.normalize(self.net(x).float(), dim=1)

    def forward(
        self,
        generated: torch.Tensor,
        target: torch.Tensor,
        landmarks: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Identity loss in [0, 2]: 0 when the faces embed alike.

        Args:
            generated: ``(B, 3, H, W)`` images in ``input_range``.
            target: images of the same form (embedded without gradient), or ``(B, D)``
                embeddings; a batch of 1 serves every generated image.
            landmarks: ``align="landmarks"``: ``(B, 5, 2)`` face landmarks, which cut both
                images; default: found on ``target``, which must then be images of the
                generated images' size.

        Returns:
            A scalar (``reduction="mean"``) or ``(B,)`` losses.
        """
        check_images(generated, self.input_range, "generated")
        if target.dim() == 2:
            if target.shape[1] != self.net.embedding_size:
                raise ValueError(
                    f"target embeddings have {target.shape[1]} dimensions; this model makes "
                    f"{self.net.embedding_size}"
                )
            if self.align == "landmarks" and landmarks is None:
                raise ValueError("align='landmarks' with target embeddings needs landmarks=")
            reference = F.normalize(target.float(), dim=1)
        else:
            check_images(target, self.input_range, "target")
            if self.align == "landmarks" and target.shape[2:] != generated.shape[2:]:
                raise ValueError(
                    f"target images are {tuple(target.shape[2:])}, generated "
                    f"{tuple(generated.shape[2:])}: landmarks found on one cut the other, so "
                    "they must be the same size"
                )
            with torch.no_grad():
                if self.align == "landmarks" and landmarks is None:
                    landmarks = self.landmarks(target)
                reference = self.embed(target, landmarks)
        if len(reference) not in (1, len(generated)):
            raise ValueError(f"{len(reference)} targets for {len(generated)} generated images")
        if landmarks is not None and len(landmarks) == 1:
            landmarks = landmarks.expand(len(generated), 5, 2)
        similarity = (self.embed(generated, landmarks) * reference.to(generated.device)).sum(dim=1)
        loss = 1.0 - similarity
        return loss.mean() if self.reduction == "mean" else loss
