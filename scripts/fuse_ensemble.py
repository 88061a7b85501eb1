"""Fit and measure the two ways of fusing an ensemble's members, on LFW.

Both fusions are fitted on LFW View 1 (``pairsDevTrain.txt``, 10-fold inside) and measured on
View 2 (``pairs.txt``), each member embedding the subject face with its own alignment:

- *embedding level* (what faceprint's ensembles do, :mod:`faceprint.models.ensemble`): each
  member's unit embedding scaled by its weight, concatenated, re-normalised; the fused squared
  distance is ``sum w_i^2 d_i^2 / sum w_i^2``. Member ``i``'s weight (the first's is 1) puts its
  distances on the first member's scale: the ratio of their View 1 thresholds (the mean of the
  10 fold thresholds), so each member's threshold counts the same. With three or more members
  the last member's weight is then scaled by the factor of :data:`LAST_FACTORS` with the best
  View 1 accuracy (ties: the better AUC), so a weaker newcomer can count less. (Fitting the
  two-member weight to View 1 accuracy is ill-posed: accuracy stays within 0.9927-0.9945, the
  noise of 2200 pairs, for weights 1 to 3.)
- *score level*: each member's distance normalised on View 1 (minus its View 1 threshold,
  over the standard deviation of its View 1 distances), then averaged, the last member with
  weight ``a`` and the others sharing ``1 - a``. Fitted: ``a``.

It prints, per member and fusion, View 2 accuracy, AUC, EER and TAR@FAR=1e-3, and where the
ensemble wins: how many View 2 pairs each member gets wrong, and how many pairs the ensemble
gets wrong among those that 0, 1, ... of its members get wrong (each pair judged at its fold's
threshold, chosen on the other nine folds).

``--all-pairs`` also scores every member and the embedding-level ensemble (its View 1 weights)
on LFW's all-pairs protocol (``faceprint eval lfw --protocol all-pairs``): TAR at FAR 1e-3 and
1e-4 over the 29.6 million pairs of View 2's images, thresholds from View 1's impostors.

``--sweep`` (two members) also prints View 1 and View 2 accuracy and AUC of the embedding-level
fusion for weights 1.0 to 4.0, to show how little View 1 can tell them apart.

    python scripts/fuse_ensemble.py --data ../shared/data/lfw \
        --model ms-celeb-1m --model dlib-resnet-v1 [--model hse-faceres-id] [--all-pairs]
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np

from faceprint.evaluation.metrics import kfold_accuracy, verification_metrics
from faceprint.evaluation.verification import (
    evaluate_all_pairs,
    join_pairs,
    primary_embeddings,
    read_lfw_pairs,
)
from faceprint.pipeline import FaceRecognizer
from faceprint.weights.factory import get_weights

SCORE_WEIGHTS = np.round(np.arange(0.0, 1.001, 0.05), 2)
SWEEP_WEIGHTS = np.round(np.arange(1.0, 4.001, 0.1), 2)
LAST_FACTORS = np.round(np.arange(0.0, 1.501, 0.1), 2)


def member_distances(models: list[str], pairs) -> list[np.ndarray]:
    """Each member's pair distances (its own alignment; embeddings cached)."""
    paths = pairs.images()
    ia, ib = pairs.indices(paths)
    out = []
    for model in models:
        embeddings = primary_embeddings(FaceRecognizer(model, threshold=1.0), paths)
        out.append(np.linalg.norm(embeddings[ia] - embeddings[ib], axis=1))
    return out


def embedding_fusion(distances: list[np.ndarray], weights) -> np.ndarray:
    weights = np.asarray(weights, dtype=float)
    squared = sum(wi**2 * d**2 for wi, d in zip(weights, distances, strict=True))
    return np.sqrt(squared / (weights**2).sum())


def score_fusion(distances, a, centres, scales) -> np.ndarray:
    z = [(d - c) / s for d, c, s in zip(distances, centres, scales, strict=True)]
    return (1 - a) * sum(z[:-1]) / (len(z) - 1) + a * z[-1]


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
    parser.add_argument("--model", action="append", required=True, help="the members, in order")
    parser.add_argument(
        "--sweep", action="store_true", help="two members: the embedding fusion for weights 1-4"
    )
    parser.add_argument(
        "--all-pairs", action="store_true", help="TAR at FAR 1e-3 and 1e-4 over all pairs"
    )
    args = parser.parse_args()
    if len(args.model) < 2:
        parser.error("an ensemble needs at least two --model")
    images = f"{args.data}/images"
    view1 = read_lfw_pairs(f"{args.data}/pairsDevTrain.txt", images)
    view2 = read_lfw_pairs(f"{args.data}/pairs.txt", images)
    d1, d2 = member_distances(args.model, view1), member_distances(args.model, view2)

    centres = [float(np.mean(kfold_accuracy(d, view1.same, view1.folds)[1])) for d in d1]
    scales = [float(np.std(d)) for d in d1]
    weights = [round(centres[0] / c, 2) for c in centres]
    if len(args.model) > 2:
        factor, _ = fit(
            lambda f: embedding_fusion(d1, [*weights[:-1], weights[-1] * f]), LAST_FACTORS, view1
        )
        weights[-1] = round(weights[-1] * factor, 2)
    fused_view1 = embedding_fusion(d1, weights)
    acc_w = verification_metrics(fused_view1, view1.same, view1.folds).accuracy
    threshold = float(np.mean(kfold_accuracy(fused_view1, view1.same, view1.folds)[1]))
    a, acc_a = fit(lambda g: score_fusion(d1, g, centres, scales), SCORE_WEIGHTS, view1)
    print(
        json.dumps(
            {
                "view1_thresholds": [round(c, 3) for c in centres],
                "view1_embedding_weights": weights,
                "view1_accuracy": round(acc_w, 4),
                "view1_fused_threshold": round(threshold, 3),
            }
        )
    )
    print(json.dumps({"view1_score_weight": a, "view1_accuracy": round(acc_a, 4)}))

    fused_e = embedding_fusion(d2, weights)
    fused_s = score_fusion(d2, a, centres, scales)
    name = "+".join(args.model)
    members = zip(args.model, d2, strict=True)
    for label, d in (*members, (f"{name} (embedding, w={weights})", fused_e)):
        print(json.dumps(row(label, d, view2)))
    print(json.dumps(row(f"{name} (score, a={a})", fused_s, view2)))

    errors = np.stack([wrong(d, view2.same, view2.folds) for d in d2])
    ensemble = wrong(fused_e, view2.same, view2.folds)
    members_wrong = errors.sum(axis=0)
    breakdown = {
        f"ensemble wrong where {k} of {len(args.model)} members are": int(
            (ensemble & (members_wrong == k)).sum()
        )
        for k in range(len(args.model) + 1)
    }
    counts = {m: int(e.sum()) for m, e in zip(args.model, errors, strict=True)}
    counts["every member"] = int(errors.all(axis=0).sum())
    counts["embedding-level ensemble"] = int(ensemble.sum())
    print(json.dumps({"view2_pairs_wrong": counts | breakdown}))

    if args.all_pairs:
        calibration = join_pairs(
            [read_lfw_pairs(f"{args.data}/pairsDev{k}.txt", images) for k in ("Train", "Test")]
        )
        fused = dataclasses.replace(get_weights(name), member_weights=tuple(weights))
        for model in (*args.model, fused):
            report = evaluate_all_pairs(
                FaceRecognizer(model, threshold=1.0), view2, calibration, fars=(1e-3, 1e-4)
            )
            print(json.dumps({"all_pairs": report.model, "rows": report.rows}))

    if args.sweep and len(args.model) == 2:
        for w in SWEEP_WEIGHTS:
            m1 = verification_metrics(embedding_fusion(d1, [1.0, w]), view1.same, view1.folds)
            m2 = verification_metrics(embedding_fusion(d2, [1.0, w]), view2.same, view2.folds)
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
