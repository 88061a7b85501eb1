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


#: The open-set margin score: a query's distance to its nearest person minus this fraction of
#: its distance to the second nearest (``scripts/calibrate_margin.py`` chose it on View 1).
MARGIN_BETA = 0.5
#: Gallery sizes and false-alarm rates at which a model's margin thresholds are recorded.
MARGIN_SIZES: tuple[int, ...] = (10, 30, 100, 300, 1000, 2000)
MARGIN_FARS: tuple[float, ...] = (0.001, 0.003, 0.01, 0.03, 0.1)


def margin_score(nearest: np.ndarray, second: np.ndarray, beta: float = MARGIN_BETA) -> np.ndarray:
    """The open-set margin score of queries: lower means surer of the nearest person.

    Args:
        nearest: ``(Q,)`` L2 distances to the nearest person, in [0, 2].
        second: ``(Q,)`` L2 distances to the second nearest person, ``>= nearest``.
        beta: weight of the second distance, in [0, 1).

    Returns:
        ``(Q,)`` float64 ``nearest - beta * second``, in [-2 beta, 2].
    """
    return np.asarray(nearest, np.float64) - beta * np.asarray(second, np.float64)


def margin_threshold(thresholds: Sequence[Sequence[float]], far: float, identities: int) -> float:
    """The margin score below which a gallery of ``identities`` people names a stranger with
    rate ``far``, from a record's table.

    Interpolated linearly in ``log N`` and ``log far``; beyond the largest size measured it
    goes on along the last segment (thresholds fall as galleries grow), below the smallest it
    keeps the smallest's (stricter than the true one), and ``far`` is clamped to the grid.

    Args:
        thresholds: ``[size][far]`` scores at :data:`MARGIN_SIZES` x :data:`MARGIN_FARS`.
        far: false-alarm rate per stranger searched, in (0, 1).
        identities: enrolled identities, at least 2.
    """
    if not 0.0 < far < 1.0:
        raise ValueError(f"a false-alarm rate must be in (0, 1), got {far}")
    table = np.asarray(thresholds, np.float64)
    if table.shape != (len(MARGIN_SIZES), len(MARGIN_FARS)):
        raise ValueError(
            f"expected a {len(MARGIN_SIZES)} x {len(MARGIN_FARS)} table of margin thresholds, "
            f"got {table.shape}"
        )
    log_far = np.clip(math.log10(far), math.log10(MARGIN_FARS[0]), math.log10(MARGIN_FARS[-1]))
    per_size = np.array([np.interp(log_far, np.log10(MARGIN_FARS), row) for row in table])
    log_sizes = np.log10(MARGIN_SIZES)
    x = math.log10(max(identities, MARGIN_SIZES[0]))
    if x <= log_sizes[-1]:
        return float(np.interp(x, log_sizes, per_size))
    slope = (per_size[-1] - per_size[-2]) / (log_sizes[-1] - log_sizes[-2])
    return float(per_size[-1] + slope * (x - log_sizes[-1]))
