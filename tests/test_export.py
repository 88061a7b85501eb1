"""Exported networks: ONNX Runtime and a bare TorchScript load give torch's numbers on real
LFW crops and pyramid levels, and say how to feed them."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from faceprint import FaceRecognizer, create_model
from faceprint.alignment import standardize
from faceprint.cli import main
from faceprint.detection.nets import ONet, PNet, RNet
from faceprint.export import export, read_facts
from faceprint.images import load_image

ort = pytest.importorskip("onnxruntime")

PEOPLE = ["Colin_Powell", "Tony_Blair", "George_W_Bush", "Gerhard_Schroeder"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("exported")
    files = {}
    for fmt in ("onnx", "torchscript"):
        for path in export("ms-celeb-1m", fmt, out) + export("mtcnn", fmt, out):
            files[path.name] = path
    return files


@pytest.fixture(scope="module")
def inputs(lfw):
    """Per network, real inputs: standardized face crops, two pyramid levels of a photo, and
    24/48 px face crops."""
    recognizer = FaceRecognizer()
    images = [load_image(lfw / "images" / p / f"{p}_0001.jpg") for p in PEOPLE]
    crops = []
    for image in images:
        face = recognizer.embed(image)[0]
        crops.append(np.asarray(recognizer.crop(image, face.box, face.landmarks)))
    crops = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float()

    def pixels(image, size):
        x = torch.from_numpy(np.array(image.resize(size, Image.BILINEAR))).float()
        return ((x - 127.5) / 128).permute(2, 0, 1)

    levels = [pixels(images[0], (150, 150))[None], pixels(images[1], (61, 61))[None]]
    faces = [image.crop((70, 70, 180, 180)) for image in images]
    return {
        "crops": standardize(crops, "per_image"),
        "levels": levels,
        "rnet": torch.stack([pixels(f, (24, 24)) for f in faces]),
        "onet": torch.stack([pixels(f, (48, 48)) for f in faces]),
    }


def _torch_outputs(name, x):
    with torch.no_grad():
        if name == "ms-celeb-1m":
            return [create_model("ms-celeb-1m").eval()(x)]
        net = {"pnet": PNet, "rnet": RNet, "onet": ONet}[name]().eval()
        return list(net(x))


def _cases(inputs):
    yield "ms-celeb-1m", inputs["crops"]
    for level in inputs["levels"]:
        yield "pnet", level
    yield "rnet", inputs["rnet"]
    yield "onet", inputs["onet"]


@pytest.mark.slow
def test_onnx_runtime_matches_torch_on_real_inputs(exported, inputs):
    for name, x in _cases(inputs):
        session = ort.InferenceSession(
            str(exported[f"{name}.onnx"]), providers=["CPUExecutionProvider"]
        )
        got = session.run(None, {session.get_inputs()[0].name: x.numpy()})
        for ours, theirs in zip(got, _torch_outputs(name, x), strict=True):
            assert ours.shape == tuple(theirs.shape)
            assert np.abs(ours - theirs.numpy()).max() < 1e-4, name


@pytest.mark.slow
def test_torchscript_loads_without_faceprint_and_matches(exported, inputs, tmp_path):
    cases = list(_cases(inputs))
    for k, (_, x) in enumerate(cases):
        np.save(tmp_path / f"in{k}.npy", x.numpy())
    script = f"""
import sys, numpy as np, torch
out = []
for k, name in enumerate({[name for name, _ in cases]!r}):
    model = torch.jit.load(f"{exported["pnet.pt"].parent}/{{name}}.pt")
    y = model(torch.from_numpy(np.load(f"{tmp_path}/in{{k}}.npy")))
    y = y if isinstance(y, tuple) else (y,)
    for j, t in enumerate(y):
        np.save(f"{tmp_path}/out{{k}}_{{j}}.npy", t.detach().numpy())
assert not any(m.startswith("faceprint") for m in sys.modules), "faceprint was imported"
"""
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path)
    for k, (name, x) in enumerate(cases):
        for j, theirs in enumerate(_torch_outputs(name, x)):
            ours = np.load(tmp_path / f"out{k}_{j}.npy")
            assert np.abs(ours - theirs.numpy()).max() < 1e-5, name


def test_files_say_how_to_feed_them(exported):
    facts = read_facts(exported["ms-celeb-1m.onnx"])
    assert facts["standardization"] == "per_image" and facts["input_size"] == 160
    assert facts["embedding_size"] == 128 and facts["source"] == "ms-celeb-1m"
    assert read_facts(exported["ms-celeb-1m.pt"]) == {**facts, "format": "torchscript"}
    assert "any H, W" in read_facts(exported["pnet.onnx"])["input"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch"], "unknown pretrained weights 'nosuch'"),
        (["ms-celeb-1m", "--opset", "9"], "opset 9 is not one ONNX Runtime runs"),
        (["mtcnn", "--format", "tflite"], "'tflite' is not one of"),
    ],
)
def test_bad_requests_are_usage_errors(tmp_path, args, message):
    result = CliRunner().invoke(main, ["export", *args, "--out", str(tmp_path)])
    assert result.exit_code == 2 and message in result.output


def test_an_existing_file_needs_force(tmp_path):
    runner = CliRunner()
    first = runner.invoke(main, ["export", "mtcnn", "--out", str(tmp_path)])
    assert first.exit_code == 0, first.output
    assert "pnet.onnx: (B, 3, H, W)" in first.stdout
    again = runner.invoke(main, ["export", "mtcnn", "--out", str(tmp_path)])
    assert again.exit_code == 2 and "pass --force to replace" in again.output
    forced = runner.invoke(main, ["export", "mtcnn", "--out", str(tmp_path), "--force"])
    assert forced.exit_code == 0
    assert json.loads(json.dumps(read_facts(tmp_path / "rnet.onnx")))["name"] == "rnet"


@pytest.mark.slow
def test_centerface_exports_with_free_sizes_and_decodes_to_the_detectors_faces(
    tmp_path, multiface, lfw
):
    """A fused name exports each member's networks; CenterFace's ONNX and TorchScript files
    give the port's maps on real images of two padded sizes, and its decoding (which the
    facts name) gives the detector's own faces from them."""
    from faceprint.detection import create_detector
    from faceprint.detection.centerface import decode
    from faceprint.export import export_targets

    files = export("mtcnn+centerface", "onnx", tmp_path)
    assert [p.name for p in files] == ["pnet.onnx", "rnet.onnx", "onet.onnx", "centerface.onnx"]
    assert files == export_targets("mtcnn+centerface", "onnx", tmp_path)
    [script] = export("centerface", "torchscript", tmp_path)
    facts = read_facts(files[-1])
    assert facts["decode"] == "faceprint.detection.centerface.decode"
    assert facts["sha256"] and "multiples of 32" in facts["input"]
    assert read_facts(script) == {**facts, "format": "torchscript"}
    detector = create_detector("centerface")
    session = ort.InferenceSession(str(files[-1]), providers=["CPUExecutionProvider"])
    traced = torch.jit.load(str(script))
    portrait = lfw / "images" / "Colin_Powell" / "Colin_Powell_0001.jpg"
    for path, faces in ((multiface, 6), (portrait, 1)):
        x, size = detector.input_tensor(np.asarray(load_image(path)))
        x = x.contiguous()
        with torch.inference_mode():
            theirs = detector.net(x)
            scripted = traced(x)
        ours = session.run(None, {"images": x.numpy()})
        for a, b, c in zip(ours, theirs, scripted, strict=True):
            assert a.shape == tuple(b.shape) and np.abs(a - b.numpy()).max() < 1e-4
            assert np.abs(c.numpy() - b.numpy()).max() < 1e-4
        sizes = torch.tensor([size])
        [(boxes, scores, _)] = decode(*map(torch.from_numpy, ours), sizes, 0.35, 0.3)
        [found] = detector.detect_batch([load_image(path)])
        assert len(boxes) == len(found) == faces
        assert np.abs(boxes.numpy() - found.boxes).max() < 1e-3
