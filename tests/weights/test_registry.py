"""Calibration per (detector, alignment): one lookup, MTCNN's numbers unchanged, no silent
fallback to another detector's."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from faceprint.errors import UncalibratedError
from faceprint.weights.calibration import FAR_GRID
from faceprint.weights.factory import get_weights, save_model
from faceprint.weights.registry import BASE_DETECTOR, DetectorCalibration


def test_mtcnn_entries_are_the_records_own_numbers():
    record = get_weights("ms-celeb-1m")
    for align, threshold, exponent in (("box", 1.106, 0.917), ("similarity", 1.098, 0.957)):
        calibration = record.calibration("mtcnn", align)
        assert calibration.threshold == threshold
        assert calibration.open_set_exponent == exponent
        assert calibration.impostor_distances == record.impostor_distances[align]
        assert (calibration.min_face_probability, calibration.min_face_size) == (0.98, 32)
    assert record.calibration() == record.calibration(BASE_DETECTOR, "box")


def test_centerface_pairs_are_calibrated_on_their_own():
    record = get_weights("ms-celeb-1m")
    for align in ("similarity", "box"):
        mtcnn = record.calibration("mtcnn", align)
        centerface = record.calibration("centerface", align)
        assert ("centerface", align) in record.calibrated_pairs()
        assert len(centerface.impostor_distances) == len(FAR_GRID)
        assert list(centerface.impostor_distances) == sorted(centerface.impostor_distances)
        assert 0.9 < centerface.threshold < 1.3 and centerface.threshold != mtcnn.threshold
        # CenterFace's heatmap peaks sit well below MTCNN's probabilities for the same faces
        assert 0.0 < centerface.min_face_probability < mtcnn.min_face_probability
        assert centerface.min_face_size > 0 and "View 1" in centerface.source


def test_align_none_detects_nothing_so_any_detector_shares_its_numbers():
    record = get_weights("ms-celeb-1m")
    assert record.calibration("centerface", "none") == record.calibration("mtcnn", "none")


@pytest.mark.parametrize(
    ("model", "detector", "align"),
    [
        ("ms-celeb-1m", "centerface", "dlib"),  # a detector without that alignment
        ("ms-celeb-1m", "some-detector", "box"),  # a detector never measured
        ("dlib-resnet-v1", "centerface", "dlib"),  # a model measured with MTCNN alone
    ],
)
def test_an_uncalibrated_pair_is_an_error_naming_the_calibrated_ones(model, detector, align):
    record = get_weights(model)
    with pytest.raises(UncalibratedError) as caught:
        record.calibration(detector, align)
    message = str(caught.value)
    assert f"{detector!r}" in message and f"align={align!r}" in message
    for known, method in record.calibrated_pairs():
        assert f"{known}/{method}" in message
    assert isinstance(caught.value, ValueError)


def test_a_model_file_keeps_its_detector_calibrations(tmp_path):
    entry = DetectorCalibration(
        threshold=1.0,
        impostor_distances=tuple(float(x) for x in range(len(FAR_GRID))),
        open_set_exponent=0.9,
        min_face_probability=0.5,
        min_face_size=24,
        alignment={"template_scale": 1.1},
        source="a test",
    )
    base = dataclasses.replace(
        get_weights("ms-celeb-1m"), detector_calibrations={"centerface": {"similarity": entry}}
    )
    save_model(torch.nn.Linear(2, 2), tmp_path / "model.pt", base, name="tiny")
    stored = get_weights(tmp_path / "model.pt")
    assert stored.calibration("centerface", "similarity") == entry
    assert stored.calibration("mtcnn", "box") == base.calibration("mtcnn", "box")


def test_cutting_crops_needs_only_a_face_filter():
    record = get_weights("ms-celeb-1m")
    assert record.face_filter("mtcnn", "box") == (0.98, 32)
    assert record.face_filter("centerface", "similarity") == (0.75, 32)
    # nothing calibrated (vggface2 has no thresholds at all): every face, as before
    assert get_weights("vggface2").face_filter("mtcnn", "box") == (0.0, 0.0)
