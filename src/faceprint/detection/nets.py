"""The three MTCNN networks. Layer names match facenet-pytorch so its state dicts load as-is."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import torch
from torch import nn

from faceprint.detection.cpu_kernels import CeilMaxPool2d, PixelRowPReLU, pnet_strips

if TYPE_CHECKING:
    from faceprint.weights.registry import Weights

Pretrained = bool | str | os.PathLike | None  # also a registry record (Weights)


class _Stage(nn.Module):
    weights_name: str

    def _load_pretrained(self, pretrained: Pretrained | Weights) -> None:
        """``True``: the registry record; a path: that file; a record: it; else nothing."""
        from faceprint.weights.loading import load_pretrained, pretrained_record

        record = pretrained_record(self.weights_name, pretrained)
        if record is not None:
            load_pretrained(self, record)


class PNet(_Stage):
    """MTCNN proposal network: a fully convolutional 12x12 face/no-face classifier.

    Args:
        pretrained: ``True`` loads the registry weights ``mtcnn-pnet``; a path loads that file;
            a registry record loads its weights; ``False`` leaves the layers randomly
            initialised. Loading is :func:`faceprint.create_model`'s.

    Input ``(B, 3, H, W)`` standardized as ``(x - 127.5) / 128``. Returns box regressions
    ``(B, 4, H', W')`` and face probabilities ``(B, 2, H', W')`` (softmax over no-face/face).
    """

    weights_name = "mtcnn-pnet"

    def __init__(self, pretrained: Pretrained | Weights = True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=3)
        self.prelu1 = PixelRowPReLU(10)
        self.pool1 = CeilMaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(10, 16, kernel_size=3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)
        self.softmax4_1 = nn.Softmax(dim=1)
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)
        self.training = False
        self._load_pretrained(pretrained)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        reg, logits = pnet_strips(self._maps, x) or self._maps(x)
        # Softmax on the whole map: its vectorized loop rounds by position in the tensor.
        return reg, self.softmax4_1(logits)

    def _maps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Box regressions and face logits, ``(B, 4, H', W')`` and ``(B, 2, H', W')``."""
        x = self.prelu1(self.conv1(x))
        x = self.pool1(x)
        x = self.prelu2(self.conv2(x))
        x = self.prelu3(self.conv3(x))
        return self.conv4_2(x), self.conv4_1(x)


class RNet(_Stage):
    """MTCNN refinement network on 24x24 candidate crops.

    Args:
        pretrained: as for :class:`PNet` (registry weights ``mtcnn-rnet``).

    Input ``(N, 3, 24, 24)`` standardized. Returns box regressions ``(N, 4)`` and face
    probabilities ``(N, 2)``.
    """

    weights_name = "mtcnn-rnet"

    def __init__(self, pretrained: Pretrained | Weights = True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, kernel_size=3)
        self.prelu1 = PixelRowPReLU(28)
        self.pool1 = CeilMaxPool2d(3, 2)
        self.conv2 = nn.Conv2d(28, 48, kernel_size=3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = CeilMaxPool2d(3, 2)
        self.conv3 = nn.Conv2d(48, 64, kernel_size=2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.softmax5_1 = nn.Softmax(dim=1)
        self.dense5_2 = nn.Linear(128, 4)
        self.training = False
        self._load_pretrained(pretrained)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        # The weights were trained in Caffe's (W, H, C) flattening order.
        x = x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)
        x = self.prelu4(self.dense4(x))
        return self.dense5_2(x), self.softmax5_1(self.dense5_1(x))


class ONet(_Stage):
    """MTCNN output network on 48x48 crops: final score, box and 5 landmarks.

    Args:
        pretrained: as for :class:`PNet` (registry weights ``mtcnn-onet``).

    Input ``(N, 3, 48, 48)`` standardized. Returns box regressions ``(N, 4)``, landmarks
    ``(N, 10)`` (5 x-coordinates then 5 y-coordinates, relative to the crop) and face
    probabilities ``(N, 2)``.
    """

    weights_name = "mtcnn-onet"

    def __init__(self, pretrained: Pretrained | Weights = True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = CeilMaxPool2d(3, 2)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = CeilMaxPool2d(3, 2)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.softmax6_1 = nn.Softmax(dim=1)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)
        self.training = False
        self._load_pretrained(pretrained)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)
        x = self.prelu5(self.dense5(x))
        return self.dense6_2(x), self.dense6_3(x), self.softmax6_1(self.dense6_1(x))
