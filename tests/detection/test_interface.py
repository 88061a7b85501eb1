"""The Detector interface and registry: every registered detector (and the fused one) on the
group photo and LFW images, batches, empty answers, the landmarks' order, fusion without
duplicates and names that name nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from faceprint.detection import (
    MTCNN,
    CenterFace,
    Detections,
    Detector,
    FusedDetector,
    ScoreCalibration,
    create_detector,
    list_detectors,
)
from faceprint.detection.registry import detector_entry
from faceprint.errors import UnknownModelError
from faceprint.images import load_image

NAMES = ["mtcnn", "centerface", "mtcnn+centerface"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def detectors() -> dict[str, Detector]:
    return {name: create_detector(name) for name in NAMES}


@pytest.fixture(scope="module")
def lfw_images(lfw) -> list[np.ndarray]:
    paths = sorted((lfw / "images").glob("*/*.jpg"))[:4]
    return [np.asarray(load_image(p)) for p in paths]


@pytest.fixture(scope="module")
def group(multiface) -> np.ndarray:
    return np.asarray(load_image(multiface))


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return box_iou(torch.from_numpy(a), torch.from_numpy(b)).numpy()


def _check_shapes(found: Detections, image: np.ndarray) -> None:
    n = len(found)
    assert found.boxes.shape == (n, 4) and found.scores.shape == (n,)
    assert found.landmarks.shape == (n, 5, 2)
    assert found.boxes.dtype == found.scores.dtype == found.landmarks.dtype == np.float32
    assert ((found.scores >= 0) & (found.scores <= 1)).all()
    assert (np.diff(found.scores) <= 0).all(), "scores are not highest first"
    h, w = image.shape[:2]
    assert (found.boxes[:, :2] < found.boxes[:, 2:]).all()
    assert (found.boxes >= -5).all() and (found.boxes[:, 2] <= w + 5).all()
    assert (found.boxes[:, 3] <= h + 5).all()
    inside = (found.landmarks >= found.boxes[:, None, :2] - 5) & (
        found.landmarks <= found.boxes[:, None, 2:] + 5
    )
    assert inside.all(), "a landmark lies outside its box"


def test_registry_names_and_interface(detectors):
    assert list_detectors() == ["centerface", "mtcnn"]
    for name, detector in detectors.items():
        assert isinstance(detector, Detector) and detector.name == name
    assert isinstance(detectors["mtcnn"], MTCNN)
    assert isinstance(detectors["centerface"], CenterFace)
    assert isinstance(detectors["mtcnn+centerface"], FusedDetector)
    assert [m.name for m in detectors["mtcnn+centerface"].members] == ["mtcnn", "centerface"]


@pytest.mark.parametrize("name", NAMES)
def test_group_photo_and_lfw_image(detectors, name, group, lfw_images):
    found = detectors[name].detect_batch([group, lfw_images[0]])
    assert len(found) == 2 and all(isinstance(f, Detections) for f in found)
    for f, image in zip(found, [group, lfw_images[0]], strict=True):
        _check_shapes(f, image)
    assert len(found[0]) == 6, f"{name}: {len(found[0])} faces in multiface.jpg, not 6"
    assert len(found[1]) >= 1
    centre = (found[1].boxes[0, :2] + found[1].boxes[0, 2:]) / 2
    assert np.abs(centre - 125).max() < 30, "LFW's best face is its central one"


@pytest.mark.parametrize("name", NAMES)
def test_batches_answer_as_single_images(detectors, name, lfw_images):
    detector = detectors[name]
    singles = [detector.detect_batch([image])[0] for image in lfw_images]
    for n in (1, 2, 4):
        batch = detector.detect_batch(lfw_images[:n])
        assert len(batch) == n
        for one, many in zip(singles, batch, strict=False):
            assert len(one) == len(many) >= 1
            np.testing.assert_allclose(many.boxes, one.boxes, atol=1e-3)
            np.testing.assert_allclose(many.scores, one.scores, atol=1e-5)
            np.testing.assert_allclose(many.landmarks, one.landmarks, atol=1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_a_blank_image_has_no_face(detectors, name):
    grey = np.full((200, 300, 3), 128, np.uint8)
    [found] = detectors[name].detect_batch([grey])
    assert len(found) == 0
    assert found.boxes.shape == (0, 4) and found.landmarks.shape == (0, 5, 2)
    assert found.scores.dtype == np.float32
    assert detectors[name].detect_batch([]) == []


def test_mtcnn_detect_batch_is_detect_by_probability(detectors, group):
    mtcnn = detectors["mtcnn"]
    boxes, probs, points = mtcnn.detect(group, landmarks=True)
    [found] = mtcnn.detect_batch([group])
    order = np.argsort(-probs, kind="stable")
    np.testing.assert_array_equal(found.boxes, boxes[order])
    np.testing.assert_array_equal(found.scores, probs[order])
    np.testing.assert_array_equal(found.landmarks, points[order])


def test_landmarks_come_in_the_same_order_from_both_detectors(detectors, group, lfw_images):
    """Left eye, right eye, nose, left and right mouth corner, as seen: each point of one
    detector within a tenth of the face's width (8 px here) of the same point of the other;
    the eyes are 30 px apart, so a swapped pair would fail."""
    for image in [group, *lfw_images[:2]]:
        [a] = detectors["mtcnn"].detect_batch([image])
        [b] = detectors["centerface"].detect_batch([image])
        iou = _iou(a.boxes, b.boxes)
        pairs = [(i, int(iou[i].argmax())) for i in range(len(a)) if iou[i].max() > 0.5]
        assert len(pairs) == len(a) >= 1
        for i, j in pairs:
            width = a.boxes[i, 2] - a.boxes[i, 0]
            error = np.linalg.norm(a.landmarks[i] - b.landmarks[j], axis=1)
            assert error.max() < 0.1 * width, (i, error, width)
            assert a.landmarks[i, 0, 0] < a.landmarks[i, 1, 0]  # left eye on the left
            assert a.landmarks[i, 3, 0] < a.landmarks[i, 4, 0]  # left mouth corner too
            assert a.landmarks[i, :2, 1].max() < a.landmarks[i, 2, 1] < a.landmarks[i, 3:, 1].min()


def test_fused_detector_finds_the_union_without_duplicates(detectors, group):
    fused = detectors["mtcnn+centerface"]
    [found] = fused.detect_batch([group])
    iou = _iou(found.boxes, found.boxes)
    np.fill_diagonal(iou, 0)
    assert iou.max() < 0.5, "two boxes of the fused detector cover one face"
    for member in fused.members:
        [theirs] = member.detect_batch([group])
        assert _iou(theirs.boxes, found.boxes).max(1).min() > fused.nms_iou
    assert len(found) >= max(len(m.detect_batch([group])[0]) for m in fused.members)


def test_fusion_keeps_faces_that_only_one_member_finds(detectors, group):
    """A face that CenterFace misses (its threshold set too high to find any) still comes
    from MTCNN, with MTCNN's box and calibrated score."""
    fused = FusedDetector(
        [detectors["mtcnn"], CenterFace(score_threshold=0.99, net=detectors["centerface"].net)],
        [detector_entry("mtcnn").calibration, detector_entry("centerface").calibration],
    )
    [found] = fused.detect_batch([group])
    [mtcnn] = detectors["mtcnn"].detect_batch([group])
    np.testing.assert_array_equal(found.boxes, mtcnn.boxes)
    np.testing.assert_allclose(found.scores, detector_entry("mtcnn").calibration(mtcnn.scores))


def test_calibration_puts_typical_faces_of_both_detectors_near_one_half(detectors, lfw_images):
    for name in ("mtcnn", "centerface"):
        found = detectors[name].detect_batch(lfw_images)
        calibrated = detector_entry(name).calibration(np.array([f.scores[0] for f in found]))
        assert 0.05 < np.median(calibrated) < 0.95, (name, calibrated)
    with pytest.raises(ValueError, match="raw must increase"):
        ScoreCalibration((0.0, 0.5, 0.5, 1.0), (0.0, 0.2, 0.3, 1.0))


def test_settings_are_constructor_options(detectors, group):
    """min_face_size, input_scale and score_threshold, the same words for every detector."""
    for name in ("mtcnn", "centerface"):
        [full] = detectors[name].detect_batch([group])
        options = {"input_scale": 0.5}
        if name == "centerface":
            options["net"] = detectors["centerface"].net
        half = create_detector(name, **options)
        assert half.input_scale == 0.5
        [found] = half.detect_batch([group])
        assert len(found) == 6 and _iou(found.boxes, full.boxes).max(1).min() > 0.7
        smallest = np.sort(np.minimum(*(full.boxes[:, 2:] - full.boxes[:, :2]).T))
        options = {"min_face_size": float(smallest[3]) + 1}  # more than four faces' sides
        if name == "centerface":
            options["net"] = detectors["centerface"].net
        [found] = create_detector(name, **options).detect_batch([group])
        assert 1 <= len(found) <= 2, "MTCNN's pyramid finds faces below its start: filter them"
        assert (np.minimum(*(found.boxes[:, 2:] - found.boxes[:, :2]).T) > smallest[3]).all()
        strict = float(full.scores[2]) + 1e-7  # above all but the two best faces' scores
        options = {"score_threshold": strict}
        if name == "centerface":
            options["net"] = detectors["centerface"].net
        [found] = create_detector(name, **options).detect_batch([group])
        assert 1 <= len(found) <= 3 and (found.scores > strict).all()


def test_unknown_names_are_refused():
    with pytest.raises(UnknownModelError, match=r"unknown detector 'retinaface'; known: centerf"):
        create_detector("retinaface")
    with pytest.raises(UnknownModelError, match=r"unknown detector 'dlib'; known: .*mtcnn"):
        create_detector("mtcnn+dlib")
    with pytest.raises(UnknownModelError, match="names a member twice"):
        create_detector("mtcnn+mtcnn")
    with pytest.raises(ValueError, match="input_scale"):
        create_detector("mtcnn", input_scale=0)
