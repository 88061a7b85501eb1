"""The blur audit's measure: a face's detail, kept whole untouched and lost when blurred."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from faceprint.errors import VideoError
from faceprint.video import VideoWriter
from faceprint.video.audit import MAX_DETAIL, audit, detail, truth_reference
from faceprint.video.process import blur_faces


@pytest.fixture(scope="module")
def group(multiface, mtcnn):
    """multiface.jpg and its faces' boxes."""
    image = np.asarray(Image.open(multiface).convert("RGB"))
    boxes, _ = mtcnn.detect(image)
    return image, boxes


def test_blurred_faces_keep_little_detail_and_others_all(group):
    image, boxes = group
    assert len(boxes) >= 4
    blurred = blur_faces(image, boxes[:1])
    assert detail(blurred, boxes[0]) < 0.15 * detail(image, boxes[0])
    for box in boxes[1:]:
        if not (box[0] > boxes[0][2] + 0.3 * (boxes[0][2] - boxes[0][0]) or box[2] < boxes[0][0]):
            continue  # next to the blurred face: its margin may reach in
        assert detail(blurred, box) == pytest.approx(detail(image, box))


def test_detail_of_a_box_outside_or_too_small_is_zero(group):
    image, _ = group
    h, w = image.shape[:2]
    assert detail(image, (w + 10, 0, w + 50, 40)) == 0.0
    assert detail(image, (10, 10, 12, 12)) == 0.0
    assert detail(np.zeros((64, 64, 3), np.uint8), (0, 0, 64, 64)) == 0.0


def test_audit_names_the_faces_an_output_leaves(group, tmp_path):
    """Three frames: the faces blurred in the first two, the third untouched."""
    image, boxes = group
    h, w = (s - s % 2 for s in image.shape[:2])
    image = image[:h, :w]
    source, output = tmp_path / "in.mp4", tmp_path / "out.mp4"
    with VideoWriter(source, w, h, 10) as a, VideoWriter(output, w, h, 10) as b:
        for frame in range(3):
            a.write(image)
            b.write(blur_faces(image, boxes) if frame < 2 else image)
    reference = {f: [(tuple(box), f"face {k}") for k, box in enumerate(boxes)] for f in range(3)}
    result = audit(source, output, reference)
    assert len(result.faces) + result.skipped == 3 * len(boxes)
    assert result.frames_left() == [2]
    assert {f.label for f in result.left} == {f.label for f in result.faces if f.frame == 2}
    assert all(f.ratio < MAX_DETAIL / 2 for f in result.faces if f.frame < 2)
    assert result.share_left == pytest.approx(1 / 3, abs=0.05)
    short = tmp_path / "short.mp4"
    with VideoWriter(short, w, h, 10) as writer:
        writer.write(image)
    with pytest.raises(VideoError, match="ends before frame 1, which has reference faces"):
        audit(source, short, reference)


def test_truth_reference_keeps_the_faces_not_half_hidden():
    truth = [
        (0, "a", 1.0, 2.0, 30.0, 40.0, True, 0.1),
        (0, "b", 5.0, 5.0, 30.0, 40.0, False, 0.7),
        (1, "a", 2.0, 2.0, 31.0, 40.0, True, 0.0),
    ]
    assert truth_reference(truth) == {
        0: [((1.0, 2.0, 30.0, 40.0), "a")],
        1: [((2.0, 2.0, 31.0, 40.0), "a")],
    }
