"""backend="onnxruntime": the same faces and embeddings as torch, one cascade, a checked cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from faceprint import MTCNN, FaceRecognizer
from faceprint.images import load_image

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def recognizers():
    return FaceRecognizer(), FaceRecognizer(backend="onnxruntime")


@pytest.mark.slow
def test_same_faces_and_embeddings_as_torch(recognizers, lfw, multiface, portraits):
    torch_path, onnx_path = recognizers
    images = [load_image(p) for p in sorted((lfw / "images").glob("A*/*.jpg"))[:24]]
    images += [load_image(multiface), *(load_image(p) for p in portraits[:3])]
    ours, theirs = onnx_path.embed(images), torch_path.embed(images)
    assert sum(len(f) for f in theirs) >= 30
    for faces_a, faces_b in zip(ours, theirs, strict=True):
        assert len(faces_a) == len(faces_b)
        for a, b in zip(faces_a, faces_b, strict=True):
            iou = box_iou(torch.tensor(a.box[None]), torch.tensor(b.box[None])).item()
            assert iou >= 0.99 and abs(a.probability - b.probability) <= 1e-3
            assert np.abs(a.embedding - b.embedding).max() < 1e-4
    assert onnx_path.detector.backend == "onnxruntime"
    assert type(onnx_path.detector._runners[0]).__name__ == "OnnxNetwork"


@pytest.mark.slow
def test_a_tampered_cached_export_is_rebuilt(recognizers, caplog):
    from faceprint.models.onnx_runtime import cached_onnx
    from faceprint.weights.factory import get_weights

    record = get_weights("ms-celeb-1m")
    files = cached_onnx("ms-celeb-1m", record.sha256)
    path = next(iter(files.values()))
    with open(path, "ab") as f:
        f.write(b"tampered")
    with caplog.at_level("WARNING"):
        again = cached_onnx("ms-celeb-1m", record.sha256)
    assert "changed since it was written; rebuilding" in caplog.text
    assert not next(iter(again.values())).read_bytes().endswith(b"tampered")


def test_bad_backends_are_refused():
    with pytest.raises(ValueError, match="backend must be one of torch, onnxruntime"):
        FaceRecognizer(backend="tensorrt")
    with pytest.raises(ValueError, match="drop weights_dir"):
        MTCNN(backend="onnxruntime", weights_dir="/tmp")


def test_commands_take_the_backend(lfw):
    from click.testing import CliRunner

    from faceprint.cli import main

    a = lfw / "images" / "Colin_Powell" / "Colin_Powell_0001.jpg"
    b = lfw / "images" / "Colin_Powell" / "Colin_Powell_0002.jpg"
    runner = CliRunner()
    distances = []
    for backend in ("torch", "onnxruntime"):
        result = runner.invoke(main, ["verify", str(a), str(b), "--json", "--backend", backend])
        assert result.exit_code == 0, result.output
        import json

        distances.append(json.loads(result.stdout)["distance"])
    assert abs(distances[0] - distances[1]) < 1e-4
    result = runner.invoke(main, ["detect", str(a), "--backend", "onnxruntime", "--json"])
    assert result.exit_code == 0 and '"probability"' in result.stdout


@pytest.fixture(scope="module")
def calibration_folder(lfw, tmp_path_factory):
    """32 photos of LFW View 1 people (pairsDevTrain), as a folder."""
    from faceprint.evaluation.verification import read_lfw_pairs

    folder = tmp_path_factory.mktemp("calibration")
    train = read_lfw_pairs(lfw / "pairsDevTrain.txt", lfw / "images")
    for path in sorted(set(train.a))[:32]:
        (folder / path.name).symlink_to(path)
    return folder


@pytest.mark.slow
def test_int8_is_built_once_checked_and_close_to_fp32(
    recognizers, calibration_folder, tmp_path, caplog, lfw
):
    import shutil

    from faceprint.errors import FaceprintError
    from faceprint.files import files_fingerprint
    from faceprint.models.onnx_runtime import OnnxNetwork, quantized_onnx

    torch_path, onnx_path = recognizers
    fp32 = tmp_path / "ms-celeb-1m.onnx"
    shutil.copy(onnx_path._embedder.path, fp32)
    with pytest.raises(FaceprintError, match="builds its model once from face photos"):
        quantized_onnx(fp32)
    crops = torch_path.calibration_crops(calibration_folder)
    assert crops.shape == (32, 3, 160, 160) and abs(float(crops.mean())) < 0.1
    photos = files_fingerprint(torch_path.calibration_photos(calibration_folder))
    int8 = quantized_onnx(fp32, crops, progress=False, calibration_id=photos)
    assert quantized_onnx(fp32) == int8  # later uses load it
    assert quantized_onnx(fp32, calibration_id=photos) == int8
    # Other photos make another model: the cached one is not passed off as theirs.
    other = files_fingerprint(sorted(calibration_folder.iterdir())[:31])
    with pytest.raises(FaceprintError, match="was calibrated on other photos"):
        quantized_onnx(fp32, calibration_id=other)
    others = sorted((lfw / "images").glob("Z*/*.jpg"))[:8]  # nobody of View 1's first 32
    held_out = torch.from_numpy(torch_path.calibration_crops(others))
    a = OnnxNetwork(fp32)(held_out).numpy()
    b = OnnxNetwork(int8)(held_out).numpy()
    assert (a * b).sum(axis=1).mean() > 0.99
    with open(int8, "ab") as f:
        f.write(b"x")
    with caplog.at_level("WARNING"):
        rebuilt = quantized_onnx(fp32, crops, progress=False)
    assert "stale or changed int8 model; rebuilding it" in caplog.text
    assert not rebuilt.read_bytes().endswith(b"x")
