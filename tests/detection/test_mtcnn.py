"""MTCNN against facenet-pytorch 2.6.0's stored answers, plus batching, devices and outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.ops import box_iou

from faceprint import MTCNN
from tests.conftest import DEVICES, EXPECTED
from tests.parity_images import CROP_IMAGES, parity_images


@pytest.fixture(scope="module")
def expected() -> dict[str, np.ndarray]:
    with np.load(EXPECTED / "mtcnn_facenet_pytorch.npz") as f:
        return dict(f)


def assert_same_faces(key, ours, theirs):
    """Every face one finds, the other finds: IoU >= 0.99, |dprob| <= 1e-3, landmarks within
    0.5 px."""
    boxes, probs, points = ours
    e_boxes, e_probs, e_points = theirs
    if boxes is None:
        assert len(e_boxes) == 0, (
            f"{key}: faceprint found no face, facenet-pytorch found {len(e_boxes)}"
        )
        return
    assert len(boxes) == len(e_boxes), (
        f"{key}: {len(boxes)} faces vs facenet-pytorch's {len(e_boxes)}"
    )
    iou = box_iou(torch.as_tensor(boxes), torch.as_tensor(e_boxes)).numpy()
    match = iou.argmax(axis=1)
    assert sorted(match.tolist()) == list(range(len(boxes))), (
        f"{key}: faces do not pair up one-to-one"
    )
    assert iou[np.arange(len(boxes)), match].min() >= 0.99, key
    assert np.abs(probs - e_probs[match]).max() <= 1e-3, key
    assert np.abs(points - e_points[match]).max() <= 0.5, key


@pytest.mark.slow
def test_parity_samples(mtcnn, data_dir, expected):
    images = parity_images(data_dir)
    sample_keys = [k for k in images if k.startswith("samples/")]
    # The portraits have different sizes; faceprint takes them in one call.
    boxes, probs, points = mtcnn.detect([images[k] for k in sample_keys], landmarks=True)
    for i, key in enumerate(sample_keys):
        assert_same_faces(
            key,
            (boxes[i], probs[i], points[i]),
            (expected[f"{key}/boxes"], expected[f"{key}/probs"], expected[f"{key}/points"]),
        )
    assert len(boxes[0]) == 6, "multiface.jpg holds 6 faces"


@pytest.mark.slow
def test_parity_lfw_200(mtcnn, data_dir, expected):
    images = parity_images(data_dir)
    keys = [k for k in images if k.startswith("lfw/")]
    assert len(keys) == 200
    pil = [Image.open(images[k]) for k in keys]
    for start in range(0, len(keys), 50):
        boxes, probs, points = mtcnn.detect(pil[start : start + 50], landmarks=True)
        for j, key in enumerate(keys[start : start + 50]):
            assert_same_faces(
                key,
                (boxes[j], probs[j], points[j]),
                (expected[f"{key}/boxes"], expected[f"{key}/probs"], expected[f"{key}/points"]),
            )


@pytest.mark.slow
def test_parity_crops_within_one_grey_level(data_dir, expected):
    cropper = MTCNN(keep_all=True, post_process=False)
    images = parity_images(data_dir)
    for key in sorted(CROP_IMAGES):
        crops = cropper(images[key])
        theirs = expected[f"{key}/crops"].astype(np.float32)
        assert crops.shape == theirs.shape, key
        # Order faces the same way (both sort by box area).
        assert np.abs(crops.numpy() - theirs).mean() <= 1.0, key


def test_forward_standardizes_and_returns_one_face(multiface):
    face, prob = MTCNN()(multiface, return_prob=True)
    assert face.shape == (3, 160, 160) and face.dtype == torch.float32
    assert float(face.min()) >= -1.0 and float(face.max()) <= 1.0
    assert 0.99 <= prob <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize("batch_size", [1, 2, 4])
def test_batch_equals_single(mtcnn, portraits, batch_size):
    single = [mtcnn.detect(p) for p in portraits[:batch_size]]
    boxes, probs = mtcnn.detect(portraits[:batch_size])
    assert isinstance(boxes, list) and len(boxes) == batch_size
    for (b, p), bb, pp in zip(single, boxes, probs, strict=True):
        np.testing.assert_allclose(b, bb, atol=1e-3)
        np.testing.assert_allclose(p, pp, atol=1e-6)


def test_batch_shards_on_worker_threads_give_identical_faces(mtcnn, data_dir):
    images = parity_images(data_dir)
    lfw = [Image.open(images[k]) for k in images if k.startswith("lfw/")][:12]
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # one thread: the batch runs as one piece
        whole = mtcnn.detect(lfw, landmarks=True)
        torch.set_num_threads(3)  # three shards on three worker threads
        sharded = mtcnn.detect(lfw, landmarks=True)
        assert torch.get_num_threads() == 3, "the workers must not change the caller's thread count"
    finally:
        torch.set_num_threads(threads)
    for ours, reference in zip(sharded, whole, strict=True):
        for a, b in zip(ours, reference, strict=True):
            assert (a is None and b is None) or np.array_equal(a, b)


def _detect_in_child(mtcnn, images, queue):
    queue.put([None if b is None else b.tolist() for b in mtcnn.detect(images)[0]])


def test_batches_still_run_in_a_forked_child(mtcnn, portraits):
    # The worker threads of the parent do not exist in a child made by fork (as DataLoader
    # workers are); the child must start its own instead of waiting on them forever.
    import multiprocessing

    images = [np.asarray(Image.open(p).convert("RGB").resize((320, 400))) for p in portraits]
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        in_parent = mtcnn.detect(images)[0]
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=_detect_in_child, args=(mtcnn, images, queue))
        child.start()
        in_child = queue.get(timeout=120)
        child.join(timeout=30)
    finally:
        torch.set_num_threads(threads)
    assert child.exitcode == 0
    for a, b in zip(in_child, in_parent, strict=True):
        np.testing.assert_array_equal(np.asarray(a, dtype=np.float32), b)


@pytest.mark.slow
def test_batch_with_no_face_and_mixed_sizes(mtcnn, multiface, portraits):
    # The sky-and-wall corner of the group photo holds no face (facenet-pytorch crashes on this
    # under numpy 2, and refuses mixed sizes).
    corner = np.asarray(Image.open(multiface).convert("RGB"))[:40, 1000:1200]
    boxes, probs, points = mtcnn.detect([portraits[0], corner, multiface], landmarks=True)
    assert boxes[1] is None and probs[1] is None and points[1] is None
    alone, _ = mtcnn.detect(portraits[0])
    np.testing.assert_allclose(boxes[0], alone, atol=1e-3)
    assert len(boxes[2]) == 6
    assert boxes[2].dtype == np.float32 and points[2].shape == (6, 5, 2)
    faces = mtcnn([portraits[0], corner, multiface])
    assert faces[0].shape == (len(alone), 3, 160, 160) and faces[1] is None
    assert faces[2].shape == (6, 3, 160, 160)


def test_input_types_agree(mtcnn, multiface):
    pil = Image.open(multiface).convert("RGB")
    arr = np.asarray(pil)
    ref, _ = mtcnn.detect(pil)
    for img in (multiface, str(multiface), arr, torch.from_numpy(arr.copy())):
        boxes, _ = mtcnn.detect(img)
        np.testing.assert_allclose(boxes, ref, atol=1e-4)
    # A (B, H, W, 3) batch is a batch.
    boxes, _ = mtcnn.detect(np.stack([arr, arr]))
    assert len(boxes) == 2 and np.allclose(boxes[1], ref, atol=1e-4)


def test_save_path_writes_every_face(tmp_path, multiface):
    MTCNN(keep_all=True)(multiface, save_path=tmp_path / "face.png")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["face.png"] + [f"face_{i}.png" for i in range(2, 7)]
    assert Image.open(tmp_path / "face.png").size == (160, 160)


@pytest.mark.slow
@pytest.mark.parametrize(
    "method", ["probability", "largest", "largest_over_threshold", "center_weighted_size"]
)
def test_selection_methods(multiface, method):
    detector = MTCNN(keep_all=True)
    boxes, probs = detector.detect(multiface)
    face = MTCNN(selection_method=method, post_process=False)(multiface)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    centre = np.array([600, 315])
    offsets = (((boxes[:, :2] + boxes[:, 2:]) / 2 - centre) ** 2).sum(1)
    want = {
        "probability": probs.argmax(),
        "largest": area.argmax(),
        "largest_over_threshold": np.where(probs > 0.9, area, -1).argmax(),
        "center_weighted_size": (area - 2 * offsets).argmax(),
    }[method]
    crops = MTCNN(keep_all=True, post_process=False)(multiface)
    assert torch.equal(face, crops[want])


def test_double_precision_gives_the_same_faces(multiface):
    ref, ref_probs = MTCNN(keep_all=True).detect(multiface)
    boxes, probs = MTCNN(keep_all=True).double().detect(multiface)
    np.testing.assert_allclose(boxes, ref, atol=0.05)
    np.testing.assert_allclose(probs, ref_probs, atol=1e-4)


@pytest.mark.parametrize("device", DEVICES)
def test_device_moves(device, multiface):
    detector = MTCNN(keep_all=True, device=device)
    assert detector.device.type == device
    boxes, _ = detector.to("cpu").detect(multiface)
    assert len(boxes) == 6
    if device == "cuda":
        half = MTCNN(keep_all=True, device="cuda").half()
        boxes_half, _ = half.detect(multiface)
        assert len(boxes_half) == 6


def test_no_face_returns_none(mtcnn, multiface):
    corner = np.asarray(Image.open(multiface).convert("RGB"))[:40, 1000:1200]
    assert mtcnn.detect(corner, landmarks=True) == (None, None, None)
    assert mtcnn(corner) is None
    assert MTCNN()(corner, return_prob=True) == (None, None)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="selection_method"):
        MTCNN(selection_method="biggest")
    with pytest.raises(ValueError, match="thresholds"):
        MTCNN(thresholds=[0.6, 0.7])
    with pytest.raises(ValueError, match="factor"):
        MTCNN(factor=1.5)
