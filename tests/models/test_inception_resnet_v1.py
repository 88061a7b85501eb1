"""InceptionResnetV1: facenet-pytorch state dicts load strictly and give the same outputs."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from faceprint import MTCNN, InceptionResnetV1, create_model, get_weights, save_model
from faceprint.errors import UnknownModelError, WeightsChecksumError, WeightsError
from tests.conftest import DEVICES

facenet_pytorch = pytest.importorskip(
    "facenet_pytorch",
    reason="parity needs facenet-pytorch (pip install --no-deps facenet-pytorch==2.6.0)",
)


@pytest.fixture(scope="module")
def faces(lfw) -> torch.Tensor:
    """(6, 3, 160, 160) real face crops, standardized as for the vggface2/casia models."""
    people = ["Aaron_Peirsol", "Abdullah_Gul", "Colin_Powell"]
    paths = [lfw / "images" / p / f"{p}_000{i}.jpg" for p in people for i in (1, 2)]
    return torch.stack(MTCNN()(paths))


def _reference(num_classes: int) -> torch.nn.Module:
    """facenet-pytorch's model with its layout, random weights and non-trivial BN statistics."""
    torch.manual_seed(num_classes)
    ref = facenet_pytorch.InceptionResnetV1(classify=True, num_classes=num_classes).eval()
    for module in ref.modules():
        if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return ref


@pytest.mark.slow
@pytest.mark.parametrize(
    ("pretrained", "num_classes"), [("vggface2", 8631), ("casia-webface", 10575)]
)
def test_official_layout_loads_strictly_and_matches(pretrained, num_classes, faces, tmp_path):
    ref = _reference(num_classes)
    state = ref.state_dict()
    path = tmp_path / f"{pretrained}.pt"
    torch.save(state, path)
    # The pinned checksum refuses this stand-in, as it would a tampered release file...
    with pytest.raises(WeightsChecksumError, match=f"has {path.stat().st_size} bytes, expected"):
        InceptionResnetV1(pretrained=pretrained, weights_path=path)
    # ...so its layout loads through the record without them (strict=True inside), exactly as
    # the released file would.
    record = dataclasses.replace(get_weights(pretrained), sha256=None, size=None, path=str(path))
    ours = InceptionResnetV1(pretrained=record)
    assert ours.weights.name == pretrained
    assert ours.logits.out_features == num_classes
    assert set(ours.state_dict()) == set(state)
    with torch.inference_mode():
        ref.classify = False
        emb_ref, emb = ref(faces), ours(faces)
        ref.classify = ours.classify = True
        logits_ref, logits = ref(faces), ours(faces)
    assert emb.shape == (6, 512)
    assert (emb - emb_ref).abs().max() <= 1e-5
    assert logits.shape == (6, num_classes)
    assert (logits - logits_ref).abs().max() <= 1e-4
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(6))


def test_classify_shapes(faces):
    model = InceptionResnetV1(classify=True, num_classes=10).eval()
    with torch.inference_mode():
        assert model(faces).shape == (6, 10)
        model.classify = False
        assert model(faces).shape == (6, 512)


def test_classify_without_classes_is_refused():
    with pytest.raises(ValueError, match='"num_classes" must be specified'):
        InceptionResnetV1(classify=True)


def test_unknown_pretrained_name():
    with pytest.raises(
        UnknownModelError, match="unknown pretrained weights 'vggface3'; known: .*vggface2"
    ):
        InceptionResnetV1(pretrained="vggface3")


@pytest.mark.parametrize("p", [0.0, 0.6])
def test_dropout_prob(p, faces):
    model = InceptionResnetV1(dropout_prob=p)
    assert model.dropout.p == p
    model.train()
    # BN in train mode uses batch statistics; dropout is the only randomness.
    torch.manual_seed(0)
    a = model(faces)
    torch.manual_seed(1)
    b = model(faces)
    assert torch.allclose(a, b, atol=1e-6) == (p == 0.0)


def test_bad_dropout_prob():
    with pytest.raises(ValueError, match="dropout_prob"):
        InceptionResnetV1(dropout_prob=1.5)


def test_wrong_input_shape_and_dtype():
    model = InceptionResnetV1().eval()
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\).*\(160, 160, 3\)"):
        model(torch.zeros(160, 160, 3))
    with pytest.raises(TypeError, match="standardized float tensor, got torch.uint8"):
        model(torch.zeros(1, 3, 160, 160, dtype=torch.uint8))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_device_and_dtype(device, dtype, faces):
    model = InceptionResnetV1(device=device).eval()
    assert model.device.type == device
    ref = model(faces[:2].to(device))
    out = model.to(dtype)(faces[:2].to(device, dtype))
    assert out.dtype == dtype and out.device.type == device
    torch.testing.assert_close(out.float().cpu(), ref.float().cpu(), atol=1e-4, rtol=1e-4)


def test_trained_model_file_loads_by_path_wherever_a_name_does(faces, tmp_path):
    """A model file carries its record: create_model builds the architecture it names."""
    trained = InceptionResnetV1(num_classes=7).eval()
    record = dataclasses.replace(get_weights("casia-webface"), num_classes=7)
    path = tmp_path / "mine.pt"
    stored = save_model(trained, path, record, name="my-seven-people")
    assert stored.path == str(path) and stored.sha256 is None
    loaded = create_model(path)
    assert isinstance(loaded, InceptionResnetV1) and not loaded.training
    assert loaded.weights.name == "my-seven-people" and loaded.weights.num_classes == 7
    assert get_weights(str(path)).name == "my-seven-people"
    with torch.inference_mode():
        torch.testing.assert_close(loaded(faces), trained(faces))
        loaded.classify = trained.classify = True
        torch.testing.assert_close(loaded(faces), trained(faces))


def test_a_bare_state_dict_is_not_a_model_file(tmp_path):
    path = tmp_path / "bare.pt"
    torch.save(InceptionResnetV1().state_dict(), path)
    with pytest.raises(WeightsError, match="not a faceprint model file .*weights_path="):
        create_model(path)
    with pytest.raises(UnknownModelError, match="known: .*ms-celeb-1m.*or the path"):
        create_model(tmp_path / "missing.pt")
