"""Area resampling of whole images and of many boxes at once, from one summed-area table.

MTCNN resamples with area interpolation (torch's adaptive average pooling): the image pyramid,
and every candidate box to 24x24 (R-Net) and 48x48 (O-Net). facenet-pytorch runs one
``interpolate`` call per box, thousands per frame. A summed-area table turns each output
pixel into four lookups, so all boxes resample in one vectorised gather. The averaging bins
are exactly adaptive pooling's, ``[floor(i*n/s), ceil((i+1)*n/s))``, and sums of 8-bit pixels
are exact in float64, so results equal ``interpolate(..., mode="area")`` to float rounding.
"""

from __future__ import annotations

import torch


class AreaResampler:
    """Summed-area table of a batch of images.

    Args:
        images: ``(B, C, H, W)`` with values 0..255 (any float or integer dtype).
    """

    def __init__(self, images: torch.Tensor) -> None:
        batch, channels, height, width = images.shape
        self.dtype = images.dtype if images.is_floating_point() else torch.float32
        self.height, self.width = height, width
        sat = images.new_zeros((batch, height + 1, width + 1, channels), dtype=torch.float64)
        sat[:, 1:, 1:] = images.permute(0, 2, 3, 1).to(torch.float64).cumsum(1).cumsum(2)
        self.sat = sat

    def resize(self, height: int, width: int) -> torch.Tensor:
        """Every image resized to ``height`` x ``width``: ``(B, C, height, width)``."""
        batch = self.sat.shape[0]
        device = self.sat.device
        zeros = torch.zeros(batch, dtype=torch.long, device=device)
        rows = _bins(zeros, torch.full_like(zeros, self.height), height)
        cols = _bins(zeros, torch.full_like(zeros, self.width), width)
        return self._gather(torch.arange(batch, device=device), rows, cols)

    def crops(
        self, image_inds: torch.Tensor, top: torch.Tensor, left: torch.Tensor, height: torch.Tensor, width: torch.Tensor,
        size: int,
    ) -> torch.Tensor:
        """Boxes resized to ``size`` x ``size``: ``(N, C, size, size)``.

        Args:
            image_inds: ``(N,)`` image of each box.
            top, left: ``(N,)`` first row and column of each box (0-based, inside the image).
            height, width: ``(N,)`` box sizes in pixels, at least 1.
            size: output side.
        """
        return self._gather(image_inds, _bins(top, height, size), _bins(left, width, size))

    def _gather(self, inds, rows, cols) -> torch.Tensor:
        (r0, r1), (c0, c1) = rows, cols
        b = inds[:, None, None]
        s = self.sat
        total = (
            s[b, r1[:, :, None], c1[:, None, :]]
            - s[b, r0[:, :, None], c1[:, None, :]]
            - s[b, r1[:, :, None], c0[:, None, :]]
            + s[b, r0[:, :, None], c0[:, None, :]]
        )
        count = (r1 - r0)[:, :, None] * (c1 - c0)[:, None, :]
        return (total / count[..., None]).permute(0, 3, 1, 2).to(self.dtype).contiguous()


def _bins(start: torch.Tensor, length: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Adaptive pooling's ``[lo, hi)`` row (or column) bins: ``(N, size)`` each, absolute indices."""
    i = torch.arange(size, device=start.device)
    lo = torch.div(i[None] * length[:, None], size, rounding_mode="floor")
    hi = torch.div((i[None] + 1) * length[:, None] + size - 1, size, rounding_mode="floor")
    return start[:, None] + lo, start[:, None] + hi
