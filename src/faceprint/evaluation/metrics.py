"""Verification metrics from pair distances: k-fold accuracy, ROC, AUC, EER, TAR at a FAR."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve


@dataclass(frozen=True)
class VerificationMetrics:
    """Scores of a same/different-person decision over labelled pairs.

    Attributes:
        accuracy: mean test-fold accuracy, the threshold chosen on the other folds.
        accuracy_std: standard deviation of the fold accuracies.
        fold_accuracies: ``(K,)`` accuracy of each fold.
        thresholds: ``(K,)`` distance threshold chosen for each fold.
        auc: area under the ROC curve, in [0, 1].
        eer: equal error rate, in [0, 1].
        tar_at_far_1e_3: true-accept rate at a false-accept rate of 1e-3.
    """

    accuracy: float
    accuracy_std: float
    fold_accuracies: np.ndarray
    thresholds: np.ndarray
    auc: float
    eer: float
    tar_at_far_1e_3: float


def best_threshold(distances: np.ndarray, same: np.ndarray) -> float:
    """The distance threshold with the highest accuracy on these pairs (same below)."""
    order = np.sort(np.unique(distances))
    candidates = np.concatenate(
        [[order[0] - 1e-6], (order[1:] + order[:-1]) / 2, [order[-1] + 1e-6]]
    )
    # accuracy(t) = (#same with d < t + #different with d >= t) / n, for all t at once.
    same_sorted = np.sort(distances[same])
    diff_sorted = np.sort(distances[~same])
    correct = np.searchsorted(same_sorted, candidates, side="left") + (
        len(diff_sorted) - np.searchsorted(diff_sorted, candidates, side="left")
    )
    return float(candidates[int(np.argmax(correct))])


def kfold_accuracy(
    distances: np.ndarray, same: np.ndarray, folds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy of each fold, its threshold chosen on all the other folds.

    Args:
        distances: ``(P,)`` pair distances.
        same: ``(P,)`` bool, True for same-person pairs.
        folds: ``(P,)`` int fold index of each pair.

    Returns:
        ``(accuracies, thresholds)``, each ``(K,)``.
    """
    if len(np.unique(folds)) < 2:
        raise ValueError(
            "k-fold accuracy needs at least 2 folds (the threshold is chosen on the others)"
        )
    accuracies, thresholds = [], []
    for k in np.unique(folds):
        test = folds == k
        t = best_threshold(distances[~test], same[~test])
        accuracies.append(float(np.mean((distances[test] < t) == same[test])))
        thresholds.append(t)
    return np.array(accuracies), np.array(thresholds)


def roc(distances: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(far, tar)`` of the ROC curve, similarity being the negative distance."""
    far, tar, _ = roc_curve(same.astype(int), -distances)
    return far, tar


def verification_metrics(
    distances: np.ndarray, same: np.ndarray, folds: np.ndarray
) -> VerificationMetrics:
    """All verification metrics of pair ``distances`` (see :class:`VerificationMetrics`)."""
    distances = np.asarray(distances, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    accuracies, thresholds = kfold_accuracy(distances, same, np.asarray(folds))
    far, tar = roc(distances, same)
    frr = 1 - tar
    i = int(np.argmin(np.abs(far - frr)))
    return VerificationMetrics(
        accuracy=float(accuracies.mean()),
        accuracy_std=float(accuracies.std()),
        fold_accuracies=accuracies,
        thresholds=thresholds,
        auc=float(roc_auc_score(same.astype(int), -distances)),
        eer=float((far[i] + frr[i]) / 2),
        tar_at_far_1e_3=float(np.interp(1e-3, far, tar)),
    )
