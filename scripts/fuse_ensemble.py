"""Fit and measure the two ways of fusing an ensemble's members, on LFW.

Both fusions are fitted on LFW View 1 (``pairsDevTrain.txt``, 10-fold inside) and measured on
View 2 (``pairs.txt``), each member embedding the subject face with its own alignment:

- *embedding level* (what faceprint's ensembles do, :mod:`faceprint.models.ensemble`): each
  member's unit embedding scaled by its weight, concatenated, re-normalised; the fused squared
  distance is ``sum w_i^2 d_i^2 / sum w_i^2``. The second member's weight (the first's is 1)
  puts both members' distances on one scale: the ratio of their View 1 thresholds (the mean of
  the 10 fold thresholds), so each member's threshold counts the same. (Fitting the weight to
  View 1 accuracy is ill-posed here: accuracy stays within 0.9927-0.9945, the noise of 2200
  pairs, for weights 1 to 3.)
- *score level*: each member's distance normalised on View 1 (minus its View 1 threshold,
  over the standard deviation of its View 1 distances), then averaged with weights ``1 - a, a``.
  Fitted: ``a``.

It prints, per member and fusion, View 2 accuracy, AUC, EER and TAR@FAR=1e-3, and where the
ensemble wins: how many View 2 pairs each member gets wrong, and how many both get wrong
(each pair judged at its fold's threshold, chosen on the other nine folds).

``--sweep`` also prints View 1 and View 2 accuracy and AUC of the embedding-level fusion for
weights 1.0 to 4.0, to show how little View 1 can tell them apart.

    python scripts/fuse_ensemble.py --data ../shared/data/lfw \
        --model ms-celeb-1m --model dlib-resnet-v1 [--sweep]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from faceprint.evaluation.metrics import kfold_accuracy, verification_metrics
from faceprint.evaluation.verification import primary_embeddings, read_lfw_pairs
from faceprint.pipeline import FaceRecognizer

SCORE_WEIGHTS = np.round(np.arange(0.0, 1.001, 0.05), 2)
SWEEP_WEIGHTS = np.round(np.arange(1.0, 4.001, 0.1), 2)


def member_distances(models: list[str], pairs) -> list[np.ndarray]:
    """Each member's pair distances (its own alignment; embeddings cached)."""
    paths = pairs.images()
    index = {p: i for i, p in enumerate(paths)}
    ia = np.array([index[p] for p in pairs.a])
    ib = np.array([index[p] for p in pairs.b])
    out = []
    for model in models:
        embeddings = primary_embeddings(FaceRecognizer(model, threshold=1.0), paths)
        out.append(np.linalg.norm(embeddings[ia] - embeddings[ib], axis=1))
    return out


def embedding_fusion(distances: list[np.ndarray], w: float) -> np.ndarray:
    weights = np.array([1.0, w])
    squared = sum(wi**2 * d**2 for wi, d in zip(weights, distances, strict=True))
    return np.sqrt(squared / (weights**2).sum())


def score_fusion(distances, a, centres, scales) -> np.ndarray:
    z = [(d - c) / s for d, c, s in zip(distances, centres, scales, strict=True)]
    return (1 - a) * z[0] + a * z[1]


def wrong(distances: np.ndarray, same: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Per pair: misjudged at its fold's threshold (chosen on the other folds)."""
    _, thresholds = kfold_accuracy(distances, same, folds)
    return (distances < thresholds[folds]) != same


def fit(score, grid, pairs) -> tuple[float, float]:
    """The grid value with the best View 1 10-fold accuracy (ties: the better AUC)."""
    best = max(
        grid,
        key=lambda g: (
            round(verification_metrics(score(g), pairs.same, pairs.folds).accuracy, 6),
            verification_metrics(score(g), pairs.same, pairs.folds).auc,
        ),
    )
    return float(best), verification_metrics(score(best), pairs.same, pairs.folds).accuracy


def row(name: str, distances, pairs) -> dict:
    m = verification_metrics(distances, pairs.same, pairs.folds)
    return {
        "model": name,
        "accuracy": round(m.accuracy, 4),
        "auc": round(m.auc, 5),
        "eer": round(m.eer, 4),
        "tar_at_far_1e-3": round(m.tar_at_far_1e_3, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/lfw")
    parser.add_argument("--model", action="append", required=True, help="two members, in order")
    parser.add_argument(
        "--sweep", action="store_true", help="accuracy of the embedding fusion for weights 1-4"
    )
    args = parser.parse_args()
    images = f"{args.data}/images"
    view1 = read_lfw_pairs(f"{args.data}/pairsDevTrain.txt", images)
    view2 = read_lfw_pairs(f"{args.data}/pairs.txt", images)
    d1, d2 = member_distances(args.model, view1), member_distances(args.model, view2)

    centres = [float(np.mean(kfold_accuracy(d, view1.same, view1.folds)[1])) for d in d1]
    scales = [float(np.std(d)) for d in d1]
    w = round(centres[0] / centres[1], 2)
    fused_view1 = embedding_fusion(d1, w)
    acc_w = verification_metrics(fused_view1, view1.same, view1.folds).accuracy
    threshold = float(np.mean(kfold_accuracy(fused_view1, view1.same, view1.folds)[1]))
    a, acc_a = fit(lambda g: score_fusion(d1, g, centres, scales), SCORE_WEIGHTS, view1)
    print(
        json.dumps(
            {
                "view1_thresholds": [round(c, 3) for c in centres],
                "view1_embedding_weight": w,
                "view1_accuracy": round(acc_w, 4),
                "view1_fused_threshold": round(threshold, 3),
            }
        )
    )
    print(json.dumps({"view1_score_weight": a, "view1_accuracy": round(acc_a, 4)}))

    fused_e = embedding_fusion(d2, w)
    fused_s = score_fusion(d2, a, centres, scales)
    name = "+".join(args.model)
    for label, d in (*zip(args.model, d2, strict=True), (f"{name} (embedding, w={w})", fused_e)):
        print(json.dumps(row(label, d, view2)))
    print(json.dumps(row(f"{name} (score, a={a})", fused_s, view2)))

    errors = [wrong(d, view2.same, view2.folds) for d in (*d2, fused_e)]
    print(
        json.dumps(
            {
                "view2_pairs_wrong": {
                    args.model[0]: int(errors[0].sum()),
                    args.model[1]: int(errors[1].sum()),
                    "both members": int((errors[0] & errors[1]).sum()),
                    "embedding-level ensemble": int(errors[2].sum()),
                    "ensemble, of the pairs both members get wrong": int(
                        (errors[2] & errors[0] & errors[1]).sum()
                    ),
                    "ensemble, of the pairs one member gets wrong": int(
                        (errors[2] & (errors[0] ^ errors[1])).sum()
                    ),
                    "ensemble, of the pairs neither member gets wrong": int(
                        (errors[2] & ~errors[0] & ~errors[1]).sum()
                    ),
                }
            }
        )
    )

    if args.sweep:
        for w in SWEEP_WEIGHTS:
            m1 = verification_metrics(embedding_fusion(d1, w), view1.same, view1.folds)
            m2 = verification_metrics(embedding_fusion(d2, w), view2.same, view2.folds)
            print(
                json.dumps(
                    {
                        "weight": float(w),
                        "view1_accuracy": round(m1.accuracy, 4),
                        "view1_auc": round(m1.auc, 5),
                        "view2_accuracy": round(m2.accuracy, 4),
                        "view2_auc": round(m2.auc, 5),
                    }
                )
            )


if __name__ == "__main__":
    main()
