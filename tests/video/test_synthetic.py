"""The synthetic clips' truth: where each face is, frame by frame."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from faceprint.detection import create_detector
from faceprint.video import read_frames


def test_small_layout_has_small_and_turned_faces_inside_the_frame(small):
    turned = {w.name for w in small.walkers if w.start_angle or w.end_angle}
    assert len(turned) == 2 and len(small.walkers) == 4
    rows = [r for r in small.truth if r[6]]
    assert len(rows) >= 100
    boxes = np.array([r[2:6] for r in rows])
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= 640).all() and (boxes[:, 3] <= 360).all()
    heights = boxes[:, 3] - boxes[:, 1]
    assert heights.min() >= 11.5 and heights.max() <= 32.5
    assert heights.min() < 13 and heights.max() > 31  # the whole range, 12 to 32 px
    # A turned face's box is its turned box's bounding box: squarer than an upright face's.
    ratio = {r[1]: (r[4] - r[2]) / (r[5] - r[3]) for r in rows if r[0] == 5}
    upright = [ratio[n] for n in ratio if n not in turned]
    assert min(ratio[n] for n in turned if n in ratio) > max(upright)


def test_small_layout_truth_is_where_a_detector_finds_the_faces(small):
    """Upright faces of 20 px or more are found by CenterFace at twice the scale, each
    detection overlapping its truth by IoU 0.5 or more."""
    detector = create_detector("centerface", input_scale=2.0)
    frames = [f.image for f in read_frames(small.video) if f.index in (0, 15, 29)]
    found = detector.detect_batch(frames)
    turned = {w.name for w in small.walkers if w.start_angle or w.end_angle}
    checked = 0
    for index, detections in zip((0, 15, 29), found, strict=True):
        for frame, name, x1, y1, x2, y2, visible, hidden in small.truth:
            if frame != index or name in turned or not visible or y2 - y1 < 20 or hidden > 0:
                continue
            iou = box_iou(torch.tensor([[x1, y1, x2, y2]]), torch.from_numpy(detections.boxes))
            assert iou.numel() and float(iou.max()) >= 0.5, (index, name, iou)
            checked += 1
    assert checked >= 3


def test_small_layout_takes_four_people(tmp_path):
    from faceprint.video.synthetic import small as small_layout

    with pytest.raises(ValueError, match="the small layout takes 4 people, got 3"):
        small_layout([("a", tmp_path)] * 3, 10)
