"""The MobileFaceNet port against the TF.js graph it comes from: the same 20 real LFW crops give
the same embeddings as @tensorflow/tfjs's CPU backend (within 1e-4), and faceprint still cuts
those crops; TensorFlow's SAME padding puts the odd pixel bottom/right."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from faceprint import MTCNN, create_model
from faceprint.alignment import standardize
from faceprint.images import load_image
from faceprint.models.mobilefacenet import MobileFaceNet, same_pad
from faceprint.pipeline import model_alignment
from faceprint.weights.registry import REGISTRY
from tests.conftest import EXPECTED
from tests.parity_images import parity_images


@pytest.fixture(scope="module")
def expected() -> dict[str, np.ndarray]:
    """Crops and the graph's embeddings of them, by ``scripts/make_expected_tfjs.py``."""
    with np.load(EXPECTED / "tfjs_mobilefacenet.npz") as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def port() -> MobileFaceNet:
    return create_model("mobilefacenet")


def _embed(model: MobileFaceNet, crops: np.ndarray) -> np.ndarray:
    x = standardize(torch.from_numpy(crops).permute(0, 3, 1, 2).float(), "fixed")
    with torch.inference_mode():
        return model(x).numpy()


def test_port_matches_the_tfjs_graph_on_real_lfw_crops(port, expected):
    ours = _embed(port, expected["crops"])
    assert ours.shape == (20, 192) and len(set(expected["keys"])) == 20
    np.testing.assert_allclose(ours, expected["embeddings"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    # Not a constant output: the crops of different people differ (if only slightly; the graph
    # as shipped maps every face near one point, see the README).
    assert np.abs(ours[0] - ours[1]).max() > 1e-3


def test_crops_are_the_ones_faceprint_cuts(data_dir, expected):
    alignment = model_alignment(REGISTRY["mobilefacenet"])
    assert alignment.method == "similarity" and alignment.image_size == 112
    images = parity_images(data_dir)
    detector = MTCNN(keep_all=False)
    for i, key in enumerate(expected["keys"][:3]):
        image = load_image(images[str(key)])
        boxes, _, points = detector.detect(image, landmarks=True)
        crop = np.asarray(alignment.crop(image, boxes[0], points[0]), dtype=np.uint8)
        assert np.abs(crop.astype(int) - expected["crops"][i]).mean() < 0.5


def test_same_pad_is_tensorflows():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    padded = same_pad(x, 3, 2)
    assert padded.shape == (1, 1, 5, 5)
    assert torch.equal(padded[0, 0, :4, :4], x[0, 0])  # nothing added top/left
    assert same_pad(x, 3, 1).shape == (1, 1, 6, 6)
    assert same_pad(torch.zeros(1, 1, 7, 7), 7, 1).shape == (1, 1, 13, 13)
