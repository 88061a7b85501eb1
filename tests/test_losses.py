"""IdentityLoss: differentiable, frozen, the same numbers as the recognizer, and meaningful."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from faceprint import FaceRecognizer
from faceprint.losses import IdentityLoss, face_input


@pytest.fixture(scope="module")
def loss():
    return IdentityLoss()


@pytest.fixture(scope="module")
def recognizer():
    return FaceRecognizer()


def _crop(recognizer, path):
    from faceprint.images import load_image

    image = load_image(path)
    face = recognizer.embed(image)[0]
    return recognizer.crop(image, face.box, face.landmarks)


def _tensor(crop) -> torch.Tensor:
    return torch.from_numpy(np.array(crop)).permute(2, 0, 1).float()[None] / 127.5 - 1


@pytest.mark.parametrize("standardization", ["fixed", "per_image"])
@pytest.mark.parametrize("crop", [None, (1, 9, 1, 11)])
def test_face_input_gradcheck(standardization, crop):
    images = torch.rand(2, 3, 10, 12, dtype=torch.float64, requires_grad=True) * 2 - 1
    images = images.detach().requires_grad_(True)

    def prepare(x):
        return face_input(x, (-1.0, 1.0), crop, 6, standardization)

    assert torch.autograd.gradcheck(prepare, (images,), eps=1e-6, atol=1e-5)


def test_embedding_equals_the_recognizers(loss, recognizer, lfw):
    crop = _crop(recognizer, lfw / "images" / "Colin_Powell" / "Colin_Powell_0001.jpg")
    ours = loss.embed(_tensor(crop)).detach().numpy()
    theirs = recognizer.embed_crops([crop])
    assert np.abs(ours - theirs).max() < 1e-4


def test_network_stays_frozen_and_pixels_get_gradients(loss, recognizer, lfw):
    crop = _crop(recognizer, lfw / "images" / "Colin_Powell" / "Colin_Powell_0001.jpg")
    generated = _tensor(crop).requires_grad_(True)
    loss.train()
    assert not loss.net.training
    value = loss(generated, torch.flip(_tensor(crop), dims=[3]))
    value.backward()
    assert 0.0 < value.item() < 0.5  # a mirrored face is the same person
    assert generated.grad is not None and float(generated.grad.abs().sum()) > 0
    assert all(p.grad is None and not p.requires_grad for p in loss.parameters())


def test_a_small_perturbation_turns_one_person_into_another(loss, recognizer, lfw):
    """Gradients mean something: 8/255 of change per pixel makes Powell verify as Blair."""
    powell = _crop(recognizer, lfw / "images" / "Colin_Powell" / "Colin_Powell_0001.jpg")
    blair = _crop(recognizer, lfw / "images" / "Tony_Blair" / "Tony_Blair_0001.jpg")
    target = torch.from_numpy(recognizer.embed_crops([blair]))
    start = _tensor(powell)
    limit = 2 * 8 / 255  # 8/255 of the 0..1 range, in the loss's -1..1 range
    delta = torch.zeros_like(start, requires_grad=True)
    optimizer = torch.optim.Adam([delta], lr=0.01)
    before = float(np.linalg.norm(recognizer.embed_crops([powell]) - target.numpy()))
    assert before > recognizer.threshold
    for _ in range(200):
        value = loss((start + delta).clamp(-1, 1), target)
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        with torch.no_grad():
            delta.clamp_(-limit, limit)
        pixels = ((start + delta).clamp(-1, 1) + 1) * 127.5
        attacked = pixels.round().to(torch.uint8)  # a real 8-bit image
        after = recognizer.embed_crops(attacked)
        distance = float(np.linalg.norm(after - target.numpy()))
        if distance < recognizer.threshold:
            break
    assert distance < recognizer.threshold
    change = (attacked.int() - (start + 1).mul(127.5).round().int()).abs().max()
    assert int(change) <= 9  # 8 levels, plus rounding


@pytest.mark.parametrize(
    ("images", "kwargs", "message"),
    [
        (torch.zeros(3, 160, 160), {}, r"expected \(B, 3, H, W\) float images"),
        (torch.zeros(1, 3, 100, 100), {"crop": (0, 120, 0, 90)}, "does not fit images of 100x100"),
    ],
)
def test_bad_inputs(images, kwargs, message):
    with pytest.raises(ValueError, match=message):
        face_input(images, (-1, 1), kwargs.get("crop"), 160, "fixed")


def test_ffhq_crop_scales_with_the_image():
    images = torch.zeros(1, 3, 512, 512)
    images[:, :, 70:446, 64:440] = 1.0  # pSp's box at 512 px
    out = face_input(images, (0, 1), "ffhq", 160, "fixed")
    assert torch.allclose(out, torch.full_like(out, (255 - 127.5) / 128))
