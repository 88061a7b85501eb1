"""Fit ``hse-faceres-id``'s centre and choose its alignment, on LFW View 1 only.

For each ``--config`` (as in ``tune_alignment.py``), every face of View 1 (the images of
``pairsDevTrain.txt`` and ``pairsDevTest.txt``, never ``pairs.txt``) is embedded without a
centre; the centre is the mean of those unit descriptors. With it, ``pairsDevTrain.txt`` is
scored by 10-fold accuracy. The best configuration's centre (accuracy, then AUC) is written to
``src/faceprint/assets/hse_faceres_id_center.npy`` with ``--write``.

    python -m scripts.fit_faceres_center --data ../shared/data/lfw \
        --config box:margin=44 --config 'similarity:template_scale=0.9' --write

(``-m`` from the repository root: it reads ``--config`` with ``tune_alignment.py``'s parser.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from faceprint.evaluation.metrics import kfold_accuracy
from faceprint.evaluation.verification import primary_embeddings, read_lfw_pairs
from faceprint.models.faceres_embedder import CENTER_FILE, EMBEDDING_SIZE
from faceprint.pipeline import FaceRecognizer
from scripts.tune_alignment import parse_config

MODEL = "hse-faceres-id"
TARGET = Path(__file__).resolve().parents[1] / "src" / "faceprint" / "assets" / CENTER_FILE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/lfw")
    parser.add_argument("--config", action="append", required=True)
    parser.add_argument("--write", action="store_true", help="save the best centre")
    args = parser.parse_args()
    train = read_lfw_pairs(f"{args.data}/pairsDevTrain.txt", f"{args.data}/images")
    test = read_lfw_pairs(f"{args.data}/pairsDevTest.txt", f"{args.data}/images")
    images = sorted(set(train.images()) | set(test.images()))
    ia, ib = train.indices(images)
    folds = np.arange(len(train)) % 10
    best = None
    for text in args.config:
        recognizer = FaceRecognizer(MODEL, align=parse_config(text, MODEL), threshold=1.0)
        recognizer.model.center.zero_()
        unit = primary_embeddings(recognizer, images, progress=False)
        center = unit.mean(axis=0)
        centred = unit - center
        centred /= np.linalg.norm(centred, axis=1, keepdims=True)
        distances = np.linalg.norm(centred[ia] - centred[ib], axis=1)
        accuracies, thresholds = kfold_accuracy(distances, train.same, folds)
        accuracy, auc = float(accuracies.mean()), roc_auc_score(train.same, -distances)
        row = {"config": text, "accuracy": round(accuracy, 4), "auc": round(auc, 5)}
        row["threshold"] = round(float(thresholds.mean()), 3)
        row["center_norm"] = round(float(np.linalg.norm(center)), 4)
        print(json.dumps(row), flush=True)
        if best is None or (accuracy, auc) > best[0]:
            best = ((accuracy, auc), text, center)
    if args.write:
        assert best[2].shape == (EMBEDDING_SIZE,)
        np.save(TARGET, best[2].astype(np.float32))
        print(f"wrote the centre of {best[1]} to {TARGET}")


if __name__ == "__main__":
    main()
