"""Thresholds read off the impostor distribution: verification and open-set identification."""

from __future__ import annotations

import math

import numpy as np
import pytest

from faceprint import get_weights
from faceprint.weights.calibration import (
    FAR_GRID,
    distance_at_far,
    far_at_distance,
    open_set_threshold,
    per_pair_far,
)

BOX = get_weights("ms-celeb-1m").impostor_distances["box"]


def test_grid_and_recorded_distributions_agree():
    assert len(FAR_GRID) == 28 and FAR_GRID[0] == pytest.approx(1e-7)
    for align, distances in get_weights("ms-celeb-1m").impostor_distances.items():
        assert len(distances) == len(FAR_GRID), align
        assert np.all(np.diff(distances) > 0), f"{align}: distances must grow with the FAR"


@pytest.mark.parametrize(("far", "expected"), [(1e-3, 1.0005), (1e-2, 1.1259), (1e-5, 0.7618)])
def test_distance_at_a_grid_far_is_the_recorded_one(far, expected):
    assert distance_at_far(BOX, far) == pytest.approx(expected, abs=1e-9)


def test_distance_between_grid_points_is_interpolated_in_log_far():
    middle = 10 ** ((math.log10(1e-3) + math.log10(10**-2.75)) / 2)
    assert distance_at_far(BOX, middle) == pytest.approx((1.0005 + 1.0311) / 2)


@pytest.mark.parametrize("identities", [1, 100, 1680, 10**6])
def test_per_pair_rate_gives_the_target_over_n_independent_tries(identities):
    p = per_pair_far(0.01, identities)
    assert -math.expm1(identities * math.log1p(-p)) == pytest.approx(0.01, rel=1e-9)


def test_open_set_threshold_tightens_as_the_gallery_grows():
    thresholds = [open_set_threshold(BOX, 0.01, n) for n in (1, 10, 100, 300, 1680)]
    assert thresholds[0] == pytest.approx(distance_at_far(BOX, 0.01))
    assert all(a > b for a, b in zip(thresholds, thresholds[1:], strict=False))
    assert 0.70 < thresholds[-1] < 0.75  # 1680 people: about 6e-6 per pair


@pytest.mark.parametrize("far", [0.0, 1.0, -0.1, 2.0])
def test_rates_outside_zero_one_are_refused(far):
    with pytest.raises(ValueError, match="must be in \\(0, 1\\)"):
        distance_at_far(BOX, far)
    with pytest.raises(ValueError, match="must be in \\(0, 1\\)"):
        per_pair_far(far, 10)


@pytest.mark.parametrize("far", [1e-6, 3e-4, 1e-2, 0.2])
def test_far_at_distance_inverts_distance_at_far(far):
    assert far_at_distance(BOX, distance_at_far(BOX, far)) == pytest.approx(far, rel=1e-9)


def test_an_exponent_below_one_loosens_the_threshold_of_a_large_gallery():
    independent = open_set_threshold(BOX, 0.01, 1680)
    correlated = open_set_threshold(BOX, 0.01, 1680, exponent=0.917)
    assert correlated > independent
    assert correlated == pytest.approx(open_set_threshold(BOX, 0.01, round(1680**0.917)), abs=1e-3)
