"""IdentityLoss: differentiable, frozen, the same numbers as the recognizer, and meaningful."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from faceprint import FaceRecognizer
from faceprint.images import load_image
from faceprint.losses import IdentityLoss, face_input
from tests.conftest import DEVICES


@pytest.fixture(scope="module")
def loss():
    return IdentityLoss()


@pytest.fixture(scope="module")
def recognizer():
    return FaceRecognizer()


def _crop(recognizer, path):
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


def test_warp_path_gradcheck():
    """Crop, warp and standardization are differentiable (float64, small sizes)."""
    images = (torch.rand(2, 3, 12, 10, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    angle = 0.3
    warp = torch.tensor(
        [
            [0.4 * np.cos(angle), -0.4 * np.sin(angle), 1.0],
            [0.4 * np.sin(angle), 0.4 * np.cos(angle), 0.5],
            [0.0, 0.0, 1.0],
        ],
        dtype=torch.float64,
    ).expand(2, 3, 3)

    def prepare(x):
        return face_input(x, (-1.0, 1.0), None, 5, "per_image", warp=warp)

    assert torch.autograd.gradcheck(prepare, (images,), eps=1e-6, atol=1e-5)


@pytest.fixture(scope="module")
def landmark_loss():
    return IdentityLoss(align="landmarks")


def _photo(lfw, person, number=1) -> torch.Tensor:
    image = load_image(lfw / "images" / person / f"{person}_{number:04d}.jpg")
    return torch.from_numpy(np.array(image)).permute(2, 0, 1).float()[None] / 127.5 - 1


def test_landmark_warp_cuts_what_the_similarity_alignment_cuts(landmark_loss, lfw):
    """The differentiable warp gives the PIL-warped crop's embedding (uint8 rounding apart),
    and still does on a 4x larger copy (antialiased before the warp)."""
    recognizer = FaceRecognizer(align="similarity")
    path = lfw / "images" / "Colin_Powell" / "Colin_Powell_0001.jpg"
    theirs = recognizer.embed(path)[0].embedding
    photo = _photo(lfw, "Colin_Powell")
    assert float(landmark_loss.embed(photo)[0].detach().numpy() @ theirs) > 0.9999
    large = torch.nn.functional.interpolate(photo, scale_factor=4, mode="bicubic").clamp(-1, 1)
    assert float(landmark_loss.embed(large)[0].detach().numpy() @ theirs) > 0.995


def test_landmarks_found_on_the_target_cut_the_generated_image(landmark_loss, lfw):
    target = torch.cat([_photo(lfw, "Colin_Powell"), _photo(lfw, "Tony_Blair")])
    generated = torch.flip(target, dims=[3]).requires_grad_(True)  # mirrored: same people
    landmarks = landmark_loss.landmarks(target)
    assert landmarks.shape == (2, 5, 2)
    losses = landmark_loss(generated, target)
    losses.backward()
    assert 0.0 < losses.item() < 0.6
    assert float(generated.grad.abs().sum()) > 0
    # Landmarks given, embeddings as the target: the same number without a detection.
    embeddings = landmark_loss.embed(target, landmarks).detach()
    again = landmark_loss(generated, embeddings, landmarks=landmarks)
    assert again.item() == pytest.approx(losses.item(), abs=1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_autocast_keeps_the_loss_and_its_gradient(loss, recognizer, lfw, device):
    """bf16 autocast (CPU) or fp16 (CUDA): float32 loss within 0.02 of fp32, finite grads."""
    loss = loss.to(device)
    crop = _crop(recognizer, lfw / "images" / "Colin_Powell" / "Colin_Powell_0001.jpg")
    other = _crop(recognizer, lfw / "images" / "Colin_Powell" / "Colin_Powell_0002.jpg")
    generated, target = _tensor(crop).to(device), _tensor(other).to(device)
    exact = loss(generated, target).item()
    dtype = torch.bfloat16 if device == "cpu" else torch.float16
    pixels = generated.clone().requires_grad_(True)
    with torch.autocast(device, dtype=dtype):
        value = loss(pixels, target)
    value.backward()
    assert value.dtype == torch.float32 and value.item() == pytest.approx(exact, abs=0.02)
    assert torch.isfinite(pixels.grad).all() and float(pixels.grad.abs().sum()) > 0
    loss.to("cpu")


def test_one_target_serves_a_batch(loss, recognizer, lfw):
    crop = _crop(recognizer, lfw / "images" / "Colin_Powell" / "Colin_Powell_0001.jpg")
    generated = _tensor(crop).expand(3, 3, 160, 160)
    per_image = loss(generated, _tensor(crop))
    assert per_image.item() == pytest.approx(0.0, abs=1e-5)


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


def _with_nan() -> torch.Tensor:
    images = torch.zeros(2, 3, 160, 160)
    images[1, 0, 5, 5] = float("nan")
    return images


@pytest.mark.parametrize(
    ("generated", "target", "message"),
    [
        (torch.zeros(0, 3, 160, 160), torch.zeros(1, 128), r"generated: empty batch \(B = 0\)"),
        (torch.zeros(2, 4, 160, 160), torch.zeros(2, 128), r"expected \(B, 3, H, W\) float"),
        (torch.full((1, 3, 160, 160), 254.0), torch.zeros(1, 128), "outside input_range -1..1"),
        (_with_nan(), torch.zeros(2, 128), "generated: the images hold NaN"),
        (torch.zeros(1, 3, 160, 160), torch.zeros(1, 512), "target embeddings have 512 dim"),
        (torch.zeros(3, 3, 160, 160), torch.zeros(2, 128), "2 targets for 3 generated images"),
        (torch.zeros(1, 3, 160, 160), torch.full((1, 3, 160, 160), 2.0), "target: values span"),
    ],
)
def test_bad_tensors_are_named(loss, generated, target, message):
    with pytest.raises(ValueError, match=message):
        loss(generated, target)


def test_bad_settings_and_faceless_targets_are_named(landmark_loss):
    with pytest.raises(ValueError, match="pass crop=None"):
        IdentityLoss(crop="ffhq", align="landmarks")
    with pytest.raises(ValueError, match="align must be 'fixed' or 'landmarks'"):
        IdentityLoss(align="eyes")
    wall = torch.zeros(2, 3, 160, 160)
    with pytest.raises(ValueError, match=r"no face found in image\(s\) \[0, 1\]"):
        landmark_loss(wall, wall)
    with pytest.raises(ValueError, match="needs landmarks="):
        landmark_loss(wall, torch.zeros(2, 128))


def test_ffhq_crop_scales_with_the_image():
    images = torch.zeros(1, 3, 512, 512)
    images[:, :, 70:446, 64:440] = 1.0  # pSp's box at 512 px
    out = face_input(images, (0, 1), "ffhq", 160, "fixed")
    assert torch.allclose(out, torch.full_like(out, (255 - 127.5) / 128))


@pytest.fixture(scope="module")
def centerface_loss():
    return IdentityLoss(align="landmarks", detector="centerface")


@pytest.mark.slow
def test_centerface_landmarks_cut_faces_whose_distances_behave(centerface_loss, landmark_loss, lfw):
    """CenterFace's eyes land within 5 px of MTCNN's on LFW's 250 px photos (its mouth
    corners sit up to 9 px lower), the faces they cut embed as MTCNN's do, and the distances
    rank people: the same person's other photo far nearer than anyone else's."""
    people = [("Colin_Powell", 1), ("Colin_Powell", 2), ("Tony_Blair", 1), ("George_W_Bush", 1)]
    photos = torch.cat([_photo(lfw, person, n) for person, n in people])
    ours, theirs = centerface_loss.landmarks(photos), landmark_loss.landmarks(photos)
    apart = (ours - theirs).norm(dim=2)
    assert ours.shape == (4, 5, 2) and float(apart[:, :2].max()) < 5 and float(apart.max()) < 12
    embeddings = centerface_loss.embed(photos, ours).detach()
    reference = landmark_loss.embed(photos, theirs).detach()
    assert float((embeddings * reference).sum(1).min()) > 0.95
    distances = 1 - embeddings[1:] @ embeddings[0]
    assert float(distances[0]) < 0.6 and bool((distances[1:] > distances[0] + 0.3).all())
    loss = centerface_loss(torch.flip(photos[:1], dims=[3]), photos[:1])  # mirrored: same face
    assert 0.0 <= loss.item() < float(distances[0])


@pytest.mark.slow
def test_identity_loss_takes_a_ready_detector(lfw):
    from faceprint.detection import create_detector

    detector = create_detector("centerface", input_scale=0.5)
    loss = IdentityLoss(align="landmarks", detector=detector)
    assert loss.detector is detector
    landmarks = loss.landmarks(_photo(lfw, "Colin_Powell"))
    eyes = landmarks[0, :2]
    assert eyes[0, 0] < eyes[1, 0] and 60 < float(eyes[:, 1].mean()) < 160  # 250 px photo
    with pytest.raises(ValueError, match="no face found in image"):
        loss.landmarks(torch.zeros(1, 3, 120, 120))
