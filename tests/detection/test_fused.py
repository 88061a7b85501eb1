"""Fused detectors' merge rule (agreement below a calibrated score), their registry defaults,
and CenterFace's input scale chosen from ``min_face_size``, on real faces."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from faceprint.detection import CenterFace, Detections, FusedDetector, create_detector
from faceprint.detection.centerface import SMALLEST_FACE, search_scale
from faceprint.detection.registry import FUSED_DEFAULTS, detector_entry
from faceprint.evaluation.detection_scenes import make_scenes, score

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def net():
    return CenterFace().net


@pytest.fixture(scope="module")
def scenes(lfw):
    return make_scenes(lfw, "report", 3, seed=11)


def test_min_face_size_chooses_the_scale_unless_one_is_given(net):
    assert search_scale(0) == 1.0 and search_scale(SMALLEST_FACE * 2) == 1.0
    assert search_scale(SMALLEST_FACE / 2) == 2.0 and search_scale(1) == 4.0
    assert CenterFace(net=net).input_scale == 1.0
    assert CenterFace(min_face_size=SMALLEST_FACE / 2, net=net).input_scale == 2.0
    assert CenterFace(min_face_size=5, input_scale=0.5, net=net).input_scale == 0.5
    fused = create_detector("mtcnn+centerface", min_face_size=SMALLEST_FACE / 2)
    assert [m.input_scale for m in fused.members] == [1.0, 2.0]
    with pytest.raises(ValueError, match="input_scale 5"):
        CenterFace(input_scale=5, net=net)


def test_a_small_min_face_size_finds_the_small_faces(scenes, net):
    """The scenes' 10-24 px faces: CenterFace at 1x sees few of them; told the smallest face
    is 7 px it enlarges the images and finds most, with no false face more."""
    images = [s.image for s in scenes]
    plain = score(scenes, [(f.boxes, f.scores) for f in CenterFace(net=net).detect(images)])
    searched = CenterFace(min_face_size=7, net=net)
    assert searched.input_scale == pytest.approx(SMALLEST_FACE / 7)
    found = searched.detect(images)
    small = score(scenes, [(f.boxes, f.scores) for f in found])
    assert small.band_found()[0] >= plain.band_found()[0] + 2, (small.band_found(), plain)
    assert sum(small.band_found()[:2]) >= 7, small.band_found()  # of 12
    assert small.false_positives <= plain.false_positives + 1


def _pair(scene_image: np.ndarray, net) -> tuple[Detections, Detections]:
    [m] = create_detector("mtcnn", min_face_size=7, score_threshold=0.3).detect_batch([scene_image])
    [c] = CenterFace(min_face_size=7, score_threshold=0.15, net=net).detect([scene_image])
    return m, c


def test_agreement_keeps_low_faces_only_where_both_members_see_them(scenes, net):
    calibrations = [detector_entry(n).calibration for n in ("mtcnn", "centerface")]
    m, c = _pair(scenes[0].image, net)
    assert len(m) and len(c)
    alone = FusedDetector([_Idle(), _Idle()], calibrations).merge([m, c])
    strict = FusedDetector([_Idle(), _Idle()], calibrations, agreement_below=1.0).merge([m, c])
    iou = box_iou(torch.from_numpy(m.boxes), torch.from_numpy(c.boxes)).numpy()
    both_m = iou.max(1) >= 0.3
    # Everything needs a partner: each kept box is one that the other member also found.
    kept = box_iou(torch.from_numpy(strict.boxes), torch.from_numpy(alone.boxes)).numpy()
    assert len(strict) == int(both_m.sum()) <= len(alone)
    assert (kept.max(1) > 0.999).all()
    for box in strict.boxes:
        to_m = box_iou(torch.from_numpy(box[None]), torch.from_numpy(m.boxes)).max()
        to_c = box_iou(torch.from_numpy(box[None]), torch.from_numpy(c.boxes)).max()
        assert min(to_m, to_c) >= 0.3
    # A threshold between: a lone face stays only if its calibrated score reaches it.
    middle = FusedDetector([_Idle(), _Idle()], calibrations, agreement_below=0.005)
    merged = middle.merge([m, c])
    assert len(strict) <= len(merged) <= len(alone)
    with pytest.raises(ValueError, match="2 answers for 3 members"):
        FusedDetector([_Idle()] * 3, [*calibrations, calibrations[0]]).merge([m, c])
    with pytest.raises(ValueError, match="agreement_below 2"):
        FusedDetector([_Idle(), _Idle()], calibrations, agreement_below=2)


def test_registry_defaults_configure_the_members():
    defaults = FUSED_DEFAULTS[frozenset({"mtcnn", "centerface"})]
    for name in ("mtcnn+centerface", "centerface+mtcnn"):
        fused = create_detector(name)
        by_name = {m.name: m for m in fused.members}
        assert by_name["mtcnn"].score_threshold == pytest.approx(
            defaults["mtcnn"]["score_threshold"]
        )
        assert by_name["centerface"].score_threshold == defaults["centerface"]["score_threshold"]
        assert fused.agreement_below == defaults["agreement_below"]
    loose = create_detector("mtcnn+centerface", agreement_below=0.0)
    assert loose.agreement_below == 0.0
    assert loose.settings["agreement_below"] == 0.0
    assert create_detector("mtcnn+centerface").settings != loose.settings


class _Idle:
    """A member whose answers are given to :meth:`FusedDetector.merge` directly."""

    name = "idle"
    min_face_size = 0.0
    input_scale = 1.0
    score_threshold = 0.0

    def detect_batch(self, images):
        raise AssertionError("merge() alone is under test")
