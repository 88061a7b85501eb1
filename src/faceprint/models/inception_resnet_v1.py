"""Inception-ResNet-v1 (Szegedy et al. 2017) as used by FaceNet, with facenet-pytorch's layout.

Module and parameter names are facenet-pytorch's, so its released state dicts
(``20180402-114759-vggface2.pt``, ``20180408-102900-casia-webface.pt``) load with ``strict=True``.
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


class BasicConv2d(nn.Module):
    """Conv (no bias) -> BatchNorm (eps 1e-3, TensorFlow's) -> ReLU."""

    def __init__(
        self, in_planes: int, out_planes: int, kernel_size, stride: int, padding=0
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_planes, out_planes, kernel_size, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(out_planes, eps=0.001, momentum=0.1, affine=True)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


def _scaled(x: torch.Tensor, scale: float) -> torch.Tensor:
    # optimize_for_inference folds the scale into the conv and sets it to 1: skip the multiply.
    return x if scale == 1.0 else x * scale


class Block35(nn.Module):
    """Inception-ResNet-A block on the 35x35 (here 17x17) grid, 256 channels."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale
        self.branch0 = BasicConv2d(256, 32, kernel_size=1, stride=1)
        self.branch1 = nn.Sequential(
            BasicConv2d(256, 32, kernel_size=1, stride=1),
            BasicConv2d(32, 32, kernel_size=3, stride=1, padding=1),
        )
        self.branch2 = nn.Sequential(
            BasicConv2d(256, 32, kernel_size=1, stride=1),
            BasicConv2d(32, 32, kernel_size=3, stride=1, padding=1),
            BasicConv2d(32, 32, kernel_size=3, stride=1, padding=1),
        )
        self.conv2d = nn.Conv2d(96, 256, kernel_size=1, stride=1)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat((self.branch0(x), self.branch1(x), self.branch2(x)), 1)
        return self.relu(_scaled(self.conv2d(out), self.scale) + x)


class Block17(nn.Module):
    """Inception-ResNet-B block on the 17x17 (here 8x8) grid, 896 channels."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale
        self.branch0 = BasicConv2d(896, 128, kernel_size=1, stride=1)
        self.branch1 = nn.Sequential(
            BasicConv2d(896, 128, kernel_size=1, stride=1),
            BasicConv2d(128, 128, kernel_size=(1, 7), stride=1, padding=(0, 3)),
            BasicConv2d(128, 128, kernel_size=(7, 1), stride=1, padding=(3, 0)),
        )
        self.conv2d = nn.Conv2d(256, 896, kernel_size=1, stride=1)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat((self.branch0(x), self.branch1(x)), 1)
        return self.relu(_scaled(self.conv2d(out), self.scale) + x)


class Block8(nn.Module):
    """Inception-ResNet-C block on the 8x8 (here 3x3) grid, 1792 channels."""

    def __init__(self, scale: float = 1.0, noReLU: bool = False) -> None:  # noqa: N803
        super().__init__()
        self.scale = scale
        self.noReLU = noReLU
        self.branch0 = BasicConv2d(1792, 192, kernel_size=1, stride=1)
        self.branch1 = nn.Sequential(
            BasicConv2d(1792, 192, kernel_size=1, stride=1),
            BasicConv2d(192, 192, kernel_size=(1, 3), stride=1, padding=(0, 1)),
            BasicConv2d(192, 192, kernel_size=(3, 1), stride=1, padding=(1, 0)),
        )
        self.conv2d = nn.Conv2d(384, 1792, kernel_size=1, stride=1)
        if not self.noReLU:
            self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat((self.branch0(x), self.branch1(x)), 1)
        out = _scaled(self.conv2d(out), self.scale) + x
        return out if self.noReLU else self.relu(out)


class Mixed_6a(nn.Module):  # noqa: N801 - facenet-pytorch's name
    """Reduction-A: 256 -> 896 channels, stride 2."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = BasicConv2d(256, 384, kernel_size=3, stride=2)
        self.branch1 = nn.Sequential(
            BasicConv2d(256, 192, kernel_size=1, stride=1),
            BasicConv2d(192, 192, kernel_size=3, stride=1, padding=1),
            BasicConv2d(192, 256, kernel_size=3, stride=2),
        )
        self.branch2 = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x)), 1)


class Mixed_7a(nn.Module):  # noqa: N801 - facenet-pytorch's name
    """Reduction-B: 896 -> 1792 channels, stride 2."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = nn.Sequential(
            BasicConv2d(896, 256, kernel_size=1, stride=1),
            BasicConv2d(256, 384, kernel_size=3, stride=2),
        )
        self.branch1 = nn.Sequential(
            BasicConv2d(896, 256, kernel_size=1, stride=1),
            BasicConv2d(256, 256, kernel_size=3, stride=2),
        )
        self.branch2 = nn.Sequential(
            BasicConv2d(896, 256, kernel_size=1, stride=1),
            BasicConv2d(256, 256, kernel_size=3, stride=1, padding=1),
            BasicConv2d(256, 256, kernel_size=3, stride=2),
        )
        self.branch3 = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)), 1)


class InceptionResnetV1(nn.Module):
    """Inception-ResNet-v1 face embedder, facenet-pytorch-compatible.

    Args:
        pretrained: None (random weights), ``"vggface2"`` (512-d, 8631 classes),
            ``"casia-webface"`` (512-d, 10575 classes) or ``"ms-celeb-1m"`` (128-d, no classifier;
            the Keras port of Sandberg's 20170512-110547, converted on first use). Any name of
            :func:`faceprint.list_models`, a faceprint model file or a record works; loading is
            :func:`faceprint.create_model`'s. Weights are fetched once, verified and cached in
            ``$TORCH_HOME/checkpoints`` (see :mod:`faceprint.weights.fetch`).
        classify: return classifier logits instead of embeddings. Can be switched any time with
            ``model.classify = True``.
        num_classes: size of the classifier head. With pretrained weights, a different value
            replaces the pretrained head with a freshly initialised one. Required when
            ``classify`` is set without ``pretrained``.
        dropout_prob: dropout before the bottleneck layer, in [0, 1] (active in train mode).
        device: where to put the model.
        weights_path: load the pretrained state dict from this file instead of the registry's
            sources (it must match ``pretrained``'s architecture).
        embedding_size: bottleneck size when ``pretrained`` is None (default 512).

    Input: ``(B, 3, 160, 160)`` float RGB face crops, standardized as the weights' record says
    (``record.standardization``: ``"fixed"`` is ``(x - 127.5) / 128``, ``"per_image"`` is
    :func:`faceprint.prewhiten`). :class:`faceprint.MTCNN` crops with ``post_process=True`` are
    ready for the ``"fixed"`` models. Other sizes work (the pooling is adaptive) but differ from
    training.

    Output: ``(B, D)`` L2-normalised float embeddings (D = 512, or 128 for ``ms-celeb-1m``),
    or ``(B, num_classes)`` logits when ``classify`` is set.

    Attributes:
        weights: the registry record of the pretrained weights, or None.
        channels_last: feed the network channels-last tensors (set by
            :func:`faceprint.models.inference.optimize_for_inference`).
    """

    channels_last: bool = False

    def __init__(
        self,
        pretrained: str | os.PathLike | Weights | None = None,
        classify: bool = False,
        num_classes: int | None = None,
        dropout_prob: float = 0.6,
        device: str | torch.device | None = None,
        weights_path: str | os.PathLike | None = None,
        embedding_size: int = 512,
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout_prob <= 1.0:
            raise ValueError(f"dropout_prob must be in [0, 1], got {dropout_prob}")
        self.pretrained = pretrained
        self.classify = classify
        self.num_classes = num_classes
        self.weights: Weights | None = None
        pretrained_classes = None
        if pretrained is not None:
            from faceprint.weights.loading import get_weights

            self.weights = get_weights(pretrained)
            if weights_path is not None:
                self.weights = dataclasses.replace(self.weights, path=os.fspath(weights_path))
            self.pretrained = self.weights.name
            if self.weights.architecture != "inception_resnet_v1":
                raise ValueError(
                    f"{self.weights.name!r} holds {self.weights.architecture} weights, not "
                    "inception_resnet_v1"
                )
            embedding_size = self.weights.embedding_size or embedding_size
            pretrained_classes = self.weights.num_classes
        elif classify and num_classes is None:
            raise ValueError(
                'if "pretrained" is not specified and "classify" is True, '
                '"num_classes" must be specified'
            )

        self.conv2d_1a = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.conv2d_2a = BasicConv2d(32, 32, kernel_size=3, stride=1)
        self.conv2d_2b = BasicConv2d(32, 64, kernel_size=3, stride=1, padding=1)
        self.maxpool_3a = nn.MaxPool2d(3, stride=2)
        self.conv2d_3b = BasicConv2d(64, 80, kernel_size=1, stride=1)
        self.conv2d_4a = BasicConv2d(80, 192, kernel_size=3, stride=1)
        self.conv2d_4b = BasicConv2d(192, 256, kernel_size=3, stride=2)
        self.repeat_1 = nn.Sequential(*[Block35(scale=0.17) for _ in range(5)])
        self.mixed_6a = Mixed_6a()
        self.repeat_2 = nn.Sequential(*[Block17(scale=0.10) for _ in range(10)])
        self.mixed_7a = Mixed_7a()
        self.repeat_3 = nn.Sequential(*[Block8(scale=0.20) for _ in range(5)])
        self.block8 = Block8(noReLU=True)
        self.avgpool_1a = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout_prob)
        self.last_linear = nn.Linear(1792, embedding_size, bias=False)
        self.last_bn = nn.BatchNorm1d(embedding_size, eps=0.001, momentum=0.1, affine=True)

        if self.weights is not None:
            if pretrained_classes is not None:
                self.logits = nn.Linear(embedding_size, pretrained_classes)
            from faceprint.weights.loading import load_pretrained

            load_pretrained(self, self.weights)
        if num_classes is not None and num_classes != pretrained_classes:
            self.logits = nn.Linear(embedding_size, num_classes)
        if classify and not hasattr(self, "logits"):
            raise ValueError(f"{pretrained!r} has no classifier head; pass num_classes to add one")
        if device is not None:
            self.to(device)

    @property
    def device(self) -> torch.device:
        """Device of the parameters."""
        return next(self.parameters()).device

    @property
    def embedding_size(self) -> int:
        """Length D of the embeddings."""
        return self.last_linear.out_features

    #: Children in forward order; ``--freeze NAME`` freezes every one up to and including NAME.
    BLOCKS = (
        "conv2d_1a",
        "conv2d_2a",
        "conv2d_2b",
        "maxpool_3a",
        "conv2d_3b",
        "conv2d_4a",
        "conv2d_4b",
        "repeat_1",
        "mixed_6a",
        "repeat_2",
        "mixed_7a",
        "repeat_3",
        "block8",
        "avgpool_1a",
    )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed standardized face crops.

        Args:
            x: ``(B, 3, H, W)`` float, standardized (see the class docstring); 160x160 expected.

        Returns:
            ``(B, D)`` unit-norm embeddings, or ``(B, num_classes)`` logits with ``classify``.
        """
        x = self.features(x)
        if self.classify:
            return self.logits(x)
        return F.normalize(x, p=2, dim=1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The bottleneck output before L2 normalisation, which the classifier head reads.

        Args:
            x: ``(B, 3, H, W)`` standardized float crops.

        Returns:
            ``(B, D)`` float features (not unit-norm).
        """
        return self.head_features(self.trunk(x))

    def trunk(self, x: torch.Tensor, until: str = "avgpool_1a") -> torch.Tensor:
        """Run the convolutional blocks of :data:`BLOCKS` up to and including ``until``.

        Args:
            x: ``(B, 3, H, W)`` standardized float crops.
            until: the last block to run.

        Returns:
            That block's output, e.g. ``(B, 1792, 1, 1)`` after ``avgpool_1a``.
        """
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(
                f"expected a (B, 3, H, W) batch of face crops, got shape {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise TypeError(
                f"expected a standardized float tensor, got {x.dtype}; "
                "standardize 0..255 crops with faceprint.fixed_image_standardization"
            )
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        for name in self.BLOCKS[: self.BLOCKS.index(until) + 1]:
            x = getattr(self, name)(x)
        return x

    def rest_of_trunk(self, x: torch.Tensor, after: str, until: str = "avgpool_1a") -> torch.Tensor:
        """Run the blocks after ``after`` up to and including ``until``, on
        ``trunk(x, after)``'s output."""
        for name in self.BLOCKS[self.BLOCKS.index(after) + 1 : self.BLOCKS.index(until) + 1]:
            x = getattr(self, name)(x)
        return x

    def head_features(self, pooled: torch.Tensor) -> torch.Tensor:
        """Dropout, bottleneck and batch norm: ``(B, 1792, 1, 1)`` pooled maps to ``(B, D)``."""
        return self.last_bn(self.last_linear(self.dropout(pooled).flatten(1)))
