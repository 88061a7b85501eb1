"""docs/guides/adding-a-detector.md, checked: a detector written outside the package (here a
test-time-flip CenterFace, in this file) and registered with ``register_detector`` reaches every
consumer by its name, with no consumer changed: the recognizer, fused names, training crops,
IdentityLoss, batch rows, and export's clear refusal (it has no exporter)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
import torch
from PIL import Image

from faceprint.detection import Detections, Detector, create_detector, registry
from faceprint.errors import FaceprintError
from faceprint.images import ImageInput, to_rgb_array

#: The landmark order under a mirror: left and right eye, nose, left and right mouth corner.
MIRRORED_ORDER = [1, 0, 2, 4, 3]


class MirroredCenterFace:
    """CenterFace on the mirrored image, its faces mirrored back: the worked example of
    the guide (a detector is any object with these attributes and ``detect_batch``)."""

    name = "centerface-mirrored"

    def __init__(self, min_face_size: float = 0.0, input_scale: float = 1.0, **options) -> None:
        self.inner = create_detector(
            "centerface", min_face_size=min_face_size, input_scale=input_scale, **options
        )
        self.min_face_size, self.input_scale = min_face_size, input_scale
        self.score_threshold = self.inner.score_threshold

    @property
    def settings(self) -> dict:
        return {**self.inner.settings, "name": self.name}

    def detect_batch(self, images: Sequence[ImageInput]) -> list[Detections]:
        arrays = [to_rgb_array(x, f"image {i} of the batch") for i, x in enumerate(images)]
        found = self.inner.detect_batch([a[:, ::-1].copy() for a in arrays])
        out = []
        for a, d in zip(arrays, found, strict=True):
            width = a.shape[1]
            boxes = d.boxes.copy()
            boxes[:, [0, 2]] = width - d.boxes[:, [2, 0]]
            marks = d.landmarks[:, MIRRORED_ORDER].copy()
            marks[..., 0] = width - marks[..., 0]
            out.append(Detections(boxes, d.scores, marks))
        return out


@pytest.fixture(scope="module", autouse=True)
def registered():
    """Registered for this module only (the registry as it was is put back after)."""
    saved = dict(registry._DETECTORS)
    calibration = registry.detector_entry("centerface").calibration
    registry.register_detector(MirroredCenterFace.name, calibration=calibration)(MirroredCenterFace)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    registry._DETECTORS.clear()
    registry._DETECTORS.update(saved)


@pytest.mark.slow
def test_it_is_a_detector_by_name_and_in_fusions(multiface):
    mirrored = create_detector("centerface-mirrored")
    assert isinstance(mirrored, Detector) and "centerface-mirrored" in registry.list_detectors()
    [ours], [theirs] = (
        mirrored.detect_batch([multiface]),
        create_detector("centerface").detect_batch([multiface]),
    )
    assert len(ours) == len(theirs) == 6
    # Each face is found again, in place, with its left eye still on the image's left.
    for box, marks in zip(ours.boxes, ours.landmarks, strict=True):
        near = np.abs(theirs.boxes - box).max(1)
        assert near.min() < 6 and marks[0, 0] < marks[1, 0] and marks[3, 0] < marks[4, 0]
    fused = create_detector("mtcnn+centerface-mirrored", input_scale=0.5)
    assert fused.settings["members"][1]["name"] == "centerface-mirrored"
    assert len(fused.detect_batch([multiface])[0]) == 6


@pytest.mark.slow
def test_every_consumer_takes_it_by_name(lfw, tmp_path):
    from faceprint import FaceRecognizer
    from faceprint.alignment import Alignment
    from faceprint.batch.rows import embed_rows, read_input
    from faceprint.errors import UncalibratedError
    from faceprint.export import export
    from faceprint.losses import IdentityLoss
    from faceprint.training.data import crop_tree, scan_folder
    from tests.training.conftest import link_people

    photos = link_people(lfw, tmp_path / "photos", ("Colin_Powell",), photos=2)
    paths = [str(p) for p in sorted((photos / "Colin_Powell").iterdir())]
    # A new detector has no calibration yet: an explicit threshold (and face filter) stands in.
    with pytest.raises(UncalibratedError, match="not calibrated for detector 'centerface-mirr"):
        FaceRecognizer(detector="centerface-mirrored")
    recognizer = FaceRecognizer(
        detector="centerface-mirrored", threshold=1.0, min_probability=0.5, min_face_size=32
    )
    faces = recognizer.embed(paths)
    assert [len(f) for f in faces] == [1, 1]
    assert float(faces[0][0].embedding @ faces[1][0].embedding) > 0.5  # the same man
    rows = embed_rows(recognizer, paths, [read_input(p) for p in paths])
    assert [len(r["landmarks"]) for r in rows] == [10, 10]
    report = crop_tree(
        scan_folder(photos),
        tmp_path / "crops",
        Alignment("similarity"),
        0.5,
        32,
        progress=False,
        detector="centerface-mirrored",
    )
    assert report.written == 2 and not report.skipped
    loss = IdentityLoss(align="landmarks", detector="centerface-mirrored")
    image = torch.from_numpy(np.array(Image.open(paths[0]))).permute(2, 0, 1)[None] / 127.5 - 1
    assert loss.landmarks(image.float()).shape == (1, 5, 2)
    with pytest.raises(FaceprintError, match="centerface-mirrored has no exporter"):
        export("centerface-mirrored", "onnx", tmp_path / "exported")
