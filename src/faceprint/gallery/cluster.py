"""Group unlabeled faces by person: density clustering of embeddings with scikit-learn."""

from __future__ import annotations

import numpy as np


def cluster_embeddings(
    embeddings: np.ndarray, eps: float | None = None, min_samples: int = 2
) -> np.ndarray:
    """Cluster unit embeddings by L2 distance.

    HDBSCAN by default: it needs no radius and does not chain two people together through a
    few in-between faces, which DBSCAN does at a verification threshold (measured on LFW:
    DBSCAN at eps 1.1 merged two of three people that HDBSCAN kept apart). With ``eps``
    given, DBSCAN with that radius.

    Args:
        embeddings: ``(N, D)`` unit vectors.
        eps: DBSCAN neighbourhood radius (an L2 distance); None selects HDBSCAN.
        min_samples: smallest group of faces that forms a person.

    Returns:
        ``(N,)`` int labels: 0, 1, ... per person (largest cluster first), -1 for noise.
    """
    from sklearn.cluster import DBSCAN, HDBSCAN

    embeddings = np.asarray(embeddings, dtype=np.float32)
    if len(embeddings) < 2:
        return np.full(len(embeddings), -1, dtype=int)
    if eps is None:
        labels = HDBSCAN(min_cluster_size=min_samples, copy=True).fit_predict(embeddings)
    else:
        labels = DBSCAN(eps=eps, min_samples=min_samples).fit_predict(embeddings)
    # Renumber by size so cluster 0 is the person seen most.
    ids, counts = np.unique(labels[labels >= 0], return_counts=True)
    order = {old: new for new, old in enumerate(ids[np.argsort(-counts, kind="stable")])}
    return np.array([order.get(label, -1) for label in labels], dtype=int)
