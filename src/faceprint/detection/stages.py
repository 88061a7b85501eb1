"""The MTCNN cascade: image pyramid -> P-Net proposals -> R-Net refinement -> O-Net output.

Numerically this follows facenet-pytorch 2.6.0 step for step (same resampling, same NMS order,
same box arithmetic), so that faceprint's detections are the same detections.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn.functional import adaptive_avg_pool2d, interpolate

from faceprint.alignment import fixed_image_standardization
from faceprint.detection import cpu_kernels
from faceprint.detection.nets import ONet, PNet, RNet
from faceprint.detection.nms import batched_nms, batched_nms_min

_PNET_CELL = 12
_PNET_STRIDE = 2


def pyramid_scales(height: int, width: int, min_face_size: float, factor: float) -> list[float]:
    """Scales at which P-Net's 12 px window covers faces from ``min_face_size`` up to the image."""
    scale = _PNET_CELL / min_face_size
    side = min(height, width) * scale
    scales = []
    while side >= _PNET_CELL:
        scales.append(scale)
        scale *= factor
        side *= factor
    return scales


def detect_faces(
    images: torch.Tensor,
    pnet: PNet,
    rnet: RNet,
    onet: ONet,
    min_face_size: float = 20,
    thresholds: Sequence[float] = (0.6, 0.7, 0.7),
    factor: float = 0.709,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Run the cascade on a batch of equally sized images.

    Args:
        images: ``(B, 3, H, W)`` RGB, values 0..255, in the networks' dtype and device.
        pnet, rnet, onet: the three stages.
        min_face_size: smallest face side to search for, in pixels.
        thresholds: face-probability thresholds of the three stages, each in [0, 1].
        factor: pyramid scale step, in (0, 1).

    Returns:
        One ``(boxes, landmarks)`` pair per image: boxes ``(N, 5)`` as
        ``x1, y1, x2, y2, probability`` in pixels, landmarks ``(N, 5, 2)`` as ``(x, y)`` for
        the eyes, the nose and the mouth corners.
    """
    batch = images.shape[0]
    boxes, image_inds = _propose(images, pnet, min_face_size, thresholds[0], factor)
    resample = cpu_kernels.summed_area_resampler(images) or BoxPooler(images)
    if len(boxes):
        boxes, image_inds = _refine(resample, boxes, image_inds, rnet, thresholds[1])
    points = images.new_zeros((0, 5, 2))
    if len(boxes):
        boxes, image_inds, points = _output(resample, boxes, image_inds, onet, thresholds[2])
    return [(boxes[image_inds == b], points[image_inds == b]) for b in range(batch)]


def _propose(images, pnet, min_face_size, threshold, factor):
    _, _, height, width = images.shape
    boxes, image_inds = [], []
    resize = cpu_kernels.area_resizer(images) or (
        lambda size: interpolate(images, size=size, mode="area")
    )
    for scale in pyramid_scales(height, width, min_face_size, factor):
        size = (int(height * scale + 1), int(width * scale + 1))
        scaled = fixed_image_standardization(resize(size), inplace=True)
        # oneDNN's convolutions run about twice as fast on channels-last tensors.
        reg, probs = pnet(scaled.contiguous(memory_format=torch.channels_last))
        boxes_s, inds_s = _grid_boxes(reg, probs[:, 1], scale, threshold)
        pick = cpu_kernels.grid_nms(boxes_s[:, :4], boxes_s[:, 4], inds_s, 0.5)
        boxes.append(boxes_s[pick])
        image_inds.append(inds_s[pick])
    if not boxes:
        return images.new_zeros((0, 9)), torch.zeros(0, dtype=torch.long, device=images.device)
    boxes, image_inds = torch.cat(boxes), torch.cat(image_inds)
    pick = cpu_kernels.grid_nms(boxes[:, :4], boxes[:, 4], image_inds, 0.7)
    boxes, image_inds = boxes[pick], image_inds[pick]
    regw = boxes[:, 2] - boxes[:, 0]
    regh = boxes[:, 3] - boxes[:, 1]
    size = torch.stack([regw, regh, regw, regh], dim=1)
    corrected = boxes[:, :4] + boxes[:, 5:9] * size
    return _square(torch.cat([corrected, boxes[:, 4:5]], dim=1)), image_inds


def _refine(resample, boxes, image_inds, rnet, threshold):
    crops, boxes, image_inds = _crops(resample, boxes, image_inds, 24)
    reg, probs = _chunked(rnet, crops)
    score = probs[:, 1]
    keep = score > threshold
    boxes = torch.cat([boxes[keep, :4], score[keep, None]], dim=1)
    image_inds, reg = image_inds[keep], reg[keep]
    pick = batched_nms(boxes[:, :4], boxes[:, 4], image_inds, 0.7)
    boxes = _regress(boxes[pick], reg[pick])
    return _square(boxes), image_inds[pick]


def _output(resample, boxes, image_inds, onet, threshold):
    crops, boxes, image_inds = _crops(resample, boxes, image_inds, 48)
    reg, marks, probs = _chunked(onet, crops)
    score = probs[:, 1]
    keep = score > threshold
    boxes = torch.cat([boxes[keep, :4], score[keep, None]], dim=1)
    image_inds, reg, marks = image_inds[keep], reg[keep], marks[keep]
    w = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
    h = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
    points_x = w * marks[:, :5] + boxes[:, 0:1] - 1
    points_y = h * marks[:, 5:] + boxes[:, 1:2] - 1
    points = torch.stack([points_x, points_y], dim=2)
    boxes = _regress(boxes, reg)
    pick = batched_nms_min(boxes[:, :4], boxes[:, 4], image_inds, 0.7)
    return boxes[pick], image_inds[pick], points[pick]


def _grid_boxes(reg, probs, scale, threshold):
    """Boxes, in image pixels, of the P-Net grid cells whose face probability passes."""
    mask = probs >= threshold
    cells = mask.nonzero()
    image_inds = cells[:, 0]
    score = probs[mask]
    reg = reg.permute(1, 0, 2, 3)[:, mask].permute(1, 0)
    yx = cells[:, 1:].to(reg.dtype).flip(1)
    top_left = ((_PNET_STRIDE * yx + 1) / scale).floor()
    bottom_right = ((_PNET_STRIDE * yx + _PNET_CELL) / scale).floor()
    return torch.cat([top_left, bottom_right, score[:, None], reg], dim=1), image_inds


def _regress(boxes: torch.Tensor, reg: torch.Tensor) -> torch.Tensor:
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    size = torch.stack([w, h, w, h], dim=1)
    return torch.cat([boxes[:, :4] + reg * size, boxes[:, 4:]], dim=1)


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Grow each box to a square around its centre (MTCNN's ``rerec``)."""
    h = boxes[:, 3] - boxes[:, 1]
    w = boxes[:, 2] - boxes[:, 0]
    side = torch.maximum(w, h)
    x1 = boxes[:, 0] + w * 0.5 - side * 0.5
    y1 = boxes[:, 1] + h * 0.5 - side * 0.5
    return torch.stack([x1, y1, x1 + side, y1 + side, *boxes[:, 4:].unbind(1)], dim=1)


def _crops(resample, boxes, image_inds, size):
    """Resample each box's pixels to ``size`` x ``size`` with area interpolation, standardized.

    Boxes are truncated to integers and clipped to the image with MTCNN's 1-based convention;
    boxes that end up empty are dropped (with their rows) so crops and boxes stay aligned.
    """
    height, width = resample.images.shape[2:]
    corners = boxes[:, :4].trunc().long()
    x1 = corners[:, 0].clamp(min=1) - 1
    y1 = corners[:, 1].clamp(min=1) - 1
    x2 = corners[:, 2].clamp(max=width)
    y2 = corners[:, 3].clamp(max=height)
    valid = (y2 > y1) & (x2 > x1)
    if not bool(valid.all()):
        boxes, image_inds = boxes[valid], image_inds[valid]
        x1, y1, x2, y2 = x1[valid], y1[valid], x2[valid], y2[valid]
    if len(boxes) == 0:
        return boxes.new_zeros((0, 3, size, size)), boxes, image_inds
    crops = resample(image_inds, torch.stack([x1, y1, x2, y2], dim=1), size)
    return (
        fixed_image_standardization(crops, inplace=True).contiguous(
            memory_format=torch.channels_last
        ),
        boxes,
        image_inds,
    )


class BoxPooler:
    """``resample(image_inds, corners, size)``: each box resampled to ``size`` x ``size`` by
    ``adaptive_avg_pool2d`` (``interpolate(mode="area")``), one call per box.

    Args:
        images: ``(B, C, H, W)`` pixels, values 0..255.

    Calling it with ``image_inds`` ``(N,)``, ``corners`` ``(N, 4)`` as integer ``x1, y1, x2, y2``
    (0-based, ``x2``/``y2`` exclusive, non-empty) and ``size`` returns ``(N, C, size, size)``.
    A planar copy of the images is made on the first call: pooling reads it faster per box.
    """

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images
        self._planar: torch.Tensor | None = None

    def __call__(self, image_inds: torch.Tensor, corners: torch.Tensor, size: int) -> torch.Tensor:
        if self._planar is None:
            self._planar = self.images.contiguous()
        return torch.cat(
            [
                adaptive_avg_pool2d(self._planar[b : b + 1, :, top:bottom, left:right], size)
                for b, left, top, right, bottom in zip(
                    image_inds.tolist(), *corners.T.tolist(), strict=True
                )
            ]
        )


def _chunked(net: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Run ``net`` on ``x`` in chunks (:func:`~faceprint.detection.cpu_kernels.crops_per_call`).

    torch can round a crop's answer differently (in the last bit) in a chunk of other crops.
    """
    if len(x) == 0:
        dummy = net(x.new_zeros((1, *x.shape[1:])))
        return tuple(t[:0] for t in dummy)
    chunk = cpu_kernels.crops_per_call(net, x)
    outs = [net(x[i : i + chunk]) for i in range(0, len(x), chunk)]
    return tuple(torch.cat(parts) for parts in zip(*outs, strict=True))
