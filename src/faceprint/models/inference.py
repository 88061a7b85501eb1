"""Inference-only rewrites of the embedders that keep its answers (to float rounding)."""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

from faceprint.models.dlib_resnet import DlibResNet
from faceprint.models.inception_resnet_v1 import (
    BasicConv2d,
    Block8,
    Block17,
    Block35,
    InceptionResnetV1,
)


def optimize_for_inference(
    model: InceptionResnetV1 | DlibResNet, channels_last: bool = True
) -> InceptionResnetV1 | DlibResNet:
    """A copy of ``model`` folded for fast inference (the original is left untouched).

    - every BatchNorm is folded into the convolution or linear layer before it;
    - each residual block's ``scale`` is folded into its 1x1 up-projection;
    - a :class:`~faceprint.models.dlib_resnet.DlibResNet`'s ``affine`` layers (dlib's batch
      norms, already folded into a scale and shift) are folded into their convolutions;
    - weights (and, on the way in, inputs) use the ``channels_last`` layout, which oneDNN's
      convolutions prefer on CPUs and cuDNN's on tensor-core GPUs.

    The copy is in eval mode and meant for ``torch.inference_mode()``; training it would be
    wrong (dropout is kept but BN statistics are gone).

    Returns:
        The optimized copy. Its outputs match ``model``'s to about 1e-6.
    """
    if isinstance(model, DlibResNet):
        return _fold_affine(model, channels_last)
    fast = copy.deepcopy(model).eval()
    with torch.no_grad():
        for module in fast.modules():
            if isinstance(module, BasicConv2d) and isinstance(module.bn, nn.BatchNorm2d):
                module.conv = fuse_conv_bn_eval(module.conv, module.bn)
                module.bn = nn.Identity()
            if isinstance(module, (Block35, Block17, Block8)) and module.scale != 1.0:
                module.conv2d.weight.mul_(module.scale)
                module.conv2d.bias.mul_(module.scale)
                module.scale = 1.0
        if isinstance(fast.last_bn, nn.BatchNorm1d):
            fast.last_linear = fuse_linear_bn_eval(fast.last_linear, fast.last_bn)
            fast.last_bn = nn.Identity()
    if channels_last:
        fast = fast.to(memory_format=torch.channels_last)
        fast.channels_last = True
    return fast


def _fold_affine(model: DlibResNet, channels_last: bool = True) -> DlibResNet:
    """A copy of ``model`` for inference with each ``affine`` folded into its convolution and,
    by default, channels-last weights. Outputs match ``model``'s to about 1e-6."""
    fast = copy.deepcopy(model).eval()
    with torch.no_grad():
        pairs = [(fast, "conv", "affine")]
        for block in fast.blocks:
            pairs += [(block, "conv1", "affine1"), (block, "conv2", "affine2")]
        for owner, conv_name, affine_name in pairs:
            conv, affine = getattr(owner, conv_name), getattr(owner, affine_name)
            if isinstance(affine, nn.Identity):
                continue
            conv.weight.mul_(affine.weight.view(-1, 1, 1, 1))
            conv.bias.copy_(conv.bias * affine.weight + affine.bias)
            setattr(owner, affine_name, nn.Identity())
    if channels_last:
        fast = fast.to(memory_format=torch.channels_last)
        fast.channels_last = True
    return fast
