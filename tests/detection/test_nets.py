"""The MTCNN networks' own layers against torch's."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from faceprint.detection.nets import CeilMaxPool2d, PixelRowPReLU, PNet


@pytest.mark.parametrize("kernel, stride", [(2, 2), (3, 2)])
@pytest.mark.parametrize("height, width", [(5, 6), (6, 5), (22, 22), (23, 47)])
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_ceil_max_pool_equals_torch(kernel, stride, height, width, memory_format):
    x = torch.randn(2, 10, height, width, generator=torch.Generator().manual_seed(height * width))
    x = x.contiguous(memory_format=memory_format)
    with torch.inference_mode():
        ours = CeilMaxPool2d(kernel, stride)(x)
    reference = nn.MaxPool2d(kernel, stride, ceil_mode=True)(x)
    assert ours.shape == reference.shape
    assert torch.equal(ours, reference)


@pytest.mark.parametrize("channels", [10, 28, 32])
@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 7, 9), (3, 22, 22), (2, 8, 9), (2, 13, 17)])
def test_pixel_row_prelu_equals_torch(channels, shape):
    batch, height, width = shape
    x = torch.randn(batch, channels, height, width).contiguous(memory_format=torch.channels_last)
    ours = PixelRowPReLU(channels)
    ours.weight.data = torch.linspace(-1.2, 1.1, channels)
    reference = nn.PReLU(channels)
    reference.weight.data = ours.weight.data.clone()
    with torch.inference_mode():
        out = ours(x)
        expected = reference(x)
    assert out.shape == expected.shape and out.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(out, expected)


@pytest.mark.parametrize("batch, height, width", [(1, 400, 700), (1, 401, 700), (16, 151, 151)])
def test_pnet_strips_equal_the_whole_map(batch, height, width):
    pnet = PNet(pretrained=False).eval().to(memory_format=torch.channels_last)
    x = torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(height)) * 2 - 1
    x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        reg, probs = pnet(x)  # runs as strips of rows on CPU
        whole_reg, whole_logits = pnet._maps(x)  # the whole map at once
        whole_probs = pnet.softmax4_1(whole_logits)
    assert reg.shape == whole_reg.shape == (batch, 4, (height - 1) // 2 - 4, (width - 1) // 2 - 4)
    assert torch.equal(reg, whole_reg) and torch.equal(probs, whole_probs)
