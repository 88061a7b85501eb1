"""Clustering of a library's unnamed faces: one algorithm for the full clustering and for an
increment.

:func:`cluster` runs five steps over faces of which some are placed already (in clusters that
stay as they are) and some are new:

1. **attach** the new faces to the clusters there are: a face joins the cluster with the
   smallest mean L2 distance to its members if that is under the attach distance, closest faces
   first;
2. **HDBSCAN** over the new faces no cluster took, with the noise faces (placed before, in no
   cluster) within ``near`` of one of them;
3. **merge** clusters greedily while the RMS distance between two clusters' members,
   ``sqrt(2 - 2 c_a . c_b)`` with ``c`` the mean of a cluster's unit vectors, is under the merge
   distance;
   every merge involves a cluster found in step 2 (two placed clusters never merge);
4. **attach** the faces of step 2 still in no cluster, as in step 1;
5. **pair** the faces left: each is a cluster of one for another merge as in step 3, and those
   still alone stay noise. HDBSCAN refuses to make one cluster of everything, so without this
   a person new to the library whose faces arrive alone in an increment would stay noise.

With nothing placed, that is the full clustering (first scan, ``--full`` and the benchmark's
one-shot reference): HDBSCAN over everything, merge, attach the noise. In an increment, nothing
already in a cluster moves, so an increment costs its own faces and their neighbourhood.
HDBSCAN alone splits a person whose photos vary (age, lighting) into several tight clusters and
leaves a fifth of the faces as noise; the merge and the attach recover them (measured on LFW:
BCubed F 0.948 -> 0.953, the numbers in docs/guides/library.md).

Named people come first, outside this module's clustering: a named person takes a face through
the gallery's open-set rule (:func:`attract`).

Every step keeps the "same photo, different people" constraint: two faces of one photo never
end up in one person or cluster.

The distances come from the model's calibration (its impostor-distance distribution), not
from constants (:class:`Radii`): the merge distance is the one below which a fraction
:data:`MERGE_FAR` of impostor pairs fall, the attach distance the one for :data:`ATTACH_FAR`,
``near`` the one for :data:`NEAR_FAR`.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from faceprint.gallery.cluster import cluster_embeddings
from faceprint.weights.calibration import distance_at_far

#: Per-pair false-accept rate of the merge distance: two clusters merge when their RMS distance
#: is under the distance impostor pairs fall below at this rate (ms-celeb-1m/box: 0.851).
MERGE_FAR = 10**-4.25
#: ... of the attach distance (ms-celeb-1m/box: 0.909). A merge joins many faces on one decision,
#: so it is held half a decade stricter than 1e-4, and the attach of one face half a decade
#: looser; both are points of the calibration's grid (1e-4 for both: F 0.949 / 0.953).
ATTACH_FAR = 10**-3.75
#: ... of ``near``: noise this close to a new face is clustered again with it
#: (ms-celeb-1m/box: 1.00).
NEAR_FAR = 1e-3


@dataclass(frozen=True)
class Radii:
    """The clustering's L2 distances (in [0, 2]), from the model's calibration."""

    merge: float
    attach: float
    near: float

    @classmethod
    def from_calibration(cls, impostor_distances: Sequence[float]) -> Radii:
        """The distances at :data:`MERGE_FAR`, :data:`ATTACH_FAR` and :data:`NEAR_FAR` of the
        model's impostor pairs (``record.impostor_distances[align]``)."""
        return cls(
            merge=distance_at_far(impostor_distances, MERGE_FAR),
            attach=distance_at_far(impostor_distances, ATTACH_FAR),
            near=distance_at_far(impostor_distances, NEAR_FAR),
        )


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a), len(b))`` L2 distances between unit rows."""
    return np.sqrt(np.clip(2.0 - 2.0 * (a @ b.T), 0.0, None))


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


def _photos_of(labels: np.ndarray, photos: np.ndarray) -> dict[int, set[int]]:
    out: dict[int, set[int]] = defaultdict(set)
    for label, photo in zip(labels.tolist(), photos.tolist(), strict=True):
        if label >= 0:
            out[label].add(photo)
    return out


def attach(
    vectors: np.ndarray, photos: np.ndarray, labels: np.ndarray, faces: np.ndarray, tau: float
) -> np.ndarray:
    """Give faces to the clusters there are: each face joins the cluster with the smallest mean
    L2 distance to its members if under ``tau`` and the cluster has no face of its photo (else
    the next nearest under ``tau``); the faces nearest a cluster go first. The clusters'
    members are those before the call.

    Args:
        vectors: ``(N, D)`` unit embeddings; ``photos`` ``(N,)``; ``labels`` ``(N,)`` cluster
            per face, -1 for none.
        faces: indices of the faces to attach (their labels -1).
        tau: largest mean distance (L2, in [0, 2]).

    Returns:
        ``(N,)`` labels, a copy with the attached faces' clusters.
    """
    labels = labels.copy()
    members = np.flatnonzero(labels >= 0)
    if len(faces) == 0 or len(members) == 0:
        return labels
    clusters, column = np.unique(labels[members], return_inverse=True)
    onehot = sparse.csr_matrix(
        (np.ones(len(members), np.float32), (np.arange(len(members)), column)),
        shape=(len(members), len(clusters)),
    )
    sizes = np.asarray(onehot.sum(axis=0)).ravel()
    mean = np.empty((len(faces), len(clusters)), np.float32)
    for start in range(0, len(faces), 1024):
        d = _distances(vectors[faces[start : start + 1024]], vectors[members])
        mean[start : start + 1024] = np.asarray((onehot.T @ d.T).T) / sizes
    photos_of = _photos_of(labels, photos)
    best = mean.min(axis=1)
    for i in np.argsort(best, kind="stable"):
        if best[i] >= tau:
            break
        photo = int(photos[faces[i]])
        for k in np.argsort(mean[i], kind="stable"):
            if mean[i, k] >= tau:
                break
            if photo not in photos_of[int(clusters[k])]:
                labels[faces[i]] = clusters[k]
                photos_of[int(clusters[k])].add(photo)
                break
    return labels


def merge(
    vectors: np.ndarray,
    photos: np.ndarray,
    labels: np.ndarray,
    movable: set[int],
    tau: float,
) -> np.ndarray:
    """Merge clusters greedily, closest pair first, while the RMS distance between their
    members (``sqrt(2 - 2 c_a . c_b)``, ``c`` the mean of a cluster's unit vectors) is under
    ``tau`` and they share no photo. Every merge involves a ``movable`` cluster; a movable
    cluster merged into a fixed one takes the fixed one's label, so fixed clusters keep theirs
    and never merge with each other.

    Args:
        vectors: ``(N, D)`` unit embeddings; ``photos`` ``(N,)``; ``labels`` ``(N,)``, -1 none.
        movable: the labels that may merge into another cluster.
        tau: largest RMS distance (L2, in [0, 2]).

    Returns:
        ``(N,)`` labels, a copy after the merges.
    """
    labels = labels.copy()
    clustered = np.flatnonzero(labels >= 0)
    if len(clustered) == 0 or not movable:
        return labels
    names, column = np.unique(labels[clustered], return_inverse=True)
    sums = np.zeros((len(names), vectors.shape[1]), np.float64)
    np.add.at(sums, column, vectors[clustered])
    sizes = np.bincount(column, minlength=len(names)).astype(np.float64)
    centres = sums / sizes[:, None]
    photos_of = [set() for _ in names]
    for k, photo in zip(column.tolist(), photos[clustered].tolist(), strict=True):
        photos_of[k].add(photo)
    free = np.array([int(n) in movable for n in names])
    alive = np.ones(len(names), bool)
    version = np.zeros(len(names), np.int64)
    heap: list[tuple[float, int, int, int, int]] = []

    def push(rows: np.ndarray, initial: bool = False) -> None:
        d = np.sqrt(np.clip(2.0 - 2.0 * (centres[rows] @ centres.T), 0.0, None))
        d[np.arange(len(rows)), rows] = np.inf
        near = (d < tau) & alive & (free | free[rows][:, None])
        if initial:  # a pair of two movable clusters once
            near &= ~free | (np.arange(len(names)) > rows[:, None])
        for i, b in zip(*np.nonzero(near), strict=True):
            a = rows[i]
            heapq.heappush(heap, (float(d[i, b]), int(a), int(b), int(version[a]), int(version[b])))

    movable_rows = np.flatnonzero(free)
    for start in range(0, len(movable_rows), 1024):
        push(movable_rows[start : start + 1024], initial=True)
    into = np.arange(len(names))
    while heap:
        _, a, b, va, vb = heapq.heappop(heap)
        if not (alive[a] and alive[b]) or va != version[a] or vb != version[b]:
            continue
        if photos_of[a] & photos_of[b]:
            continue  # photos only accumulate: the pair stays apart for good
        keep, gone = (b, a) if free[a] and not free[b] else (a, b)
        sums[keep] += sums[gone]
        sizes[keep] += sizes[gone]
        centres[keep] = sums[keep] / sizes[keep]
        photos_of[keep] |= photos_of[gone]
        alive[gone] = False
        into[into == gone] = keep
        version[keep] += 1
        push(np.array([keep]))
    labels[clustered] = names[into[column]]
    return labels


def cluster(
    vectors: np.ndarray,
    photos: np.ndarray,
    labels: np.ndarray,
    new: np.ndarray,
    radii: Radii,
    min_samples: int,
) -> np.ndarray:
    """Place the ``new`` faces among the clusters there are (the module's five steps); with
    every face new, the full clustering.

    Args:
        vectors: ``(N, D)`` unit embeddings; ``photos`` ``(N,)`` their photos.
        labels: ``(N,)`` placed faces' clusters (>= 0, kept as they are), -1 for noise and for
            the new faces.
        new: ``(N,)`` bool, the faces to place.
        radii: the merge and attach distances, and ``near``: noise within it of a new face
            no cluster took is clustered again.
        min_samples: smallest group of faces HDBSCAN makes a cluster.

    Returns:
        ``(N,)`` labels: placed faces keep theirs, new faces and noise get an existing cluster,
        a new one (numbered from one above the largest existing label), or -1.
    """
    new = np.asarray(new, bool)
    if not new.any():
        return labels.copy()
    labels = attach(vectors, photos, labels, np.flatnonzero(new), radii.attach)
    rest = np.flatnonzero(new & (labels < 0))
    noise = np.flatnonzero(~new & (labels < 0))
    if len(rest) and len(noise):
        close = np.zeros(len(noise), bool)
        for start in range(0, len(rest), 1024):
            close |= (
                _distances(vectors[noise], vectors[rest[start : start + 1024]]) <= radii.near
            ).any(axis=1)
        noise = noise[close]
    else:
        noise = noise[:0]
    pool = np.concatenate([rest, noise])
    found = new_clusters(vectors[pool], photos[pool], min_samples)
    base = int(labels.max()) + 1
    labels[pool] = np.where(found >= 0, found + base, -1)
    labels = merge(vectors, photos, labels, set((found[found >= 0] + base).tolist()), radii.merge)
    labels = attach(vectors, photos, labels, pool[labels[pool] < 0], radii.attach)
    # HDBSCAN finds no cluster in a pool of one person (it refuses a single cluster): the
    # faces left merge as clusters of one.
    left = pool[labels[pool] < 0]
    start = int(labels.max()) + 1
    labels[left] = start + np.arange(len(left))
    labels = merge(vectors, photos, labels, set(labels[left].tolist()), radii.merge)
    values, counts = np.unique(labels[labels >= 0], return_counts=True)
    single = values[(counts == 1) & (values >= start)]
    labels[np.isin(labels, single)] = -1
    return labels


def full_clustering(
    vectors: np.ndarray, photos: np.ndarray, radii: Radii, min_samples: int
) -> np.ndarray:
    """Cluster every face anew (:func:`cluster` with every face new).

    Returns:
        ``(N,)`` labels 0, 1, ... per cluster, -1 for noise.
    """
    labels = cluster(
        vectors, photos, np.full(len(vectors), -1), np.ones(len(vectors), bool), radii, min_samples
    )
    _, renumbered = np.unique(labels, return_inverse=True)
    return np.where(labels >= 0, renumbered - int((labels < 0).any()), -1)
