"""HSE FaceRes's identity descriptor as a face embedding model.

Savchenko (2019) trained a MobileNet v1 to tell VGGFace2's 9131 people apart, then froze it
and trained the age and gender heads of :class:`~faceprint.models.attribute_nets.FaceRes` on
its pooled features. Those 1024 features are therefore an identity descriptor: the Human
library uses them as its default face embedding. This model L2-normalises them, subtracts the
mean of those unit descriptors over LFW View 1's faces, and normalises again. Every feature is a
non-negative ReLU6 average, so all descriptors share one large common direction; removing it
lifts View 1 AUC from 0.991 to 0.995 (200 + 200 pairs).

Inputs are 224x224 RGB crops, values 0..255 (standardization ``"raw"``), as for age and gender.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import torch
from torch.nn import functional as F

from faceprint.models.attribute_nets import FaceRes

EMBEDDING_SIZE = 1024
#: The mean unit descriptor of the faces of LFW View 1 (``pairsDevTrain.txt`` and
#: ``pairsDevTest.txt``), made by ``scripts/fit_faceres_center.py``.
CENTER_FILE = "hse_faceres_id_center.npy"


def lfw_view1_center() -> torch.Tensor:
    """``(1024,)`` float32: the shipped centre (:data:`CENTER_FILE`)."""
    with resources.files("faceprint").joinpath("assets", CENTER_FILE).open("rb") as f:
        return torch.from_numpy(np.load(f).astype(np.float32))


class FaceResEmbedder(FaceRes):
    """FaceRes's trunk as an embedder: ``(B, 3, 224, 224)`` crops, values 0..255, to ``(B,
    1024)`` unit embeddings.

    Its state dict is :class:`FaceRes`'s (the age and gender heads ride along unused), so both
    load the one converted file. The centre is a buffer outside the state dict.

    Args:
        center: ``(1024,)`` vector subtracted from the unit descriptor; default:
            :func:`lfw_view1_center`.
    """

    embedding_size = EMBEDDING_SIZE

    def __init__(self, center: torch.Tensor | None = None) -> None:
        super().__init__()
        center = lfw_view1_center() if center is None else center
        self.register_buffer("center", center.reshape(EMBEDDING_SIZE), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return F.normalize(F.normalize(self.pooled(x), dim=1) - self.center, dim=1)
