"""Non-maximum suppression as MTCNN uses it: per image, in torchvision's order.

torchvision's ``batched_nms`` shifts each image's boxes by ``index * max_coordinate``, and in
float32 that shift perturbs overlaps enough to change results with the batch's make-up. Running
each image on its own keeps a face's detection independent of its batch-mates.
"""

from __future__ import annotations

import numpy as np
import torch
import torchvision  # noqa: F401  (registers torch.ops.torchvision.nms)


def batched_nms(
    boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, threshold: float
) -> torch.Tensor:
    """IoU NMS within each image; kept indices grouped by image, strongest first.

    Args:
        boxes: ``(N, 4)`` as ``x1, y1, x2, y2``.
        scores: ``(N,)``.
        idxs: ``(N,)`` image index of each box; boxes of different images never suppress.
        threshold: IoU above which the weaker box is dropped, in [0, 1].

    Returns:
        ``(K,)`` int64 indices of the kept boxes.
    """
    return per_image(_nms_iou, boxes, scores, idxs, threshold)


def _nms_iou(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """torchvision's ``batched_nms`` for boxes of one image, without its per-call Python work.

    Above 1000 boxes (CPU) torchvision takes its per-class path, which lists the kept boxes in
    index order and re-sorts them by score; that order decides ties downstream, so it is kept.
    """
    keep = torch.ops.torchvision.nms(boxes, scores, threshold)
    if per_class_path(len(boxes), boxes.device):
        keep = keep.sort().values
        keep = keep[scores[keep].sort(descending=True)[1]]
    return keep


def per_class_path(count: int, device: torch.device) -> bool:
    """Whether torchvision's ``batched_nms`` takes its per-class path for ``count`` boxes."""
    return count * 4 > (4000 if device.type == "cpu" else 100_000)


def per_image(nms, boxes, scores, idxs, threshold) -> torch.Tensor:
    """``nms(boxes, scores, threshold)`` on each image's boxes alone, in image order."""
    if len(idxs) == 0:
        return idxs.new_zeros(0)
    # A stable sort keeps each image's boxes in their given order, which decides score ties.
    order = torch.argsort(idxs, stable=True)
    boxes, scores = boxes[order], scores[order]
    keep, start = [], 0
    for count in torch.bincount(idxs).tolist():
        if count:
            end = start + count
            keep.append(nms(boxes[start:end], scores[start:end], threshold).add_(start))
            start = end
    return order[torch.cat(keep)]


def batched_nms_min(
    boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, threshold: float
) -> torch.Tensor:
    """Greedy NMS that divides the intersection by the *smaller* box area, per image.

    Written here because ``torchvision.ops.nms`` only implements intersection-over-union, and
    MTCNN's last stage suppresses boxes nested inside a stronger one this way.

    Args:
        boxes: ``(N, 4)`` as ``x1, y1, x2, y2`` with MTCNN's inclusive (+1) pixel areas.
        scores: ``(N,)``.
        idxs: ``(N,)`` image index of each box; boxes of different images never suppress.
        threshold: overlap above which the weaker box is dropped, in [0, 1].

    Returns:
        Indices of kept boxes, strongest first, ``(K,)`` int64.
    """
    return per_image(_nms_min, boxes, scores, idxs, threshold)


def _nms_min(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.long, device=boxes.device)
    x1, y1, x2, y2 = boxes.cpu().numpy().T
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    # numpy's argsort, walked from the end, breaks ties between equal scores (common at
    # p = 0.99999...) exactly as the reference implementation does.
    order = np.argsort(scores.cpu().numpy())
    keep = []
    while order.size:
        i, rest = order[-1], order[:-1]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        overlap = w * h / np.minimum(area[i], area[rest])
        order = rest[overlap <= threshold]
    return torch.as_tensor(np.array(keep, dtype=np.int64), device=boxes.device)
