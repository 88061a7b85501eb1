"""Tune, on LFW View 1 only, which detections recognition commands should ignore.

1. **Probability:** the subject faces of every View 1 image (4992) have detection scores (on
   the detector's own scale); the minimum is set where it keeps at least 99.9% of them.
2. **Size:** the View 1 test pairs (``pairsDevTest.txt``, 1000 pairs) are scored with each
   face first shrunk to ``s`` x ``s`` pixels (box crop -> s -> the model's input), as a face of
   side ``s`` in a photo would be. The minimum is the smallest ``s`` whose 10-fold accuracy
   stays within 2 points of the full-size faces'.

    python scripts/tune_face_filter.py --data ../shared/data/lfw [--detector centerface]

``scripts/calibrate_detector.py`` runs the same two steps (these functions) for a
(detector, alignment) record entry.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from faceprint.detection import create_detector
from faceprint.evaluation.metrics import kfold_accuracy
from faceprint.evaluation.verification import Pairs, detect_primary_faces, read_lfw_pairs
from faceprint.images import load_image
from faceprint.pipeline import FaceRecognizer

SIDES = (16, 20, 24, 32, 40, 48, 0)  # 0: the face as detected


def probability_floor(recognizer: FaceRecognizer, paths: Sequence[Path]) -> float:
    """The detection score, floored to 0.01, that at least 99.9% of the subject faces of
    ``paths`` reach (on the scale of ``recognizer.detector``)."""
    probs = detect_primary_faces(recognizer, paths)["probs"]
    probs = probs[~np.isnan(probs)]
    keep = float(np.floor(np.quantile(probs, 0.001) * 100) / 100)
    print(
        f"probability: {len(probs)} subject faces; minimum {probs.min():.4f}; 0.1% quantile "
        f"{np.quantile(probs, 0.001):.4f} -> keep p >= {keep:.2f} ({np.mean(probs >= keep):.4%})"
    )
    return keep


def size_floor(recognizer: FaceRecognizer, test: Pairs) -> int:
    """The smallest face side (of :data:`SIDES`) at which ``test``'s 10-fold accuracy stays
    within 2 points of the full-size faces', with ``recognizer``'s crops shrunk to it."""
    paths = test.images()
    det = detect_primary_faces(recognizer, paths)
    ia, ib = test.indices(paths)
    folds = np.arange(len(test)) % 10
    size = recognizer.alignment.image_size
    accuracies = {}
    for side in SIDES:
        crops = []
        for i, path in enumerate(tqdm(paths, desc=f"side {side or 'full'}", leave=False)):
            image = load_image(path)
            box = None if np.isnan(det["probs"][i]) else det["boxes"][i]
            crop = recognizer.crop(image, box, None if box is None else det["landmarks"][i])
            if side:
                crop = crop.resize((side, side), Image.BILINEAR).resize(
                    (size, size), Image.BILINEAR
                )
            crops.append(crop)
        emb = recognizer.embed_crops(crops)
        distances = np.linalg.norm(emb[ia] - emb[ib], axis=1)
        accuracies[side] = kfold_accuracy(distances, test.same, folds)[0].mean()
        print(f"side {side or 'full':>4}: View 1 test accuracy {accuracies[side]:.4f}", flush=True)
    smallest = min(s for s in SIDES if s and accuracies[s] >= accuracies[0] - 0.02)
    print(f"size: keep faces of at least {smallest} px")
    return smallest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/lfw"))
    parser.add_argument("--model", default="ms-celeb-1m")
    parser.add_argument("--detector", default="mtcnn")
    args = parser.parse_args()
    images = args.data / "images"
    train = read_lfw_pairs(args.data / "pairsDevTrain.txt", images)
    test = read_lfw_pairs(args.data / "pairsDevTest.txt", images)
    recognizer = FaceRecognizer(
        model=args.model, align="box", threshold=1.0, detector=create_detector(args.detector)
    )
    probability_floor(recognizer, sorted(set(train.images()) | set(test.images())))
    size_floor(recognizer, test)


if __name__ == "__main__":
    main()
