"""Vectors a gallery accepts: float32 unit embeddings."""

from __future__ import annotations

import numpy as np

from faceprint.errors import EmbeddingError, listed

#: How far off unit length an embedding may be and still be normalised without a word: bf16 and
#: int8 networks land within 3e-3.
UNIT_TOLERANCE = 1e-2


def unit_rows(vectors: np.ndarray, what: str = "embeddings") -> np.ndarray:
    """``vectors`` as float32 unit rows.

    Args:
        vectors: ``(N, D)`` embeddings, each within :data:`UNIT_TOLERANCE` of unit length.
        what: what the rows are, for the error message.

    Returns:
        ``(N, D)`` float32 rows scaled to length 1 (to float32 rounding).

    Raises:
        EmbeddingError: a row is further off unit length (not an embedding of a faceprint
            model), or not finite.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1)
    off = ~(np.abs(norms - 1.0) <= UNIT_TOLERANCE)  # NaN counts as off
    if off.any():
        rows = np.flatnonzero(off)
        raise EmbeddingError(
            f"{what} {listed(rows.tolist())} ({len(rows)} of {len(vectors)}) have length "
            f"{listed(f'{n:.4g}' for n in norms[rows])}, not 1: embeddings must be unit vectors "
            f"from faceprint's models (lengths within {UNIT_TOLERANCE:g} of 1 are normalised)"
        )
    return vectors / norms[:, None]
