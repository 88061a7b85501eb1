"""Incremental clustering of a library's unnamed faces, the way Immich does it.

New faces first try the people and clusters there are: a named person takes a face through the
gallery's open-set rule (nearest face closer than the threshold for that many people), a
cluster takes it through its core points (the face lies within the join radius of at least
``min_samples`` of the cluster's core faces). What is left, together with the faces no cluster
took before (noise), is clustered among itself by HDBSCAN into new clusters. Nothing already
placed moves, so an increment costs its own faces, not the library's.

Every step keeps the "same photo, different people" constraint: two faces of one photo never
end up in one person or cluster.

The radii come from the model's calibration (its impostor-distance distribution), not from
constants: the join radius is the distance below which a fraction :data:`JOIN_FAR` of impostor
pairs fall.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from faceprint.gallery.cluster import cluster_embeddings
from faceprint.weights.calibration import distance_at_far

#: Per-pair false-accept rate of the core-point join radius (ms-celeb-1m/box: 1.00).
JOIN_FAR = 1e-3


def join_radius(impostor_distances: Sequence[float], far: float = JOIN_FAR) -> float:
    """The L2 distance within which a face counts as near a core face: impostor pairs (two
    different people) fall below it at the rate ``far``."""
    return distance_at_far(impostor_distances, far)


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a), len(b))`` L2 distances between unit rows."""
    return np.sqrt(np.clip(2.0 - 2.0 * (a @ b.T), 0.0, None))


def core_faces(
    vectors: np.ndarray, labels: np.ndarray, radius: float, min_samples: int
) -> np.ndarray:
    """Which faces are core faces of their cluster: at least ``min_samples`` faces of it
    (the face included) lie within ``radius``.

    Args:
        vectors: ``(N, D)`` unit embeddings.
        labels: ``(N,)`` cluster of each face, -1 for none (never core).
        radius: join radius (L2).
        min_samples: faces a core face needs around it.

    Returns:
        ``(N,)`` bool.
    """
    core = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels[labels >= 0]):
        members = np.flatnonzero(labels == label)
        near = (_distances(vectors[members], vectors[members]) <= radius).sum(axis=1)
        core[members] = near >= min(min_samples, len(members))
    return core


def nearest_people(
    new: np.ndarray, named: np.ndarray, named_people: np.ndarray, within: float
) -> list[dict[int, float]]:
    """For each new face, the distance of each named person's nearest face, where below
    ``within``.

    Args:
        new: ``(M, D)`` unit embeddings.
        named: ``(K, D)`` faces of named people; ``named_people`` ``(K,)`` their people.
        within: largest distance kept.

    Returns:
        M dicts person -> distance.
    """
    out: list[dict[int, float]] = [{} for _ in range(len(new))]
    if len(new) == 0 or len(named) == 0:
        return out
    d = _distances(new, named)
    for i, j in zip(*np.nonzero(d < within), strict=True):
        person = int(named_people[j])
        out[i][person] = min(out[i].get(person, np.inf), float(d[i, j]))
    return out


def attract(
    candidates: Sequence[dict[int, float]],
    new_photos: np.ndarray,
    photos_of: dict[int, set[int]],
    threshold: float,
) -> np.ndarray:
    """Named people's pull on new faces: each face goes to its nearest candidate person
    closer than ``threshold`` (the open-set threshold) that has no face of its photo yet;
    faces nearest a person go first.

    Args:
        candidates: per new face, person -> distance of that person's nearest face.
        new_photos: ``(M,)`` the new faces' photos.
        photos_of: person -> photos that person is in already (updated).
        threshold: open-set distance threshold.

    Returns:
        ``(M,)`` person per new face, -1 where none takes it.
    """
    out = np.full(len(candidates), -1, dtype=np.int64)
    best = [min(c.values(), default=np.inf) for c in candidates]
    for i in np.argsort(best, kind="stable"):
        for person, distance in sorted(candidates[i].items(), key=lambda kv: kv[1]):
            if distance >= threshold:
                break
            if int(new_photos[i]) in photos_of.setdefault(person, set()):
                continue
            out[i] = person
            photos_of[person].add(int(new_photos[i]))
            break
    return out


def join_clusters(
    new: np.ndarray,
    new_photos: np.ndarray,
    placed: np.ndarray,
    placed_labels: np.ndarray,
    placed_photos: np.ndarray,
    radius: float,
    min_samples: int,
) -> np.ndarray:
    """New faces join existing clusters through their core points.

    A new face joins the cluster with the most core faces within ``radius`` of it, if at least
    ``min_samples`` (or all of a smaller cluster's core faces) are, and the cluster has no face
    of its photo.

    Args:
        new: ``(M, D)`` unit embeddings; ``new_photos`` ``(M,)``.
        placed: ``(N, D)`` clustered faces; ``placed_labels`` ``(N,)`` their clusters (-1:
            noise), ``placed_photos`` ``(N,)``.
        radius: join radius (L2).
        min_samples: core faces a new face must be near.

    Returns:
        ``(M,)`` cluster per new face, -1 where none takes it.
    """
    out = np.full(len(new), -1, dtype=np.int64)
    core = core_faces(placed, placed_labels, radius, min_samples)
    if len(new) == 0 or not core.any():
        return out
    core_vectors, core_labels = placed[core], placed_labels[core]
    cores_of = dict(zip(*np.unique(core_labels, return_counts=True), strict=True))
    photos_of: dict[int, set[int]] = defaultdict(set)
    for label, photo in zip(placed_labels.tolist(), placed_photos.tolist(), strict=True):
        if label >= 0:
            photos_of[label].add(photo)
    for start in range(0, len(new), 1024):
        near = _distances(new[start : start + 1024], core_vectors) <= radius
        for row, hits in enumerate(near):
            i = start + row
            if not hits.any():
                continue
            labels, counts = np.unique(core_labels[hits], return_counts=True)
            for k in np.argsort(-counts, kind="stable"):
                label = int(labels[k])
                if counts[k] < min(min_samples, cores_of[label]):
                    break
                if int(new_photos[i]) in photos_of[label]:
                    continue
                out[i] = label
                photos_of[label].add(int(new_photos[i]))
                break
    return out


def one_photo_per_cluster(
    labels: np.ndarray, photos: np.ndarray, vectors: np.ndarray
) -> np.ndarray:
    """Where a cluster holds several faces of one photo, keep the face nearest the cluster's
    mean and make the others noise (-1)."""
    labels = labels.copy()
    for label in np.unique(labels[labels >= 0]):
        members = np.flatnonzero(labels == label)
        if len(np.unique(photos[members])) == len(members):
            continue
        centre = vectors[members].mean(axis=0)
        order = members[np.argsort(-(vectors[members] @ centre), kind="stable")]
        seen: set[int] = set()
        for i in order:
            if int(photos[i]) in seen:
                labels[i] = -1
            seen.add(int(photos[i]))
        if (labels == label).sum() < 2:
            labels[labels == label] = -1
    return labels


def new_clusters(vectors: np.ndarray, photos: np.ndarray, min_samples: int) -> np.ndarray:
    """HDBSCAN over faces no person or cluster took, with the one-photo constraint.

    Args:
        vectors: ``(N, D)`` unit embeddings; ``photos`` ``(N,)`` their photos.
        min_samples: smallest group of faces that forms a cluster.

    Returns:
        ``(N,)`` labels 0, 1, ... per new cluster, -1 for noise.
    """
    labels = cluster_embeddings(vectors, min_samples=min_samples)
    return one_photo_per_cluster(labels, photos, vectors)
