"""Which face of a photo is its subject: the rule enrolment and clustering share."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.gallery.enroll import dominant_face, subject_faces
from faceprint.pipeline import Face


def _face(x1, y1, x2, y2) -> Face:
    return Face(np.array([x1, y1, x2, y2], np.float32), 0.99, None, np.zeros(128, np.float32))


SIZE = (250, 250)  # an LFW photo: the subject is centred


@pytest.mark.parametrize(
    ("boxes", "subject"),
    [
        ([(70, 60, 180, 190)], 0),  # the only face
        ([(70, 60, 180, 190), (0, 140, 50, 210)], 0),  # twice the area of the bystander
        ([(0, 20, 110, 130), (75, 70, 175, 170)], 1),  # similar size: the central one
        ([(75, 70, 175, 170), (150, 20, 250, 120), (0, 150, 90, 240)], 0),  # three, one central
        ([(10, 70, 110, 170), (140, 70, 240, 170)], None),  # side by side: ambiguous
    ],
)
def test_dominant_face(boxes, subject):
    faces = [_face(*b) for b in boxes]
    found = dominant_face(faces, SIZE)
    assert (found is None) if subject is None else (found is faces[subject])


def test_a_group_photo_has_no_single_subject():
    # Six faces of similar size, one near the centre: a group, so every face is a subject.
    faces = [_face(20 + 35 * i, 100, 50 + 35 * i, 130) for i in range(6)]
    assert dominant_face(faces, (250, 250)) is None
    assert subject_faces(faces, (250, 250)) == faces


@pytest.mark.slow
def test_enroll_returns_the_photos_under_min_quality(lfw, tmp_path):
    from PIL import Image

    from faceprint import FaceRecognizer, Gallery
    from faceprint.quality import DEFAULT_MIN_QUALITY

    clean = lfw / "images" / "Colin_Powell" / "Colin_Powell_0001.jpg"
    image = Image.open(clean).convert("RGB")
    bad = tmp_path / "blurred.jpg"
    image.resize((35, 35), Image.BILINEAR).resize(image.size, Image.BILINEAR).save(bad, quality=90)
    with Gallery(tmp_path / "g.gallery", recognizer=FaceRecognizer(precision="fp32")) as gallery:
        report = gallery.add("Colin", [clean, bad], min_quality=DEFAULT_MIN_QUALITY)
        assert report.added == [str(clean)]
        assert list(report.low_quality) == [str(bad)]
        assert 0.0 <= report.low_quality[str(bad)] < DEFAULT_MIN_QUALITY
        assert "under the minimum" in report.rejected[str(bad)]
        assert len(gallery) == 1
        again = gallery.add("Colin", [bad])  # the Python API enrols any face by default
        assert again.added == [str(bad)] and not again.low_quality
