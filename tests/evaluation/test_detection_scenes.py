"""The recall benchmark's scenes: people split apart, reproducible pixels, ground truth where a
real detector finds the faces, backgrounds with no face, and the matching rule."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.detection import create_detector
from faceprint.evaluation.detection_scenes import (
    BANDS,
    FACES_PER_BAND,
    background,
    make_scenes,
    match,
    people,
    score,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def scenes(lfw):
    return make_scenes(lfw, "report", 4, seed=3)


def test_tuning_and_report_people_never_meet(lfw):
    tuning = {name for name, _ in people(lfw, "tuning")}
    report = {name for name, _ in people(lfw, "report")}
    assert not tuning & report
    assert len(tuning) + len(report) == sum(1 for p in (lfw / "images").iterdir() if p.is_dir())
    assert 0.25 < len(tuning) / (len(tuning) + len(report)) < 0.4
    with pytest.raises(ValueError, match="split must be 'tuning' or 'report'"):
        people(lfw, "test")


def test_scenes_are_reproducible_and_hold_every_band(lfw, scenes):
    again = make_scenes(lfw, "report", 4, seed=3)
    for a, b in zip(scenes, again, strict=True):
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.boxes, b.boxes)
    other = make_scenes(lfw, "report", 1, seed=4)[0]
    assert not np.array_equal(other.image, scenes[0].image)
    for scene in scenes:
        assert scene.image.shape == (384, 512, 3) and scene.image.dtype == np.uint8
        bands = [f.band for f in scene.faces]
        assert bands.count(0) == FACES_PER_BAND[0] and bands.count(4) == FACES_PER_BAND[4]
        for face in scene.faces:
            lo, hi = BANDS[face.band]
            assert lo <= face.height <= hi
            assert (face.box[:2] >= 0).all() and face.box[2] <= 512 and face.box[3] <= 384
        truth = scene.boxes
        overlap = np.minimum(truth[:, None, 2:], truth[None, :, 2:]) - np.maximum(
            truth[:, None, :2], truth[None, :, :2]
        )
        np.fill_diagonal(overlap[..., 0], -1)
        assert ((overlap <= 0).any(2)).all(), "two faces overlap"


def test_truth_boxes_sit_on_the_faces_mtcnn_finds(scenes):
    """Upright, plain faces of 24 px and more: MTCNN's box is the ground truth's, give or take
    the funneling's slack (IoU >= 0.6, centres within 12 % of the height)."""
    mtcnn = create_detector("mtcnn", min_face_size=7)
    found = mtcnn.detect_batch([s.image for s in scenes])
    checked = 0
    for scene, answer in zip(scenes, found, strict=True):
        for face in scene.faces:
            if face.angle or face.covered or face.dimmed or face.height < 24:
                continue
            checked += 1
            hit, _ = match(answer.boxes, answer.scores, face.box[None])
            assert hit[0], f"MTCNN misses a plain {face.height:.0f}-px face at {face.box}"
            centres = (answer.boxes[:, :2] + answer.boxes[:, 2:]) / 2
            offset = np.abs(centres - (face.box[:2] + face.box[2:]) / 2).max(1).min()
            assert offset < 0.12 * face.height, (face.box, answer.boxes)
            lt = np.maximum(answer.boxes[:, :2], face.box[:2])
            rb = np.minimum(answer.boxes[:, 2:], face.box[2:])
            inter = np.prod(np.clip(rb - lt, 0, None), 1)
            areas = np.prod(answer.boxes[:, 2:] - answer.boxes[:, :2], 1)
            iou = inter / (areas + np.prod(face.box[2:] - face.box[:2]) - inter)
            assert iou.max() >= 0.6, (face.box, answer.boxes)
    assert checked >= 4
    report = score(scenes, [(a.boxes, a.scores) for a in found])
    recall = report.band_recall()
    assert recall[3] == recall[4] == 1.0 and recall[0] < 1.0, recall
    assert report.false_positives <= 1


def test_backgrounds_hold_no_face():
    rng = np.random.default_rng(7)
    images = [np.asarray(background(rng, 512, 384)) for _ in range(4)]
    assert len({im.tobytes() for im in images}) == 4 and all(im.std() > 10 for im in images)
    for name in ("mtcnn", "centerface"):
        found = create_detector(name).detect_batch(images)
        assert sum(len(f) for f in found) == 0, name


def test_the_matching_rule():
    truth = np.array([[100, 100, 174, 200], [300, 50, 330, 90]], np.float32)
    square = [90, 110, 185, 205]  # MTCNN-like, wider: IoU 0.64
    tall_shifted = [120, 130, 150, 200]  # IoU 0.28, but the centres lie inside each other
    elsewhere = [200, 200, 260, 280]
    found, fps = match(np.array([square, elsewhere], np.float32), np.array([0.9, 0.8]), truth)
    assert found.tolist() == [True, False] and fps == 1
    found, fps = match(np.array([tall_shifted], np.float32), np.array([0.5]), truth)
    assert found.tolist() == [True, False] and fps == 0
    # A second box on a found face is a false positive; a box three times too big matches none.
    found, fps = match(np.array([square, tall_shifted], np.float32), np.array([0.9, 0.8]), truth)
    assert found.tolist() == [True, False] and fps == 1
    huge = [237 - 45, 70 - 60, 315 + 45, 70 + 60]
    found, fps = match(np.array([huge], np.float32), np.array([0.9]), truth)
    assert found.tolist() == [False, False] and fps == 1
    found, fps = match(np.zeros((0, 4), np.float32), np.zeros(0), truth)
    assert found.tolist() == [False, False] and fps == 0
