"""HSE FaceRes's identity descriptor: the trunk equals the TF.js graph's ``global_pooling/Mean``
on 20 real LFW faces (within 1e-4), and the embedding is that descriptor, centred and unit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from faceprint import FaceRecognizer
from faceprint.models.faceres_embedder import EMBEDDING_SIZE, lfw_view1_center
from faceprint.weights.factory import create_model


@pytest.fixture(scope="module")
def embedder():
    return create_model("hse-faceres-id")


def test_the_trunk_matches_the_tfjs_graph(embedder, crops, attribute_graph):
    x = torch.from_numpy(crops[0]).permute(0, 3, 1, 2).float()
    with torch.inference_mode():
        pooled = embedder.pooled(x)
    assert pooled.shape == (20, EMBEDDING_SIZE)
    np.testing.assert_allclose(pooled.numpy(), attribute_graph["pooled"], atol=1e-4, rtol=0)


def test_the_embedding_is_the_centred_unit_descriptor(embedder, crops, attribute_graph):
    x = torch.from_numpy(crops[0]).permute(0, 3, 1, 2).float()
    with torch.inference_mode():
        embeddings = embedder(x)
    unit = F.normalize(torch.from_numpy(attribute_graph["pooled"]), dim=1)
    want = F.normalize(unit - lfw_view1_center(), dim=1)
    torch.testing.assert_close(embeddings, want, atol=1e-4, rtol=0)
    torch.testing.assert_close(embeddings.norm(dim=1), torch.ones(20))
    # The centre is the large direction all descriptors share (features are ReLU6 averages).
    cosines = unit @ lfw_view1_center() / lfw_view1_center().norm()
    assert cosines.min() > 0.5


def test_it_tells_people_apart_at_its_threshold(lfw):
    recognizer = FaceRecognizer("hse-faceres-id")
    images = lfw / "images"
    same = recognizer.verify(
        images / "Colin_Powell/Colin_Powell_0001.jpg", images / "Colin_Powell/Colin_Powell_0002.jpg"
    )
    other = recognizer.verify(
        images / "Colin_Powell/Colin_Powell_0001.jpg",
        images / "George_W_Bush/George_W_Bush_0001.jpg",
    )
    assert same.same and not other.same
    assert same.distance < recognizer.threshold < other.distance
