"""Thresholds read off a model's impostor-distance distribution, for a stated false-alarm rate.

A record's ``impostor_distances[align]`` holds, at each false-accept rate of :data:`FAR_GRID`,
the L2 distance below which that fraction of impostor pairs (two photos of two different
people, LFW View 1) fall (``scripts/calibrate_impostors.py``).

- **Verification (1:1):** accepting pairs closer than ``distance_at_far(far)`` accepts a
  fraction ``far`` of strangers.
- **Identification (open set, 1:N):** a stranger is named when *any* of the ``N`` enrolled
  identities comes closer than the threshold. With independent impostor distances that happens
  with probability ``1 - (1 - F(t))**N``, so the per-pair rate must be
  ``1 - (1 - far)**(1 / N)``: the threshold tightens as the gallery grows. Distances of one
  stranger to many people are correlated, so ``N`` is replaced by ``N ** exponent``, the number
  of independent tries that matches galleries built from View 1 people.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: False-accept rates at which impostor distances are recorded: 10**-7 to 10**-0.25, 4 a decade.
FAR_GRID: np.ndarray = 10.0 ** (-7.0 + np.arange(28) / 4.0)


def distance_at_far(impostor_distances: Sequence[float], far: float) -> float:
    """The L2 distance below which a fraction ``far`` of impostor pairs fall.

    Interpolated linearly in ``log10(far)`` between grid points and clamped to the grid's ends.

    Args:
        impostor_distances: distances at :data:`FAR_GRID`, increasing.
        far: false-accept rate per pair, in (0, 1).
    """
    if not 0.0 < far < 1.0:
        raise ValueError(f"a false-accept rate must be in (0, 1), got {far}")
    if len(impostor_distances) != len(FAR_GRID):
        raise ValueError(
            f"expected {len(FAR_GRID)} impostor distances (one per FAR_GRID entry), "
            f"got {len(impostor_distances)}"
        )
    return float(np.interp(math.log10(far), np.log10(FAR_GRID), impostor_distances))


def far_at_distance(impostor_distances: Sequence[float], distance: float) -> float:
    """The fraction of impostor pairs closer than ``distance``: the inverse of
    :func:`distance_at_far`, clamped to the grid's ends (1e-7 to about 0.56)."""
    return float(10.0 ** np.interp(distance, impostor_distances, np.log10(FAR_GRID)))


def per_pair_far(far: float, identities: float) -> float:
    """The per-pair false-accept rate that gives ``far`` over ``identities`` independent tries.

    Args:
        far: false-alarm rate per stranger searched, in (0, 1).
        identities: number of (independent) tries, at least 1.
    """
    if not 0.0 < far < 1.0:
        raise ValueError(f"a false-alarm rate must be in (0, 1), got {far}")
    # -expm1(log1p(-far) / n) is 1 - (1 - far)**(1/n) without cancellation for small far.
    return -math.expm1(math.log1p(-far) / max(1, identities))


def open_set_threshold(
    impostor_distances: Sequence[float], far: float, identities: int, exponent: float = 1.0
) -> float:
    """Distance below which a gallery of ``identities`` people names a stranger with rate ``far``.

    Args:
        impostor_distances: the record's distances at :data:`FAR_GRID`.
        far: false-alarm rate per stranger searched, in (0, 1).
        identities: enrolled identities.
        exponent: a stranger's distances to different identities are not independent (a face
            close to one person tends to be close to others), so ``identities ** exponent``
            independent tries stand for the gallery; measured on View 1 per model
            (``scripts/calibrate_impostors.py``), 1 where unknown.
    """
    return distance_at_far(impostor_distances, per_pair_far(far, max(1, identities) ** exponent))
