"""``faceprint classify``: facenet-pytorch's ``classify=True`` mode, for the people a model
from ``faceprint train`` learned."""

from __future__ import annotations

import numpy as np
import torch

from faceprint.alignment import standardize
from faceprint.images import ImageInput, to_pil
from faceprint.pipeline import FaceRecognizer


def classify_faces(recognizer: FaceRecognizer, image: ImageInput, top_k: int = 5) -> list[dict]:
    """The most likely people for every recognisable face of ``image``.

    Args:
        recognizer: built on a trained model file (its record names the classes).
        image: a path, PIL image or ``(H, W, 3)`` uint8 array.
        top_k: names listed per face.

    Returns:
        One dict per face, largest first: ``box`` (4 floats, pixels), ``probability`` (the
        detection's), and ``top``: up to ``top_k`` ``{"name", "probability"}`` with class
        probabilities in [0, 1], most likely first.
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
        chances = model.logits(model.features(x)).softmax(1).cpu()
    top = chances.topk(min(top_k, chances.shape[1]), dim=1)
    names = recognizer.weights.classes
    return [
        {
            "box": [round(float(v), 2) for v in region.box],
            "probability": round(region.probability, 6),
            "top": [
                {"name": names[int(k)], "probability": round(float(p), 6)}
                for p, k in zip(values, indices, strict=True)
            ],
        }
        for region, values, indices in zip(kept, top.values, top.indices, strict=True)
    ]
