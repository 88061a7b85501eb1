"""Optional dependencies: a missing one is named with the extra that installs it, and every
command treats it as a usage error (exit 2), before any work."""

from __future__ import annotations

import pytest
from PIL import Image

from faceprint.errors import MissingExtraError
from faceprint.extras import require


def test_require_returns_the_module_or_names_the_extra():
    import json

    assert require("json", "none", "reading JSON") is json
    with pytest.raises(MissingExtraError) as caught:
        require("no_such_module_xyz.sub", "onnx", "doing this", otherwise="or do that")
    assert str(caught.value) == (
        "doing this needs no_such_module_xyz: pip install 'faceprint[onnx]', or do that"
    )
    assert isinstance(caught.value, ImportError)


@pytest.fixture
def photo(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.new("RGB", (64, 64), (120, 90, 60)).save(folder / "a.png")
    return folder / "a.png"


@pytest.mark.slow
@pytest.mark.slow
@pytest.mark.parametrize(
    "module, args, message",
    [
        ("pyarrow", ["embed", "{photo}", "--out", "{tmp}/x.parquet"], "writing .parquet"),
        ("pyarrow", ["embed", "{dir}", "--out", "{tmp}/rows"], "a dataset folder as --out"),
        ("ray", ["embed", "{dir}", "--out", "{tmp}/rows", "--engine", "ray"], "--engine ray"),
        ("onnx", ["export", "ms-celeb-1m", "--format", "onnx", "--out", "{tmp}"], "to ONNX"),
        (
            "onnxruntime",
            ["embed", "{photo}", "--backend", "onnxruntime", "--out", "{tmp}/x.npz"],
            "backend='onnxruntime'",
        ),
        (
            "onnxruntime",
            ["embed", "{photo}", "--precision", "int8", "--out", "{tmp}/x.npz"],
            "precision='int8'",
        ),
        ("av", ["video", "{photo}"], "faceprint video"),
        (
            "pymilvus",
            ["enroll", "ann", "{photo}", "--gallery", "{tmp}/g", "--vectors", "{tmp}/g.db"],
            "Milvus",
        ),
        (
            "psycopg",
            ["enroll", "ann", "{photo}", "--gallery", "postgresql://127.0.0.1:9/faces"],
            "a PostgreSQL gallery",
        ),
        ("fastapi", ["serve"], "faceprint serve"),
    ],
)
def test_a_missing_extra_is_a_usage_error_naming_it(
    cli_without, photo, tmp_path, module, args, message
):
    places = {"photo": photo, "dir": photo.parent, "tmp": tmp_path}
    done = cli_without(module, *(a.format(**places) for a in args))
    assert done.returncode == 2, done.stderr
    assert f"{message}" in done.stderr and f"needs {module}: pip install 'faceprint[" in done.stderr
    assert "Traceback" not in done.stderr
    assert not any((tmp_path / name).exists() for name in ("rows", "x.parquet", "x.npz", "g"))
