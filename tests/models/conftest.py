"""Shared by the attribute networks' and the FaceRes embedder's parity tests."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.attributes import AttributeAnalyzer
from faceprint.images import load_image
from tests.conftest import EXPECTED
from tests.parity_images import parity_images


@pytest.fixture(scope="package")
def attribute_graph() -> dict[str, np.ndarray]:
    """Boxes and the graphs' outputs on their crops, by ``scripts/make_expected_tfjs.py``."""
    with np.load(EXPECTED / "tfjs_attributes.npz") as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="package")
def analyzer() -> AttributeAnalyzer:
    return AttributeAnalyzer()


@pytest.fixture(scope="package")
def crops(data_dir, attribute_graph, analyzer) -> tuple[np.ndarray, np.ndarray]:
    """The age/gender and emotion crops faceprint cuts at the stored boxes."""
    images = parity_images(data_dir)
    pairs = [
        analyzer.crops(load_image(images[str(k)]), box)
        for k, box in zip(attribute_graph["keys"], attribute_graph["boxes"], strict=True)
    ]
    faces = np.stack([np.asarray(a, dtype=np.uint8) for a, _ in pairs])
    small = np.stack([np.asarray(e, dtype=np.uint8) for _, e in pairs])
    return faces, small
