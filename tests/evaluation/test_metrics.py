"""Verification metrics on distances whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.evaluation.metrics import best_threshold, kfold_accuracy, verification_metrics


def test_best_threshold_separates():
    d = np.array([0.1, 0.2, 0.3, 0.9, 1.0, 1.1])
    same = np.array([True, True, True, False, False, False])
    t = best_threshold(d, same)
    assert 0.3 < t < 0.9


def test_best_threshold_with_overlap():
    d = np.array([0.1, 0.5, 0.4, 0.6])
    same = np.array([True, True, False, False])
    # Thresholds between 0.1 and 0.4 or between 0.5 and 0.6 both get 3 of 4 right.
    t = best_threshold(d, same)
    assert np.mean((d < t) == same) == 0.75


def test_kfold_accuracy_uses_other_folds():
    rng = np.random.default_rng(0)
    same = np.repeat([True, False], 500)
    d = np.where(same, rng.normal(0.6, 0.1, 1000), rng.normal(1.4, 0.1, 1000))
    folds = np.arange(1000) % 10
    acc, thresholds = kfold_accuracy(d, same, folds)
    assert acc.shape == (10,) and np.all(acc >= 0.99)
    assert np.all(np.abs(thresholds - 1.0) < 0.15)


def test_metrics_of_gaussian_scores():
    rng = np.random.default_rng(1)
    n = 20000
    same = np.repeat([True, False], n)
    # Means 1 standard deviation apart on each side: EER = Phi(-1) = 0.1587.
    d = np.where(same, rng.normal(-1, 1, 2 * n), rng.normal(1, 1, 2 * n))
    m = verification_metrics(d, same, np.arange(2 * n) % 10)
    assert m.eer == pytest.approx(0.1587, abs=0.006)
    assert m.accuracy == pytest.approx(1 - 0.1587, abs=0.006)
    # AUC of two unit Gaussians 2 apart: Phi(2 / sqrt 2) = 0.9214.
    assert m.auc == pytest.approx(0.9214, abs=0.004)
    # 0.1% of different pairs fall below t = 1 - 3.09; same pairs below it: Phi(t + 1) = 0.138.
    assert m.tar_at_far_1e_3 == pytest.approx(0.138, abs=0.02)
