"""LFW per precision: View 2 accuracy, and the false-accept rate the default threshold realizes.

For each precision (fp32, bf16) this embeds LFW's View 1 and View 2 images with the default model
and reports: View 2's 10-fold accuracy; the default verification threshold (FAR 1e-3, read off
the model's recorded fp32 View 1 impostor distances); the FAR and TAR that threshold realizes
over every pair of View 2's images (29.6 million impostor pairs); and the FAR 1e-3 threshold this
precision's own View 1 impostors would give. Prints the CPU flags it ran on.

    python scripts/precision_lfw.py --data ../shared/data/lfw [--precision fp32 bf16]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from faceprint.evaluation.verification import (
    evaluate,
    impostor_distances,
    primary_embeddings,
    read_lfw_pairs,
)
from faceprint.pipeline import DEFAULT_VERIFY_FAR, FaceRecognizer
from faceprint.precision import precision_flags


def realized(embeddings: np.ndarray, people: np.ndarray, threshold: float) -> tuple[float, float]:
    """``(FAR, TAR)`` of ``distance < threshold`` over every pair of ``(N, D)`` unit vectors,
    counted in row blocks (7701 images make 29.6 million pairs)."""
    similar = 1.0 - threshold**2 / 2.0
    hits = {True: 0, False: 0}
    totals = {True: 0, False: 0}
    for start in range(0, len(embeddings), 1024):
        rows = slice(start, min(start + 1024, len(embeddings)))
        sims = embeddings[rows] @ embeddings.T
        later = np.arange(len(embeddings))[None, :] > np.arange(rows.start, rows.stop)[:, None]
        same = people[rows][:, None] == people[None, :]
        for genuine in (True, False):
            pairs = later & (same if genuine else ~same)
            totals[genuine] += int(pairs.sum())
            hits[genuine] += int((pairs & (sims > similar)).sum())
    return hits[False] / totals[False], hits[True] / totals[True]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/lfw"))
    parser.add_argument("--model", default="ms-celeb-1m")
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"])
    args = parser.parse_args()
    images = args.data / "images"
    view2 = read_lfw_pairs(args.data / "pairs.txt", images)
    view1 = [read_lfw_pairs(args.data / f"pairsDev{s}.txt", images) for s in ("Train", "Test")]
    view1_paths = sorted({p for pairs in view1 for p in pairs.images()})
    print(f"CPU flags: {precision_flags()}; model {args.model}")
    print(
        "| precision | View 2 accuracy | default threshold | all-pairs FAR at it | TAR at it "
        f"| own View 1 threshold (FAR {DEFAULT_VERIFY_FAR:g}) | seconds |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for precision in args.precision:
        started = time.perf_counter()
        recognizer = FaceRecognizer(args.model, precision=precision)
        accuracy = evaluate(recognizer, view2).metrics.accuracy
        paths = view2.images()
        embeddings = primary_embeddings(recognizer, paths)
        people = np.array([p.parent.name for p in paths])
        far, tar = realized(embeddings, people, recognizer.threshold)
        calibration = impostor_distances(
            primary_embeddings(recognizer, view1_paths),
            np.array([p.parent.name for p in view1_paths]),
        )
        own = float(np.quantile(calibration, DEFAULT_VERIFY_FAR))
        print(
            f"| {recognizer.precision} | {accuracy:.4f} | {recognizer.threshold:.4f} | {far:.2e} "
            f"| {tar:.4f} | {own:.4f} | {time.perf_counter() - started:.0f} |"
        )


if __name__ == "__main__":
    main()
