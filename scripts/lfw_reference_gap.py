"""Why a facenet-pytorch-style LFW pipeline scored 0.971 where faceprint's box crop scores 0.993.

Embeds LFW View 2 folds 1-2 with the ms-celeb-1m weights and MTCNN box crops (margin 32),
changing one thing at a time:

- standardization: per image (the model's), over the whole batch (facenet-pytorch's
  ``prewhiten`` applied to a batch tensor), or fixed ``(x - 127.5) / 128``;
- face choice when an image holds several: centre-weighted (Sandberg's) or largest box.

    python scripts/lfw_reference_gap.py --data ../shared/data/lfw
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from faceprint import prewhiten
from faceprint.alignment import fixed_image_standardization, standardize
from faceprint.detection.mtcnn import select_face
from faceprint.evaluation.metrics import verification_metrics
from faceprint.evaluation.verification import read_lfw_pairs
from faceprint.images import load_image
from faceprint.pipeline import FaceRecognizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/lfw")
    parser.add_argument("--folds", type=int, default=2)
    args = parser.parse_args()
    pairs = read_lfw_pairs(f"{args.data}/pairs.txt", f"{args.data}/images")
    keep = pairs.folds < args.folds
    pairs.a = [p for p, k in zip(pairs.a, keep, strict=True) if k]
    pairs.b = [p for p, k in zip(pairs.b, keep, strict=True) if k]
    pairs.same, pairs.folds = pairs.same[keep], pairs.folds[keep]
    paths = pairs.images()
    recognizer = FaceRecognizer(model="ms-celeb-1m", align="box", threshold=1.0)
    model, alignment = recognizer.model, recognizer.alignment

    crops = {"centre-weighted": [], "largest": []}
    for start in range(0, len(paths), 32):
        images = [load_image(p) for p in paths[start : start + 32]]
        boxes, probs, _ = recognizer.detector.detect(images, landmarks=True)
        for image, b, p in zip(images, boxes, probs, strict=True):
            for rule, method in (
                ("centre-weighted", "center_weighted_size"),
                ("largest", "largest"),
            ):
                k = select_face(b, p, image.size, method)
                crop = (
                    alignment.crop(image, b[k], None)
                    if k is not None
                    else recognizer.fallback.crop(image, None, None)
                )
                crops[rule].append(
                    torch.from_numpy(np.asarray(crop, dtype=np.float32)).permute(2, 0, 1)
                )
    ia, ib = pairs.indices(paths)
    variants = {
        "per-image standardization, centre-weighted face": (
            "centre-weighted",
            lambda x: standardize(x, "per_image"),
        ),
        "per-image standardization, largest face": (
            "largest",
            lambda x: standardize(x, "per_image"),
        ),
        "batch-wide prewhiten (32 crops), centre-weighted face": ("centre-weighted", prewhiten),
        "fixed standardization, centre-weighted face": (
            "centre-weighted",
            fixed_image_standardization,
        ),
    }
    for label, (rule, fn) in variants.items():
        batch = torch.stack(crops[rule])
        with torch.inference_mode():
            emb = torch.cat(
                [model(fn(batch[i : i + 32])) for i in range(0, len(batch), 32)]
            ).numpy()
        m = verification_metrics(np.linalg.norm(emb[ia] - emb[ib], axis=1), pairs.same, pairs.folds)
        print(f"{label:<55} accuracy {m.accuracy:.4f}  AUC {m.auc:.5f}", flush=True)


if __name__ == "__main__":
    main()
