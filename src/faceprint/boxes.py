"""Box arithmetic shared by detection, the pipeline and the gallery."""

from __future__ import annotations

import numpy as np


def box_area(boxes: np.ndarray) -> np.ndarray:
    """Areas of ``(..., 4)`` boxes given as ``x1, y1, x2, y2``; shape ``(...)``, in pixels²."""
    boxes = np.asarray(boxes)
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
