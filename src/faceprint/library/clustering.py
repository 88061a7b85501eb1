"""Incremental clustering of a library's unnamed faces, the way Immich does it.

New faces first try the people and clusters there are: a named person takes a face through the
gallery's open-set rule (nearest face closer than the threshold for that many people), a
cluster takes it through its core points (the face lies within the join radius of at least
``min_samples`` of the cluster's core faces). What is left, together with the faces no cluster
took before (noise), is clustered by HDBSCAN with the core faces of the clusters near it as
anchors: a group that holds anchors joins their cluster, a group without becomes a new cluster.
Nothing already placed moves, so an increment costs its own faces and their neighbourhood, not
the library's.

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


def cluster_rest(
    pool: np.ndarray,
    pool_photos: np.ndarray,
    placed: np.ndarray,
    placed_labels: np.ndarray,
    placed_photos: np.ndarray,
    radius: float,
    min_samples: int,
) -> tuple[np.ndarray, np.ndarray]:
    """HDBSCAN over the faces no person or cluster took (new ones and noise), with the core
    faces of the clusters near them as anchors: a group that holds anchors joins their cluster
    (the one most of them belong to), a group without any becomes a new cluster. Without the
    anchors, faces of a person whose cluster is small and sparse would form a second cluster
    of that person beside the first.

    Args:
        pool: ``(P, D)`` unit embeddings to cluster; ``pool_photos`` ``(P,)``.
        placed: ``(N, D)`` faces of existing clusters; ``placed_labels`` ``(N,)`` (-1: none),
            ``placed_photos`` ``(N,)``.
        radius: join radius (L2): anchors are core faces within it of a pool face, a face
            joins an anchored cluster only within it of one of the anchors, and a face of a
            new cluster only within it of another member.
        min_samples: smallest group of faces that forms a cluster.

    Returns:
        ``(joined, new)``, both ``(P,)``: the existing cluster each face joins (-1: none), and
        the new cluster it founds (0, 1, ...; -1: none). One photo per cluster throughout.
    """
    joined = np.full(len(pool), -1, dtype=np.int64)
    new = np.full(len(pool), -1, dtype=np.int64)
    if len(pool) == 0:
        return joined, new
    core = np.flatnonzero(core_faces(placed, placed_labels, radius, min_samples))
    if len(core):
        near = np.zeros(len(core), dtype=bool)
        for start in range(0, len(pool), 1024):
            d = _distances(placed[core], pool[start : start + 1024])
            near |= (d <= radius).any(axis=1)
        core = core[near]
    labels = cluster_embeddings(np.concatenate([pool, placed[core]]), min_samples=min_samples)
    pool_labels, anchor_labels = labels[: len(pool)], labels[len(pool) :]
    photos_of: dict[int, set[int]] = defaultdict(set)
    for label, photo in zip(placed_labels.tolist(), placed_photos.tolist(), strict=True):
        if label >= 0:
            photos_of[label].add(photo)
    founded = 0
    for group in np.unique(pool_labels[pool_labels >= 0]):
        members = np.flatnonzero(pool_labels == group)
        anchored = placed_labels[core][anchor_labels == group]
        centre = pool[members].mean(axis=0)
        members = members[np.argsort(-(pool[members] @ centre), kind="stable")]
        if len(anchored):
            values, counts = np.unique(anchored, return_counts=True)
            target = int(values[np.argmax(counts)])
            anchors = placed[core][(anchor_labels == group) & (placed_labels[core] == target)]
            near = _distances(pool[members], anchors).min(axis=1) <= radius
            for i in members[near]:
                if int(pool_photos[i]) not in photos_of[target]:
                    joined[i] = target
                    photos_of[target].add(int(pool_photos[i]))
            continue
        seen: set[int] = set()
        kept = [
            i for i in members if not (int(pool_photos[i]) in seen or seen.add(int(pool_photos[i])))
        ]
        # HDBSCAN's density is relative: among the leftovers, mostly people seen once, two
        # strangers can look like a group. A face stays only within the radius of another.
        if len(kept) >= 2:
            d = _distances(pool[kept], pool[kept])
            np.fill_diagonal(d, np.inf)
            kept = [i for i, row in zip(kept, d, strict=True) if row.min() <= radius]
        if len(kept) >= 2:
            new[kept] = founded
            founded += 1
    return joined, new
