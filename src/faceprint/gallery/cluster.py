"""Group unlabeled faces by person: density clustering of embeddings (scikit-learn's DBSCAN)."""

from __future__ import annotations

import numpy as np


def cluster_embeddings(embeddings: np.ndarray, eps: float, min_samples: int = 2) -> np.ndarray:
    """Cluster unit embeddings by L2 distance.

    Args:
        embeddings: ``(N, D)`` unit vectors.
        eps: neighbourhood radius, an L2 distance (a model's same-person threshold is a good start).
        min_samples: faces needed to form a cluster core.

    Returns:
        ``(N,)`` int labels: 0, 1, ... per person (largest cluster first), -1 for noise.
    """
    from sklearn.cluster import DBSCAN

    embeddings = np.asarray(embeddings, dtype=np.float32)
    if len(embeddings) == 0:
        return np.zeros(0, dtype=int)
    labels = DBSCAN(eps=eps, min_samples=min_samples, metric="euclidean").fit_predict(embeddings)
    # Renumber by size so cluster 0 is the person seen most.
    ids, counts = np.unique(labels[labels >= 0], return_counts=True)
    order = {old: new for new, old in enumerate(ids[np.argsort(-counts, kind="stable")])}
    return np.array([order.get(label, -1) for label in labels])
