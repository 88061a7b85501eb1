"""Measure a model's impostor-distance distribution on LFW View 1, for its registry record.

Every image named in ``pairsDevTrain.txt`` and ``pairsDevTest.txt`` (View 1: 4992 images of 3095
people, never ``pairs.txt``) is embedded once; the L2 distance of every pair of images of two
different people (about 12.4 million) is an impostor sample. The script prints, per alignment,
the distance below which a fraction ``far`` of impostors fall, at the FAR grid of
:data:`faceprint.weights.calibration.FAR_GRID`: the tuple to paste into the record's
``impostor_distances``. The open-set and verification thresholds are read off it.

    python scripts/calibrate_impostors.py --data ../shared/data/lfw --model ms-celeb-1m \
        --align box --align similarity --align none
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from faceprint.evaluation.verification import (
    detect_primary_faces,
    embed_primary_faces,
    read_lfw_pairs,
)
from faceprint.pipeline import FaceRecognizer
from faceprint.weights.calibration import FAR_GRID


def impostor_quantiles(embeddings: np.ndarray, people: np.ndarray) -> tuple[np.ndarray, int]:
    """Distances at :data:`FAR_GRID` over all cross-person pairs, and how many pairs there were."""
    gram = embeddings @ embeddings.T
    upper = np.triu_indices(len(embeddings), k=1)
    cross = people[upper[0]] != people[upper[1]]
    sims = gram[upper][cross]
    distances = np.sqrt(np.clip(2.0 - 2.0 * sims, 0.0, None))
    return np.quantile(distances, FAR_GRID), len(distances)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/lfw"))
    parser.add_argument("--model", default="ms-celeb-1m")
    parser.add_argument("--align", action="append", default=None, help="box, similarity, none")
    args = parser.parse_args()
    images = args.data / "images"
    paths = sorted(
        set(read_lfw_pairs(args.data / "pairsDevTrain.txt", images).images())
        | set(read_lfw_pairs(args.data / "pairsDevTest.txt", images).images())
    )
    people = np.array([p.parent.name for p in paths])
    print(f"View 1: {len(paths)} images of {len(set(people))} people")
    for align in args.align or ["box"]:
        recognizer = FaceRecognizer(model=args.model, align=align)
        detections = None if align == "none" else detect_primary_faces(recognizer, paths)
        embeddings = embed_primary_faces(recognizer, paths, detections)
        quantiles, count = impostor_quantiles(embeddings, people)
        print(f"{args.model}/{align}: {count} impostor pairs")
        print(f'    "{align}": ({", ".join(f"{q:.4f}" for q in quantiles)}),')


if __name__ == "__main__":
    main()
