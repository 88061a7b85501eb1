"""The CPU kernels against the torch operations they stand in for, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.nn.functional import adaptive_avg_pool2d, interpolate
from torchvision.ops import batched_nms as torchvision_batched_nms

from faceprint.detection import cpu_kernels, stages
from faceprint.detection.cpu_kernels import CeilMaxPool2d, PixelRowPReLU
from faceprint.detection.nets import ONet, PNet, RNet
from faceprint.detection.stages import pyramid_scales


@pytest.fixture(autouse=True)
def _inference():
    """The kernels serve inference only: under autograd they defer to torch."""
    with torch.inference_mode():
        yield


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("batch", [1, 3])
def test_area_resizer_equals_area_interpolation(multiface, dtype, batch):
    rgb = np.asarray(Image.open(multiface).convert("RGB"))
    # Channels-last, as MTCNN hands images to the cascade; different crops per batch entry.
    stack = np.stack([rgb[i * 7 : i * 7 + 600, i * 11 : i * 11 + 900] for i in range(batch)])
    images = torch.from_numpy(stack).permute(0, 3, 1, 2).to(dtype)
    resize = cpu_kernels.area_resizer(images)
    for scale in pyramid_scales(600, 900, 20, 0.709):
        size = (int(600 * scale + 1), int(900 * scale + 1))
        ours, reference = resize(size), interpolate(images.contiguous(), size=size, mode="area")
        assert ours.shape == reference.shape == (batch, 3, *size)
        assert torch.equal(ours, reference), (
            f"level {size} differs by {(ours - reference).abs().max()}"
        )


def test_area_resizer_does_not_apply_to_small_images_or_when_switched_off(kernels_off):
    images = torch.arange(2 * 3 * 40 * 50, dtype=torch.float32).reshape(2, 3, 40, 50) % 256
    assert cpu_kernels.area_resizer(images) is None
    with kernels_off():
        assert cpu_kernels.area_resizer(images.repeat(1, 1, 4, 4)) is None


def _random_boxes(count: int, height: int, width: int, seed: int) -> torch.Tensor:
    """``(count, 4)`` integer ``x1, y1, x2, y2`` boxes inside the image, from 1 pixel (every
    bin repeats it) to the whole image, square or not, plus the corner and whole-image cases."""
    g = torch.Generator().manual_seed(seed)
    x1 = torch.randint(0, width, (count,), generator=g)
    y1 = torch.randint(0, height, (count,), generator=g)
    w = torch.randint(1, width, (count,), generator=g)
    h = torch.where(
        torch.rand(count, generator=g) < 0.5, w, torch.randint(1, height, (count,), generator=g)
    )
    boxes = torch.stack([x1, y1, (x1 + w).clamp(max=width), (y1 + h).clamp(max=height)], dim=1)
    edges = torch.tensor(
        [[0, 0, 1, 1], [width - 1, height - 1, width, height], [0, 0, width, height]]
    )
    return torch.cat([boxes, edges])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "side", [250, 630]
)  # a summed-area table up to 256 x 256 px; pooling calls beyond
@pytest.mark.parametrize("size", [24, 48])
def test_summed_area_resampler_equals_area_pooling_of_each_box(multiface, dtype, side, size):
    rgb = np.asarray(Image.open(multiface).convert("RGB"))
    images = (
        torch.from_numpy(np.stack([rgb[:side, :side], rgb[-side:, -side:]]))
        .permute(0, 3, 1, 2)
        .to(dtype)
    )
    corners = _random_boxes(300, side, side, seed=side + size)
    image_inds = torch.arange(len(corners)) % 2
    resample = cpu_kernels.summed_area_resampler(images) or stages.BoxPooler(images)
    ours = resample(image_inds, corners, size)
    reference = torch.cat(
        [
            adaptive_avg_pool2d(images[b : b + 1, :, y1:y2, x1:x2], size)
            for b, (x1, y1, x2, y2) in zip(image_inds.tolist(), corners.tolist(), strict=True)
        ]
    )
    assert ours.shape == reference.shape == (len(corners), 3, size, size)
    assert torch.equal(ours, reference), f"differs by {(ours - reference).abs().max()}"
    assert isinstance(resample, cpu_kernels.SummedAreaResampler) == (side < 256)


@pytest.mark.parametrize("net_class, side", [(RNet, 24), (ONet, 48)])
def test_cpu_chunks_of_crops_match_one_call(net_class, side):
    net = net_class(pretrained=False).eval().to(memory_format=torch.channels_last)
    crops = torch.rand(100, 3, side, side, generator=torch.Generator().manual_seed(side)) * 2 - 1
    crops = crops.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        chunked = stages._chunked(net, crops)  # crops_per_call crops at a time
        whole = net(crops)
        assert cpu_kernels.crops_per_call(net, crops) < len(crops)
    # Chunks are joined in order; torch may round a crop's scores differently among other
    # crops (in the last bit), so only closeness is guaranteed, not equality.
    for a, b in zip(chunked, whole, strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_area_resizer_keeps_bag_indices_within_budget(monkeypatch):
    monkeypatch.setattr(cpu_kernels, "_BINS_CACHE", type(cpu_kernels._BINS_CACHE)())
    first = cpu_kernels._bins(250, 151, 16)
    assert cpu_kernels._bins(250, 151, 16)[0] is first[0]  # reused, not rebuilt
    monkeypatch.setattr(cpu_kernels, "_BINS_CACHE_ELEMENTS", len(first[0]) + 10)
    cpu_kernels._bins(250, 107, 16)  # does not fit beside the first: the older entry goes
    assert list(cpu_kernels._BINS_CACHE) == [(250, 107, 16)]
    cpu_kernels._bins(1000, 700, 64)  # larger than the whole budget: built, not kept
    assert list(cpu_kernels._BINS_CACHE) == [(250, 107, 16)]


def _reference_nms(boxes, scores, idxs, threshold):
    """facenet-pytorch's one-image NMS (torchvision's batched_nms), image by image."""
    keep = []
    for b in torch.unique(idxs).tolist():
        members = torch.nonzero(idxs == b).squeeze(1)
        keep.append(
            members[
                torchvision_batched_nms(
                    boxes[members], scores[members], torch.zeros_like(members), threshold
                )
            ]
        )
    return torch.cat(keep)


@pytest.mark.parametrize("per_image", [40, 1200])  # 1200: torchvision's per-class path
def test_grid_nms_equals_torchvision_image_by_image(per_image):
    gen = torch.Generator().manual_seed(per_image)
    images = 5
    idxs = torch.randint(0, images, (images * per_image,), generator=gen)
    corner = torch.randint(0, 240, (len(idxs), 2), generator=gen)
    side = torch.randint(5, 60, (len(idxs), 1), generator=gen)
    boxes = torch.cat([corner, corner + side], dim=1).float()  # whole numbers, as P-Net's grid
    # Coarse scores make many exact ties, which the order of equal scores must break the same way.
    scores = torch.randint(0, 20, (len(idxs),), generator=gen).float() / 20
    expected = _reference_nms(boxes, scores, idxs, 0.5)
    with torch.inference_mode():
        assert torch.equal(cpu_kernels.grid_nms(boxes, scores, idxs, 0.5), expected)


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
