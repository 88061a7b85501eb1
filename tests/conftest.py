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
