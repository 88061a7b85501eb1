"""``IdentityLoss``: how far a generated face is from a person, differentiably, through a frozen
face network, with the crop, input size and standardization its weights record names.

Face-GAN projects each hand-write this (pSp/e4e crop ``[35:223, 32:220]`` of a 256 px
FFHQ-aligned image and pool it; others resize and normalise their own way), and each gets the
input range, the crop or eval-mode batch norm slightly different.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from faceprint.alignment import standardize

#: pSp/e4e's face box in a 256 px FFHQ-aligned image: ``(top, bottom, left, right)``.
FFHQ_CROP_256 = (35, 223, 32, 220)


def face_input(
    images: torch.Tensor,
    input_range: tuple[float, float],
    crop: str | Sequence[int] | None,
    size: int,
    standardization: str,
) -> torch.Tensor:
    """Generated images to a face network's input, differentiably.

    Args:
        images: ``(B, 3, H, W)`` float, values in ``input_range``.
        input_range: ``(low, high)`` of the pixel values, e.g. ``(-1, 1)`` for most GANs.
        crop: None (the whole image), ``"ffhq"`` (:data:`FFHQ_CROP_256`, scaled to ``H, W``)
            or ``(top, bottom, left, right)`` in pixels.
        size: side of the network's square input.
        standardization: the weights' ``"fixed"`` or ``"per_image"``.

    Returns:
        ``(B, 3, size, size)`` standardized crops; gradients flow to ``images``.
    """
    if images.dim() != 4 or images.shape[1] != 3 or not images.is_floating_point():
        raise ValueError(
            f"expected (B, 3, H, W) float images, got {tuple(images.shape)} {images.dtype}"
        )
    low, high = input_range
    pixels = (images - low) * (255.0 / (high - low))
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
    if pixels.shape[2:] != (size, size):
        # Antialiased, so that downscaling a large generated image averages as a camera would.
        pixels = F.interpolate(
            pixels, size=(size, size), mode="bilinear", align_corners=False, antialias=True
        )
    return standardize(pixels, standardization)


class IdentityLoss(nn.Module):
    """``1 - cos(embed(generated), embed(target))`` through a frozen face network.

    Args:
        model: registry name or faceprint model file of the embedding network.
        input_range: ``(low, high)`` of the images' pixel values.
        crop: see :func:`face_input`.
        reduction: ``"mean"`` over the batch, or ``"none"`` for ``(B,)`` losses.
        device: where the network lives (``.to()`` moves it too).

    The network is frozen: no parameter takes a gradient, and it stays in eval mode (batch
    norm with its running statistics) even when an enclosing model calls ``.train()``.
    """

    def __init__(
        self,
        model: str | os.PathLike = "ms-celeb-1m",
        input_range: tuple[float, float] = (-1.0, 1.0),
        crop: str | Sequence[int] | None = None,
        reduction: str = "mean",
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__()
        from faceprint.weights.factory import create_model

        if reduction not in ("mean", "none"):
            raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
        if crop is not None and crop != "ffhq" and len(crop) != 4:
            raise ValueError(f"crop must be None, 'ffhq' or (top, bottom, left, right), got {crop}")
        self.net = create_model(model, device=device).eval().requires_grad_(False)
        record = self.net.weights
        self.input_size = record.input_size or 160
        self.standardization = record.standardization or "fixed"
        self.input_range = (float(input_range[0]), float(input_range[1]))
        self.crop = crop
        self.reduction = reduction

    def train(self, mode: bool = True) -> IdentityLoss:
        """Keep the frozen network in eval mode whatever the enclosing model asks."""
        super().train(mode)
        self.net.eval()
        return self

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, D)`` unit embeddings of ``(B, 3, H, W)`` images, differentiable in the pixels."""
        x = face_input(images, self.input_range, self.crop, self.input_size, self.standardization)
        return F.normalize(self.net(x.to(next(self.net.parameters()).dtype)).float(), dim=1)

    def forward(self, generated: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Identity loss in [0, 2]: 0 when the faces embed alike.

        Args:
            generated: ``(B, 3, H, W)`` images in ``input_range``.
            target: images of the same form (embedded without gradient), or ``(B, D)``
                embeddings.

        Returns:
            A scalar (``reduction="mean"``) or ``(B,)`` losses.
        """
        if target.dim() == 2:
            reference = F.normalize(target.float(), dim=1)
        else:
            with torch.no_grad():
                reference = self.embed(target)
        loss = 1.0 - (self.embed(generated) * reference.to(generated.device)).sum(dim=1)
        return loss.mean() if self.reduction == "mean" else loss
