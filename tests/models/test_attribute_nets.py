"""The attribute networks against the TF.js graphs they come from: on 20 real LFW faces, cut as
faceprint cuts them for each network, FaceRes's gender and age probabilities and the emotion
network's probabilities equal @tensorflow/tfjs's CPU backend's (within 1e-4)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from faceprint.attributes import decode, grey
from faceprint.models.attribute_nets import EMOTIONS


def test_crops_are_the_ones_the_graphs_saw(crops, attribute_graph):
    faces, small = crops
    assert faces.shape == (20, 224, 224, 3) and small.shape == (20, 64, 64, 3)
    graph = attribute_graph
    np.testing.assert_array_equal(faces.reshape(20, -1).sum(1), graph["face_crop_sums"])
    np.testing.assert_array_equal(small.reshape(20, -1).sum(1), graph["emotion_crop_sums"])


def test_faceres_matches_the_tfjs_graph(analyzer, crops, attribute_graph):
    x = torch.from_numpy(crops[0]).permute(0, 3, 1, 2).float()
    with torch.inference_mode():
        male, ages = analyzer.age_gender(x)
    np.testing.assert_allclose(male.numpy(), attribute_graph["male"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(ages.numpy(), attribute_graph["ages"], atol=1e-4, rtol=0)
    assert male.min() < 0.1 and male.max() > 0.9  # both genders among the 20 people


def test_emotion_net_matches_the_tfjs_graph(analyzer, crops, attribute_graph):
    x = grey(torch.from_numpy(crops[1]).permute(0, 3, 1, 2).float())
    assert x.shape == (20, 1, 64, 64) and x.min() >= -1 and x.max() <= 1
    with torch.inference_mode():
        emotions = analyzer.emotion(x)
    np.testing.assert_allclose(emotions.numpy(), attribute_graph["emotions"], atol=1e-4, rtol=0)
    assert len(set(emotions.argmax(1).tolist())) > 1


def test_decode_reads_the_outputs():
    ages = torch.zeros(2, 100)
    ages[0, 30], ages[0, 40] = 0.5, 0.5
    ages[1, 7] = 1.0
    emotions = torch.eye(7)[[3, 6]]
    first, second = decode(torch.tensor([0.8, 0.1]), ages, emotions)
    assert (first.gender, first.gender_probability, first.age) == ("male", pytest.approx(0.8), 35)
    assert (second.gender, second.gender_probability) == ("female", pytest.approx(0.9))
    assert first.emotion == "happy" and second.emotion == "neutral"
    assert list(first.emotion_probabilities) == list(EMOTIONS)
    assert first.to_dict()["emotion_probabilities"]["happy"] == 1.0
