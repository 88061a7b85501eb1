"""Face quality on real photos: in range, lower for blurred and downscaled crops, repeatable."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from faceprint import quality
from faceprint.images import load_image
from faceprint.pipeline import FaceRecognizer, Region, crop_quality


@pytest.fixture(scope="module")
def recognizer() -> FaceRecognizer:
    return FaceRecognizer(precision="fp32")


def _degraded(image: Image.Image, box: np.ndarray) -> dict[str, Image.Image]:
    """The photo blurred, and shrunk and resized back, both so that the face keeps about the
    detail of a 12 px face."""
    side = float(min(box[2] - box[0], box[3] - box[1]))
    factor = side / 12
    small = image.resize(
        (max(1, round(image.width / factor)), max(1, round(image.height / factor))),
        Image.BILINEAR,
    )
    return {
        "blurred": image.filter(ImageFilter.GaussianBlur(side / 24)),
        "downscaled": small.resize(image.size, Image.BILINEAR),
    }


def _subject(recognizer: FaceRecognizer, path) -> tuple[np.ndarray, np.ndarray]:
    [face] = recognizer.embed(path)
    return face.box, face.landmarks


@pytest.fixture(scope="module")
def scored(recognizer, portraits) -> list[dict]:
    """Per portrait: the clean face and its blurred and downscaled copies, scored on the
    clean photo's detection (the same face, made worse)."""
    out = []
    for path in portraits[:2]:
        clean = load_image(path)
        [face] = recognizer.embed(clean)
        versions = {"clean": clean} | _degraded(clean, face.box)
        region = [Region(i, face.box, face.probability, face.landmarks) for i in range(3)]
        faces = recognizer.embed_regions(list(versions.values()), region)
        out.append({name: f for name, f in zip(versions, faces, strict=True)})
    return out


def test_default_method_is_the_fitted_head_of_ms_celeb_1m(recognizer):
    assert recognizer.quality_method == quality.DEFAULT_METHOD == "serfiq+embedding"
    head = quality.load_quality_head(recognizer.weights.quality_head)
    assert head.weights.shape == head.mean.shape == (recognizer.embedding_size + 1,)


def test_a_model_without_a_quality_head_scores_by_serfiq(recognizer, portraits):
    weights = dataclasses.replace(recognizer.weights, quality_head=None)
    plain = FaceRecognizer(model=weights, precision="fp32")
    assert plain.quality_method == "serfiq"
    crop = recognizer.crop(load_image(portraits[0]), *_subject(recognizer, portraits[0]))
    embeddings, by_head = recognizer.embed_crops_scored([crop])
    same, by_serfiq = plain.embed_crops_scored([crop])
    np.testing.assert_allclose(same, embeddings, atol=1e-6)
    # One face, one trunk pass: the two methods differ only in what they make of it.
    assert 0.0 < by_serfiq[0] < 1.0 and 0.0 < by_head[0] < 1.0
    assert by_serfiq[0] != pytest.approx(by_head[0], abs=1e-3)


def test_every_face_has_a_quality_in_range(recognizer, multiface):
    faces = recognizer.embed(multiface)
    assert len(faces) == 6
    scores = [f.quality for f in faces]
    assert all(isinstance(q, float) and 0.0 <= q <= 1.0 for q in scores), scores


def test_blurred_and_downscaled_faces_score_lower(scored):
    for faces in scored:
        clean = faces["clean"].quality
        assert faces["blurred"].quality < clean, faces
        assert faces["downscaled"].quality < clean, faces


def test_the_heuristic_scores_blurred_faces_lower(recognizer, portraits):
    clean = load_image(portraits[0])
    [face] = recognizer.embed(clean)
    sharp = crop_quality(clean, face.box, face.landmarks, recognizer.alignment)
    blurred = crop_quality(
        _degraded(clean, face.box)["blurred"], face.box, face.landmarks, recognizer.alignment
    )
    assert 0.0 <= blurred < sharp <= 1.0


def test_a_face_scores_the_same_every_time(recognizer, portraits):
    first = recognizer.embed(portraits[1])[0].quality
    again = recognizer.embed(portraits[1])[0].quality
    assert first == again


def test_quality_does_not_change_the_embedding_and_crops_score_alike(recognizer, portraits):
    [face] = recognizer.embed(portraits[0])
    crop = recognizer.crop(load_image(portraits[0]), face.box, face.landmarks)
    np.testing.assert_allclose(recognizer.embed_crops([crop])[0], face.embedding, atol=1e-6)
    embeddings, scores = recognizer.embed_crops_scored([crop])
    np.testing.assert_allclose(embeddings[0], face.embedding, atol=1e-6)
    assert scores.shape == (1,) and scores[0] == pytest.approx(face.quality, abs=1e-6)


def test_serfiq_spread_is_zero_without_dropout_and_grows_with_it():
    torch.manual_seed(0)
    head = torch.nn.Linear(64, 16, bias=False)
    pooled = torch.randn(3, 64, 1, 1)
    none = quality.serfiq_spread(pooled, head, passes=8, dropout=1e-9)
    some = quality.serfiq_spread(pooled, head, passes=8, dropout=0.2)
    more = quality.serfiq_spread(pooled, head, passes=8, dropout=0.6)
    assert none.shape == (3,)
    assert torch.all(none < 1e-3) and torch.all(some > none) and torch.all(more > some)


def test_scores_map_into_the_unit_interval():
    steps = np.array([-3.0, -1.0, 1.0, 3.0])
    scores = quality.serfiq_quality(quality.SERFIQ_CENTER + quality.SERFIQ_SCALE * steps)
    assert np.all((scores > 0) & (scores < 1)) and np.all(np.diff(scores) < 0)
    assert quality.serfiq_quality(np.array([quality.SERFIQ_CENTER]))[0] == pytest.approx(0.5)
    norms = quality.norm_quality(quality.NORM_CENTER + quality.NORM_SCALE * steps)
    assert np.all((norms > 0) & (norms < 1)) and np.all(np.diff(norms) > 0)


def test_heuristic_features_of_a_frontal_and_a_turned_face():
    crop = np.full((160, 160, 3), 128, np.uint8)
    box = np.array([0, 0, 100, 100], np.float32)
    frontal = np.array([[30, 40], [70, 40], [50, 60], [35, 80], [65, 80]], np.float32)
    turned = frontal.copy()
    turned[2, 0] = 68  # the nose under one eye: the head turned
    f, t = (quality.heuristic_features(crop, box, m) for m in (frontal, turned))
    names = quality.HEURISTIC_FEATURES
    assert f[names.index("sharpness")] == pytest.approx(0.0)  # a flat grey crop has no edges
    assert f[names.index("log_size")] == pytest.approx(np.log(100))
    assert t[names.index("yaw")] > f[names.index("yaw")] + 0.3
    assert quality.heuristic_quality(np.stack([f, t])).shape == (2,)
