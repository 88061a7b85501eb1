"""Measure a model's open-set margin thresholds on LFW View 1, for its registry record.

The margin score of a query is ``d1 - beta * d2``: its distance to the nearest enrolled person
minus a fraction of its distance to the second nearest. A stranger close to one person only is
suspicious; one close to many (a face near the middle of the embedding space) is not. The
images of View 1 (``pairsDevTrain.txt`` and ``pairsDevTest.txt``: 4992 images of 3095 people,
never ``pairs.txt``) are embedded once. For each gallery size N of
:data:`faceprint.weights.calibration.MARGIN_SIZES`, galleries of N people (one image each,
drawn at random ``--draws`` times) are searched with one image of every other person, and the
score below which each false-alarm rate of ``MARGIN_FARS`` of these strangers fall is recorded.

``beta`` is chosen among 0.25, 0.5 and 0.75 by the detection-and-identification rate at FAR 1%
in galleries of 1000 View 1 people with at least 2 images (first enrolled, the others probes).

    python scripts/calibrate_margin.py --data ../shared/data/lfw --model ms-celeb-1m
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from faceprint.evaluation.verification import primary_embeddings, view1_images
from faceprint.pipeline import FaceRecognizer
from faceprint.weights.calibration import MARGIN_FARS, MARGIN_SIZES, margin_score

BETAS = (0.25, 0.5, 0.75)


def two_nearest(
    queries: np.ndarray, gallery: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(Q,)`` index of the nearest gallery row, its L2 distance, and the second nearest's."""
    d = np.sqrt(np.clip(2.0 - 2.0 * queries @ gallery.T, 0.0, None))
    order = np.argsort(d, axis=1)[:, :2]
    rows = np.arange(len(queries))
    return order[:, 0], d[rows, order[:, 0]], d[rows, order[:, 1]]


def choose_beta(embeddings: np.ndarray, people: np.ndarray, draws: int, seed: int = 0) -> dict:
    """DIR at FAR 1% per beta, galleries of 1000 people with >= 2 images, one image each."""
    rng = np.random.default_rng(seed)
    names, counts = np.unique(people, return_counts=True)
    index = {n: np.flatnonzero(people == n) for n in names}
    several, once = names[counts >= 2], names
    rates = {b: [] for b in BETAS}
    for _ in range(draws):
        enrolled = rng.choice(several, min(1000, len(several)), replace=False)
        gallery = embeddings[[index[n][0] for n in enrolled]]
        probes = [(k, i) for k, n in enumerate(enrolled) for i in index[n][1:]]
        truth = np.array([k for k, _ in probes])
        best, d1, d2 = two_nearest(embeddings[[i for _, i in probes]], gallery)
        strangers = np.setdiff1d(once, enrolled)
        _, s1, s2 = two_nearest(embeddings[[index[n][0] for n in strangers]], gallery)
        for beta in BETAS:
            threshold = np.quantile(margin_score(s1, s2, beta), 0.01)
            rates[beta].append(np.mean((best == truth) & (margin_score(d1, d2, beta) < threshold)))
    return {b: float(np.mean(r)) for b, r in rates.items()}


def margin_table(
    embeddings: np.ndarray, people: np.ndarray, beta: float, draws: int, seed: int = 0
) -> np.ndarray:
    """``[size][far]`` strangers' margin scores at :data:`MARGIN_SIZES` x :data:`MARGIN_FARS`."""
    rng = np.random.default_rng(seed)
    names = np.unique(people)
    first = np.array([int(np.flatnonzero(people == n)[0]) for n in names])
    table = []
    for size in MARGIN_SIZES:
        scores = []
        for _ in range(draws):
            chosen = rng.permutation(len(names))
            gallery = embeddings[first[chosen[:size]]]
            _, s1, s2 = two_nearest(embeddings[first[chosen[size:]]], gallery)
            scores.append(margin_score(s1, s2, beta))
        table.append(np.quantile(np.concatenate(scores), MARGIN_FARS))
    return np.array(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/lfw"))
    parser.add_argument("--model", default="ms-celeb-1m")
    parser.add_argument("--align", default=None, help="default: the model's own")
    parser.add_argument("--draws", type=int, default=40)
    args = parser.parse_args()
    paths, people = view1_images(args.data)
    print(f"View 1: {len(paths)} images of {len(set(people))} people")
    recognizer = FaceRecognizer(model=args.model, align=args.align, threshold=1.0)
    embeddings = primary_embeddings(recognizer, paths)
    rates = choose_beta(embeddings, people, draws=10)
    print("DIR at FAR 1%, 1000 people, by beta:", {b: round(r, 4) for b, r in rates.items()})
    beta = max(rates, key=rates.get)
    table = margin_table(embeddings, people, beta, args.draws)
    print(f"{args.model}/{recognizer.alignment.method}: beta {beta}")
    rows = ",\n".join(f"        ({', '.join(f'{t:.4f}' for t in row)})" for row in table)
    print(f"    MarginCalibration(beta={beta}, thresholds=(\n{rows},\n    )),")


if __name__ == "__main__":
    main()
