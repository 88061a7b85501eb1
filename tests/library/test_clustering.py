"""Incremental clustering on vectors whose geometry is known: core-point joins, the one-photo
constraint, the open-set pull of named people, and the calibrated radius."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.library import clustering
from faceprint.weights.factory import get_weights


def _people(n_people: int, per: int, spread: float, seed: int = 0):
    """``per`` unit vectors around each of ``n_people`` random centres (128-d)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_people, 128))
    vectors = np.repeat(centres, per, axis=0) + spread * rng.standard_normal((n_people * per, 128))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32), np.repeat(np.arange(n_people), per)


def test_join_radius_comes_from_the_calibration():
    record = get_weights("ms-celeb-1m")
    radius = clustering.join_radius(record.impostor_distances["box"])
    assert radius == pytest.approx(1.0005, abs=1e-3)  # impostor pairs closer: 1 in 1000
    assert radius < record.thresholds["box"]


def test_new_faces_join_clusters_through_core_points():
    vectors, truth = _people(3, 6, 0.05)
    placed, new = vectors[::2], vectors[1::2]
    labels = truth[::2].copy()
    labels[0] = -1  # noise never attracts
    joined = clustering.join_clusters(
        new, np.arange(100, 100 + len(new)), placed, labels, np.arange(len(placed)), 0.8, 2
    )
    assert joined.tolist() == truth[1::2].tolist()
    stranger, _ = _people(1, 1, 0.0, seed=7)
    far = clustering.join_clusters(stranger, np.array([999]), placed, labels, np.arange(9), 0.8, 2)
    assert far.tolist() == [-1]


def test_a_cluster_never_takes_two_faces_of_one_photo():
    vectors, truth = _people(1, 4, 0.05)
    placed, labels, photos = vectors[:2], np.array([0, 0]), np.array([1, 2])
    # Two new faces of one photo (3) near the same cluster: one joins, the other stays out;
    # a face of a photo the cluster already shows (1) never joins.
    joined = clustering.join_clusters(vectors[2:], np.array([3, 3]), placed, labels, photos, 0.8, 2)
    assert sorted(joined.tolist()) == [-1, 0]
    again = clustering.join_clusters(vectors[2:3], np.array([1]), placed, labels, photos, 0.8, 2)
    assert again.tolist() == [-1]
    # HDBSCAN's clusters keep one face of a photo too.
    vectors, _ = _people(2, 5, 0.05)
    photos = np.arange(10)
    photos[1] = photos[0]  # two faces of person 0 in one photo
    labels = clustering.new_clusters(vectors, photos, 2)
    assert labels[0] != labels[1] or labels[0] == -1
    assert len(set(labels[2:5])) == 1 and labels[2] >= 0


def test_named_people_pull_within_the_open_set_threshold():
    vectors, _ = _people(2, 3, 0.05)
    named, named_people = vectors[[0, 3]], np.array([10, 20])
    new = vectors[[1, 4, 5]]
    candidates = clustering.nearest_people(new, named, named_people, 2.0)
    taken = clustering.attract(candidates, np.array([7, 8, 9]), {10: {1}, 20: {2}}, 0.8)
    assert taken.tolist() == [10, 20, 20]
    # The same faces with a tight threshold: nobody takes them.
    tight = clustering.attract(candidates, np.array([7, 8, 9]), {}, 0.01)
    assert tight.tolist() == [-1, -1, -1]
    # A person already in photo 8 does not take a second face of it.
    same_photo = clustering.attract(candidates, np.array([7, 8, 8]), {}, 0.8)
    assert same_photo.tolist() == [10, 20, -1]


def test_core_faces_need_min_samples_neighbours():
    vectors, truth = _people(1, 3, 0.05)
    outlier, _ = _people(1, 1, 0.0, seed=3)
    both = np.concatenate([vectors, outlier])
    core = clustering.core_faces(both, np.array([0, 0, 0, 0]), 0.8, 2)
    assert core.tolist() == [True, True, True, False]
