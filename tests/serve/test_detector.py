"""``faceprint serve --detector NAME``: a real server on 127.0.0.1 finds faces with the detector
it was started with, says which on /healthz, and sizes its detector batches by its input scale."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="faceprint[serve] is not installed")
import httpx  # noqa: E402

from faceprint.detection import create_detector  # noqa: E402
from faceprint.images import load_image  # noqa: E402
from faceprint.serve.limits import detector_pixels  # noqa: E402
from faceprint.serve.process import spawn_server  # noqa: E402


@pytest.mark.slow
def test_serve_with_centerface_answers_a_detect_request(tmp_path, multiface):
    # similarity: the alignment the default model is calibrated for with CenterFace
    options = ["--detector", "centerface", "--min-face-size", "30", "--align", "similarity"]
    server = spawn_server(options, tmp_path / "serve.log")
    try:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            health = client.get("/healthz").json()
            answer = client.post(
                "/v1/detect",
                files={"image": ("multiface.jpg", multiface.read_bytes(), "image/jpeg")},
            )
    finally:
        server.stop()
    assert health["detector"]["name"] == "centerface"
    assert health["detector"]["settings"]["min_face_size"] == 30
    assert answer.status_code == 200, answer.text
    faces, ignored = answer.json()["faces"], answer.json()["ignored"]
    [own] = create_detector("centerface", min_face_size=30).detect_batch([load_image(multiface)])
    assert len(own) == 6 and len(faces) + ignored == 6
    if centerface_calibrated():
        assert len(faces) == 6
    # CenterFace's own faces (largest first on the wire, highest score first from detect_batch).
    for face in faces:
        match = np.abs(own.boxes - face["box"]).max(axis=1).argmin()
        assert np.abs(own.boxes[match] - face["box"]).max() < 0.05
        assert abs(face["probability"] - own.scores[match]) < 1e-5


def centerface_calibrated() -> bool:
    """Whether the default model has a face filter measured for CenterFace's faces (before it
    does, MTCNN's passes over them all: CenterFace scores faces lower)."""
    from faceprint.weights.factory import get_weights

    record = get_weights("ms-celeb-1m")
    pairs = record.calibrated_pairs() if hasattr(record, "calibrated_pairs") else []
    return ("centerface", "similarity") in pairs


def test_detector_batches_hold_fewer_image_pixels_at_a_larger_input_scale():
    assert detector_pixels(4_000_000, create_detector("mtcnn")) == 4_000_000
    assert detector_pixels(4_000_000, create_detector("mtcnn", input_scale=2.0)) == 1_000_000
    assert detector_pixels(4_000_000, create_detector("mtcnn", input_scale=0.5)) == 16_000_000
    assert detector_pixels(10, create_detector("mtcnn", input_scale=4.0)) == 1
