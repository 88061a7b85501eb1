"""``faceprint classify``: facenet-pytorch's ``classify=True`` mode, for the people a model
from ``faceprint train`` learned, with "unknown" for a face that is none of them.

The "unknown" decision is the gallery's open-set rule (:mod:`faceprint.weights.calibration`):
a face is named only when it is closer to its person's class centre than the distance below
which a fraction ``far`` of strangers would come to any of the N people's centres. That
distance is read off the distances of the validation photos to the *other* people's centres,
which ``faceprint train`` stores in the model file.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np
import torch
from torch.nn import functional as F

from faceprint.alignment import standardize
from faceprint.gallery.gallery import DEFAULT_FAR, UNKNOWN
from faceprint.images import ImageInput, to_pil
from faceprint.pipeline import FaceRecognizer
from faceprint.weights.calibration import FAR_GRID, open_set_threshold
from faceprint.weights.loading import model_file_tensors

#: A trained model file's ``(C, D)`` unit class centres (each person's mean training embedding).
CLASS_CENTRES = "class_centres"
#: Its distances, at :data:`FAR_GRID`, of validation photos to other people's class centres.
CLASS_IMPOSTOR_DISTANCES = "class_impostor_distances"
#: Validation photo x other centre distances kept for the quantiles, at most (sampled beyond).
_MAX_IMPOSTOR_DISTANCES = 20_000_000


def centre_impostor_quantiles(
    unit: torch.Tensor, labels: np.ndarray, centres: torch.Tensor, seed: int = 0
) -> torch.Tensor:
    """Distances at :data:`FAR_GRID` of ``(N, D)`` unit embeddings to the ``(C, D)`` unit
    centres of every class but their own ``(N,)`` ``labels``: the strangers' distribution of
    an open-set threshold. Rows are sampled (``seed``) beyond 20 million distances.

    Returns:
        ``(len(FAR_GRID),)`` float32 L2 distances in [0, 2], increasing.
    """
    labels = torch.as_tensor(labels)
    rows = torch.arange(len(unit))
    most = max(1, _MAX_IMPOSTOR_DISTANCES // max(1, len(centres) - 1))
    if len(rows) > most:
        rows = torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed))[:most]
    cosine = unit[rows].float() @ centres.float().T
    others = torch.ones_like(cosine, dtype=torch.bool)
    others[torch.arange(len(rows)), labels[rows]] = False
    distances = (2.0 - 2.0 * cosine[others]).clamp_min(0.0).sqrt()
    return torch.from_numpy(np.quantile(distances.numpy(), FAR_GRID).astype(np.float32))


def _open_set(path: str | None) -> tuple[torch.Tensor, tuple[float, ...]] | None:
    """A model file's class centres and strangers' distances (None where it has none)."""
    if not path:
        return None
    return _read_open_set(path, os.stat(path).st_mtime_ns)


@lru_cache(maxsize=8)
def _read_open_set(path: str, _mtime_ns: int) -> tuple[torch.Tensor, tuple[float, ...]] | None:
    tensors = model_file_tensors(path)
    if CLASS_CENTRES not in tensors:
        return None
    return tensors[CLASS_CENTRES].float(), tuple(tensors[CLASS_IMPOSTOR_DISTANCES].tolist())


def unknown_threshold(recognizer: FaceRecognizer, far: float = DEFAULT_FAR) -> float | None:
    """The L2 distance to a person's class centre beyond which ``classify`` says "unknown"
    (for a fraction ``far`` of strangers named, in (0, 1)); None for a model file without
    class centres (trained before they were stored)."""
    stored = _open_set(recognizer.weights.path)
    if stored is None:
        return None
    centres, impostors = stored
    exponent = recognizer.calibration.open_set_exponent
    return open_set_threshold(impostors, far, len(centres), exponent)


def classify_faces(
    recognizer: FaceRecognizer, image: ImageInput, top_k: int = 5, far: float = DEFAULT_FAR
) -> list[dict]:
    """The most likely people for every recognisable face of ``image``, or "unknown".

    Args:
        recognizer: built on a trained model file (its record names the classes).
        image: a path, PIL image or ``(H, W, 3)`` uint8 array.
        top_k: names listed per face.
        far: the fraction of strangers (people the model did not learn) who get a name, in
            (0, 1); the gallery's default.

    Returns:
        One dict per face, largest first: ``box`` (4 floats, pixels), ``probability`` (the
        detection's), ``name`` (the most likely person, or ``"unknown"`` when the face is
        farther than ``threshold`` from that person's class centre), ``distance`` (that L2
        distance between unit vectors, in [0, 2]), ``threshold`` (None for a model file
        without class centres, which never says unknown), and ``top``: up to ``top_k``
        ``{"name", "probability"}`` with class probabilities in [0, 1], most likely first.
    """
    pil = to_pil(image)
    kept = recognizer.detect_regions([pil])[0]
    if not kept:
        return []
    crops = np.stack([np.asarray(recognizer.crop(pil, r.box, r.landmarks)) for r in kept])
    x = torch.from_numpy(crops).permute(0, 3, 1, 2).float()
    model = recognizer.model
    with torch.inference_mode():
        x = standardize(x, recognizer.weights.standardization).to(model.device)
        features = model.features(x)
        chances = model.logits(features).softmax(1).cpu()
        unit = F.normalize(features.float(), dim=1).cpu()
    top = chances.topk(min(top_k, chances.shape[1]), dim=1)
    names = recognizer.weights.classes
    threshold = unknown_threshold(recognizer, far)
    faces = []
    for i, region in enumerate(kept):
        best = int(top.indices[i, 0])
        distance, name = float("nan"), names[best]
        if threshold is not None:
            centre = _open_set(recognizer.weights.path)[0][best]
            distance = float((unit[i] - centre).norm())
            name = names[best] if distance < threshold else UNKNOWN
        faces.append(
            {
                "box": [round(float(v), 2) for v in region.box],
                "probability": round(region.probability, 6),
                "name": name,
                "distance": round(distance, 6),
                "threshold": None if threshold is None else round(threshold, 6),
                "top": [
                    {"name": names[int(k)], "probability": round(float(p), 6)}
                    for p, k in zip(top.values[i], top.indices[i], strict=True)
                ],
            }
        )
    return faces
