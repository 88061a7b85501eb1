"""The reference cascade: the pyramid's scales, and the same faces with the CPU kernels off."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.detection import cpu_kernels
from faceprint.detection.stages import pyramid_scales


def test_pyramid_scales_cover_faces_from_the_minimum_size_to_the_image():
    scales = pyramid_scales(250, 250, 20, 0.709)
    assert scales[0] == pytest.approx(12 / 20)
    assert np.allclose(np.diff(np.log(scales)), np.log(0.709))
    assert 250 * scales[-1] >= 12 > 250 * scales[-1] * 0.709


def test_reference_cascade_finds_the_same_faces_as_the_cpu_kernels(
    mtcnn, multiface, lfw, kernels_off
):
    images = [multiface, *sorted((lfw / "images" / "Colin_Powell").glob("*.jpg"))[:8]]
    fast_boxes, fast_probs, fast_points = mtcnn.detect(images, landmarks=True)
    with kernels_off():
        assert not cpu_kernels.enabled()
        boxes, probs, points = mtcnn.detect(images, landmarks=True)
    assert cpu_kernels.enabled()
    for ours, theirs in zip(
        (boxes, probs, points), (fast_boxes, fast_probs, fast_points), strict=True
    ):
        for a, b in zip(ours, theirs, strict=True):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-3)
