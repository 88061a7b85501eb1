"""The MTCNN networks' own layers against torch's."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from faceprint.detection.nets import CeilMaxPool2d


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
