"""The library's clustering on vectors whose geometry is known: attach, merge, the increment
that moves nothing placed, the full clustering, the one-photo constraint, the open-set pull of
named people, and the calibrated distances."""

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


#: Distances for the synthetic people: a person's faces lie ~0.5 apart, strangers ~1.4.
RADII = clustering.Radii(merge=0.85, attach=0.9, near=1.0)


def test_radii_come_from_the_calibration():
    radii = clustering.Radii.from_calibration(get_weights("ms-celeb-1m").impostor_distances["box"])
    # Impostor pairs closer than these: 1 in 18,000, 1 in 5,600 and 1 in 1,000.
    assert radii.merge == pytest.approx(0.851, abs=2e-3)
    assert radii.attach == pytest.approx(0.909, abs=2e-3)
    assert radii.near == pytest.approx(1.0005, abs=2e-3)


def test_attach_takes_the_nearest_cluster_once_per_photo():
    vectors, truth = _people(2, 5, 0.05)
    labels = np.where(np.arange(10) % 5 < 3, truth, -1)  # 3 placed faces each, 2 to attach
    photos = np.arange(10)
    faces = np.flatnonzero(labels < 0)
    out = clustering.attach(vectors, photos, labels, faces, 0.9)
    assert out.tolist() == truth.tolist()
    assert labels[faces].tolist() == [-1] * 4  # a copy
    # Two faces of one photo near person 0: the nearer joins, the other stays out; a photo
    # person 0 already shows (photo 0) never joins it.
    photos[4] = photos[3]
    photos[8] = 0
    out = clustering.attach(vectors, photos, labels, faces, 0.9)
    assert sorted(out[[3, 4]].tolist()) == [-1, 0]
    assert out[8] == 1 and out[9] == 1  # person 1 does not show photo 0
    stranger, _ = _people(1, 1, 0.0, seed=7)
    both = np.concatenate([vectors, stranger])
    out = clustering.attach(both, np.arange(11), np.append(labels, -1), np.array([10]), 0.9)
    assert out[10] == -1


def test_merge_joins_only_movable_clusters_and_keeps_fixed_labels():
    vectors, truth = _people(2, 6, 0.05)
    # Person 0 in two clusters (10 fixed, 11 movable), person 1 in two fixed ones (20, 21).
    labels = np.array([10, 10, 10, 11, 11, 11, 20, 20, 20, 21, 21, 21])
    photos = np.arange(12)
    out = clustering.merge(vectors, photos, labels, {11}, 0.85)
    assert out.tolist() == [10] * 6 + [20, 20, 20, 21, 21, 21]
    # Movable clusters merge with each other too, and never across a shared photo.
    out = clustering.merge(vectors, photos, labels, {10, 11, 20, 21}, 0.85)
    assert len(set(out[:6])) == 1 and len(set(out[6:])) == 1 and out[0] != out[6]
    photos[3] = photos[0]
    out = clustering.merge(vectors, photos, labels, {11}, 0.85)
    assert out.tolist() == labels.tolist()


def test_an_increment_moves_nothing_placed_and_joins_people_seen_before():
    vectors, truth = _people(4, 6, 0.05, seed=1)
    new = np.arange(24) % 6 >= 4  # 2 new faces of each person
    new[19:] = True  # person 3 is new but for a face no cluster took before
    before = np.where(new, -1, truth + 5)
    before[18] = -1
    photos = np.arange(24)
    out = clustering.cluster(vectors, photos, before, new, RADII, 2)
    placed = before >= 0
    assert out[placed].tolist() == before[placed].tolist()
    assert out[4:6].tolist() == [5, 5] and out[10:12].tolist() == [6, 6]
    # The new faces of person 3 found a cluster, with the noise face near them.
    assert len(set(out[18:].tolist())) == 1 and out[18] > 7


def test_full_clustering_finds_people_and_keeps_one_face_per_photo():
    vectors, truth = _people(3, 5, 0.05)
    photos = np.arange(15)
    photos[1] = photos[0]  # two faces of person 0 in one photo
    labels = clustering.full_clustering(vectors, photos, RADII, 2)
    assert labels[0] != labels[1]
    assert len(set(labels[5:10])) == 1 and len(set(labels[10:])) == 1 and labels[5] >= 0
    assert sorted(set(labels.tolist()) - {-1}) == list(range(len(set(labels.tolist()) - {-1})))
    for label in set(labels.tolist()) - {-1}:
        members = photos[labels == label]
        assert len(members) == len(set(members.tolist()))


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


def test_nothing_new_changes_nothing():
    vectors, truth = _people(2, 3, 0.05)
    out = clustering.cluster(vectors, np.arange(6), truth, np.zeros(6, bool), RADII, 2)
    assert out.tolist() == truth.tolist()
    empty = clustering.full_clustering(vectors[:0], np.arange(0), RADII, 2)
    assert empty.shape == (0,)
