"""The cascade's building blocks against the torch operations they stand in for, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn.functional import adaptive_avg_pool2d, interpolate
from torchvision.ops import batched_nms as torchvision_batched_nms

from faceprint.detection import stages
from faceprint.detection.nets import ONet, RNet
from faceprint.detection.stages import (
    BoxResampler,
    _chunked,
    area_resizer,
    batched_nms,
    grid_nms,
    pyramid_scales,
)


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


def _random_boxes(count: int, height: int, width: int, seed: int) -> torch.Tensor:
    """``(count, 4)`` integer ``x1, y1, x2, y2`` boxes inside the image, from 1 pixel (every
    bin repeats it) to the whole image, square or not, plus the corner and whole-image cases."""
    g = torch.Generator().manual_seed(seed)
    x1 = torch.randint(0, width, (count,), generator=g)
    y1 = torch.randint(0, height, (count,), generator=g)
    w = torch.randint(1, width, (count,), generator=g)
    h = torch.where(torch.rand(count, generator=g) < 0.5, w, torch.randint(1, height, (count,), generator=g))
    boxes = torch.stack([x1, y1, (x1 + w).clamp(max=width), (y1 + h).clamp(max=height)], dim=1)
    edges = torch.tensor([[0, 0, 1, 1], [width - 1, height - 1, width, height], [0, 0, width, height]])
    return torch.cat([boxes, edges])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("side", [250, 630])  # a summed-area table up to 256 x 256 px; pooling calls beyond
@pytest.mark.parametrize("size", [24, 48])
def test_box_resampler_equals_area_pooling_of_each_box(multiface, dtype, side, size):
    rgb = np.asarray(Image.open(multiface).convert("RGB"))
    images = torch.from_numpy(np.stack([rgb[:side, :side], rgb[-side:, -side:]])).permute(0, 3, 1, 2).to(dtype)
    corners = _random_boxes(300, side, side, seed=side + size)
    image_inds = torch.arange(len(corners)) % 2
    resample = BoxResampler(images)
    ours = resample(image_inds, corners, size)
    reference = torch.cat([
        adaptive_avg_pool2d(images[b : b + 1, :, y1:y2, x1:x2], size)
        for b, (x1, y1, x2, y2) in zip(image_inds.tolist(), corners.tolist())
    ])
    assert ours.shape == reference.shape == (len(corners), 3, size, size)
    assert torch.equal(ours, reference), f"differs by {(ours - reference).abs().max()}"
    assert resample.uses_table == (side < 256)


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


def test_area_resizer_keeps_bag_indices_within_budget(monkeypatch):
    monkeypatch.setattr(stages, "_BINS_CACHE", type(stages._BINS_CACHE)())
    first = stages._bins(250, 151, 16)
    assert stages._bins(250, 151, 16)[0] is first[0]  # reused, not rebuilt
    monkeypatch.setattr(stages, "_BINS_CACHE_ELEMENTS", len(first[0]) + 10)
    stages._bins(250, 107, 16)  # does not fit beside the first: the older entry goes
    assert list(stages._BINS_CACHE) == [(250, 107, 16)]
    stages._bins(1000, 700, 64)  # larger than the whole budget: built, not kept
    assert list(stages._BINS_CACHE) == [(250, 107, 16)]


def _reference_nms(boxes, scores, idxs, threshold):
    """facenet-pytorch's one-image NMS (torchvision's batched_nms), image by image."""
    keep = []
    for b in torch.unique(idxs).tolist():
        members = torch.nonzero(idxs == b).squeeze(1)
        keep.append(members[torchvision_batched_nms(boxes[members], scores[members], torch.zeros_like(members), threshold)])
    return torch.cat(keep)


@pytest.mark.parametrize("per_image", [40, 1200])  # 1200: torchvision's per-class path
def test_nms_equals_torchvision_image_by_image(per_image):
    gen = torch.Generator().manual_seed(per_image)
    images = 5
    idxs = torch.randint(0, images, (images * per_image,), generator=gen)
    corner = torch.randint(0, 240, (len(idxs), 2), generator=gen)
    side = torch.randint(5, 60, (len(idxs), 1), generator=gen)
    boxes = torch.cat([corner, corner + side], dim=1).float()  # whole numbers, as P-Net's grid
    # Coarse scores make many exact ties, which the order of equal scores must break the same way.
    scores = torch.randint(0, 20, (len(idxs),), generator=gen).float() / 20
    expected = _reference_nms(boxes, scores, idxs, 0.5)
    assert torch.equal(grid_nms(boxes, scores, idxs, 0.5), expected)
    assert torch.equal(batched_nms(boxes, scores, idxs, 0.5), expected)
    fractional = boxes + torch.rand(boxes.shape, generator=gen)
    assert torch.equal(batched_nms(fractional, scores, idxs, 0.5), _reference_nms(fractional, scores, idxs, 0.5))
