"""dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1``) in PyTorch.

The network of dlib's ``dnn_face_recognition_ex.cpp``: a 7x7/2 convolution and 3x3/2 max pool,
then 14 residual blocks of two 3x3 convolutions (32, 64, 128, 256 filters; 29 convolutions in
all), a global average pool and a 128-d linear layer without bias. Every convolution is followed
by an ``affine`` layer (a per-channel scale and shift: a batch norm whose statistics dlib already
folded in). Inputs are 150x150 chips standardized as dlib's ``input_rgb_image`` does
(:func:`faceprint.alignment.standardize` with ``"dlib"``).

Two of dlib's conventions shape the code: a convolution or pool with stride 2 has no padding
(stride 1 pads by half the kernel), and ``add_prev`` adds tensors of different shapes by padding
the smaller one with zeros at the end of each dimension (channels, rows, columns), which the
downsampling blocks need (their 3x3/2 branch is one pixel smaller than their 2x2/2 shortcut at
8x8 and 4x4).
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn import functional as F

if TYPE_CHECKING:
    from faceprint.weights.registry import Weights

#: ``(filters, blocks, first block downsamples)`` per stage, input side first.
STAGES = ((32, 3, False), (64, 4, True), (128, 3, True), (256, 3, True), (256, 1, True))


class Affine(nn.Module):
    """dlib's ``affine`` layer: ``x * weight + bias`` per channel of ``(B, C, H, W)``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.bias.view(1, -1, 1, 1), x, self.weight.view(1, -1, 1, 1))


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int) -> nn.Conv2d:
    """A convolution padded as dlib's ``con``: half the kernel at stride 1, none otherwise."""
    return nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2 if stride == 1 else 0)


def add_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's ``add_prev``: ``a + b`` where the smaller of two ``(B, C, H, W)`` tensors is
    zero-padded at the end of each dimension to the larger's shape."""
    if a.shape == b.shape:
        return a + b
    shape = [max(x, y) for x, y in zip(a.shape, b.shape, strict=True)]

    def grow(t: torch.Tensor) -> torch.Tensor:
        pads = (0, shape[3] - t.shape[3], 0, shape[2] - t.shape[2], 0, shape[1] - t.shape[1])
        return F.pad(t, pads)

    return grow(a) + grow(b)


class ResidualBlock(nn.Module):
    """``relu(x' + affine(conv(relu(affine(conv(x))))))``: dlib's ``ares`` (``x' = x``) or
    ``ares_down`` (first convolution with stride 2, ``x'`` a 2x2/2 average pool of ``x``)."""

    def __init__(self, in_channels: int, channels: int, downsample: bool) -> None:
        super().__init__()
        self.downsample = downsample
        self.conv1 = _conv(in_channels, channels, 3, 2 if downsample else 1)
        self.affine1 = Affine(channels)
        self.conv2 = _conv(channels, channels, 3, 1)
        self.affine2 = Affine(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.affine2(self.conv2(F.relu(self.affine1(self.conv1(x)))))
        shortcut = F.avg_pool2d(x, 2, 2) if self.downsample else x
        return F.relu(add_padded(out, shortcut))


class DlibResNet(nn.Module):
    """dlib's 29-convolution face-recognition ResNet: 150x150 chips to 128-d embeddings.

    Args:
        pretrained: None (random weights) or the registry name or record of converted weights
            (``"dlib-resnet-v1"``).
        device: where to put the model.
        weights_path: load the state dict from this file instead of the record's sources.

    Attributes:
        weights: the registry record of the pretrained weights, or None.
        channels_last: feed the network channels-last tensors (set by
            :func:`faceprint.optimize_for_inference`).
    """

    channels_last: bool = False
    input_size = 150

    def __init__(
        self,
        pretrained: str | os.PathLike | Weights | None = None,
        device: str | torch.device | None = None,
        weights_path: str | os.PathLike | None = None,
    ) -> None:
        super().__init__()
        self.conv = _conv(3, 32, 7, 2)
        self.affine = Affine(32)
        blocks, channels = [], 32
        for width, count, downsample in STAGES:
            for i in range(count):
                blocks.append(ResidualBlock(channels, width, downsample and i == 0))
                channels = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(256, 128, bias=False)
        self.weights: Weights | None = None
        if pretrained is not None:
            from faceprint.weights.loading import get_weights, load_pretrained

            self.weights = get_weights(pretrained)
            if weights_path is not None:
                self.weights = dataclasses.replace(self.weights, path=os.fspath(weights_path))
            if self.weights.architecture != "dlib_resnet":
                raise ValueError(
                    f"{self.weights.name!r} holds {self.weights.architecture} weights, "
                    "not dlib_resnet"
                )
            load_pretrained(self, self.weights)
        if device is not None:
            self.to(device)

    @property
    def embedding_size(self) -> int:
        """Length D of the embeddings (128)."""
        return self.fc.out_features

    def descriptor(self, x: torch.Tensor) -> torch.Tensor:
        """dlib's face descriptor: the network output before normalisation.

        Args:
            x: ``(B, 3, 150, 150)`` float chips standardized with ``"dlib"``.

        Returns:
            ``(B, 128)`` float descriptors, what dlib's ``compute_face_descriptor`` returns
            (norms near 1 but not exactly).
        """
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = F.max_pool2d(F.relu(self.affine(self.conv(x))), 3, 2)
        x = self.blocks(x)
        return self.fc(x.mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, 150, 150)`` standardized chips to ``(B, 128)`` unit-norm embeddings."""
        return F.normalize(self.descriptor(x), p=2, dim=1)
