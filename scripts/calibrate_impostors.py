"""Measure a model's impostor-distance distribution on LFW View 1, for its registry record.

Every image named in ``pairsDevTrain.txt`` and ``pairsDevTest.txt`` (View 1: 4992 images of 3095
people, never ``pairs.txt``) is embedded once; the L2 distance of every pair of images of two
different people (about 12.4 million) is an impostor sample. The script prints, per alignment,
the distance below which a fraction ``far`` of impostors fall, at the FAR grid of
:data:`faceprint.weights.calibration.FAR_GRID`: the tuple to paste into the record's
``impostor_distances``. The open-set and verification thresholds are read off it. It also
fits the record's ``open_set_exponent`` (see :func:`open_set_exponent`).

    python scripts/calibrate_impostors.py --data ../shared/data/lfw --model ms-celeb-1m \
        --align box --align similarity --align none
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from faceprint.evaluation.verification import (
    impostor_quantiles,
    primary_embeddings,
    view1_images,
)
from faceprint.pipeline import FaceRecognizer
from faceprint.weights.calibration import far_at_distance

GALLERY_SIZES = (10, 30, 100, 300, 1000)


def open_set_exponent(
    embeddings: np.ndarray,
    people: np.ndarray,
    quantiles: np.ndarray,
    far: float = 0.01,
    draws: int = 40,
    seed: int = 0,
) -> tuple[float, dict[int, float]]:
    """How many independent tries a gallery of N people is worth, as ``N ** exponent``.

    For each size N, galleries of N View 1 people (one image each, drawn at random ``draws``
    times) are searched with one image of every other View 1 person. The distance that a
    fraction ``far`` of these strangers come closer than gives a per-pair rate ``p`` (from the
    impostor distribution), and ``N_eff`` solves ``1 - (1 - p) ** N_eff = far``. The exponent
    is the least-squares slope of ``log N_eff`` on ``log N`` through the origin.

    Returns:
        The exponent and ``N_eff`` per size.
    """
    rng = np.random.default_rng(seed)
    names = np.unique(people)
    first = {n: int(np.flatnonzero(people == n)[0]) for n in names}
    effective = {}
    for size in GALLERY_SIZES:
        nearest = []
        for _ in range(draws):
            chosen = rng.permutation(len(names))
            gallery = embeddings[[first[n] for n in names[chosen[:size]]]]
            strangers = embeddings[[first[n] for n in names[chosen[size:]]]]
            sims = (strangers @ gallery.T).max(axis=1)
            nearest.append(np.sqrt(np.clip(2.0 - 2.0 * sims, 0.0, None)))
        distance = float(np.quantile(np.concatenate(nearest), far))
        p = far_at_distance(quantiles, distance)
        effective[size] = float(np.log1p(-far) / np.log1p(-p))
    logs = np.log(np.array(list(effective)))
    exponent = float(np.dot(logs, np.log(list(effective.values()))) / np.dot(logs, logs))
    return exponent, effective


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/lfw"))
    parser.add_argument("--model", default="ms-celeb-1m")
    parser.add_argument(
        "--align", action="append", default=None, help="box, similarity, dlib, none"
    )
    args = parser.parse_args()
    paths, people = view1_images(args.data)
    print(f"View 1: {len(paths)} images of {len(set(people))} people")
    for align in args.align or [None]:  # None: the model's own
        recognizer = FaceRecognizer(model=args.model, align=align, threshold=1.0)
        align = recognizer.alignment.method
        embeddings = primary_embeddings(recognizer, paths)
        quantiles, count = impostor_quantiles(embeddings, people)
        quantiles = np.round(quantiles, 4)
        exponent, effective = open_set_exponent(embeddings, people, quantiles)
        print(f"{args.model}/{align}: {count} impostor pairs")
        print(f'    "{align}": ({", ".join(f"{q:.4f}" for q in quantiles)}),')
        sizes = ", ".join(f"N={n}: {e:.1f}" for n, e in effective.items())
        print(f"    open-set exponent {exponent:.3f} (independent tries {sizes})")


if __name__ == "__main__":
    main()
