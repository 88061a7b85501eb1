"""MTCNN's NMS, image by image, against torchvision's."""

from __future__ import annotations

import pytest
import torch
from torchvision.ops import batched_nms as torchvision_batched_nms

from faceprint.detection.nms import batched_nms, batched_nms_min


def _reference_nms(boxes, scores, idxs, threshold):
    """facenet-pytorch's one-image NMS (torchvision's batched_nms), image by image."""
    keep = []
    for b in torch.unique(idxs).tolist():
        members = torch.nonzero(idxs == b).squeeze(1)
        kept = torchvision_batched_nms(
            boxes[members], scores[members], torch.zeros_like(members), threshold
        )
        keep.append(members[kept])
    return torch.cat(keep)


@pytest.mark.parametrize("per_image", [40, 1200])  # 1200: torchvision's per-class path
def test_batched_nms_equals_torchvision_image_by_image(per_image):
    gen = torch.Generator().manual_seed(per_image)
    idxs = torch.randint(0, 5, (5 * per_image,), generator=gen)
    corner = torch.rand(len(idxs), 2, generator=gen) * 240
    side = torch.randint(5, 60, (len(idxs), 1), generator=gen)
    boxes = torch.cat([corner, corner + side], dim=1)
    # Coarse scores make many exact ties, which the order of equal scores must break the same way.
    scores = torch.randint(0, 20, (len(idxs),), generator=gen).float() / 20
    assert torch.equal(
        batched_nms(boxes, scores, idxs, 0.5), _reference_nms(boxes, scores, idxs, 0.5)
    )


def test_nms_min_drops_a_box_nested_in_a_stronger_one_of_its_own_image():
    boxes = torch.tensor(
        [[0, 0, 99, 99], [10, 10, 39, 39], [200, 0, 299, 99], [10, 10, 39, 39]]
    ).float()
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    idxs = torch.tensor([0, 0, 0, 1])
    # Box 1 lies inside box 0 (overlap / smaller area = 1); box 3 is alone in image 1.
    assert batched_nms_min(boxes, scores, idxs, 0.7).tolist() == [0, 2, 3]
