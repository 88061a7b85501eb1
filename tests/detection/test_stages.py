"""The cascade's building blocks against the torch operations they stand in for, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn.functional import interpolate

from faceprint.detection.nets import ONet, RNet
from faceprint.detection.stages import _chunked, area_resizer, pyramid_scales


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("batch", [1, 3])
def test_area_resizer_equals_area_interpolation(multiface, dtype, batch):
    rgb = np.asarray(Image.open(multiface).convert("RGB"))
    # Channels-last, as MTCNN hands images to the cascade; different crops per batch entry.
    stack = np.stack([rgb[i * 7 : i * 7 + 600, i * 11 : i * 11 + 900] for i in range(batch)])
    images = torch.from_numpy(stack).permute(0, 3, 1, 2).to(dtype)
    resize = area_resizer(images)
    for scale in pyramid_scales(600, 900, 20, 0.709):
        size = (int(600 * scale + 1), int(900 * scale + 1))
        ours, reference = resize(size), interpolate(images.contiguous(), size=size, mode="area")
        assert ours.shape == reference.shape == (batch, 3, *size)
        assert torch.equal(ours, reference), f"level {size} differs by {(ours - reference).abs().max()}"


def test_area_resizer_small_images_fall_back_to_interpolate():
    images = torch.arange(2 * 3 * 40 * 50, dtype=torch.float32).reshape(2, 3, 40, 50) % 256
    assert torch.equal(area_resizer(images)((17, 23)), interpolate(images, size=(17, 23), mode="area"))


@pytest.mark.parametrize("net_class, side", [(RNet, 24), (ONet, 48)])
def test_cpu_chunks_of_crops_equal_one_call(net_class, side):
    net = net_class(pretrained=False).eval().to(memory_format=torch.channels_last)
    crops = torch.rand(100, 3, side, side, generator=torch.Generator().manual_seed(side)) * 2 - 1
    crops = crops.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        chunked = _chunked(net, crops)  # net.cpu_batch crops at a time
        whole = net(crops)
    assert net.cpu_batch < len(crops)
    assert all(torch.equal(a, b) for a, b in zip(chunked, whole))
