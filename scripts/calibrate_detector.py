"""Calibrate a model for one detector, per alignment, on LFW View 1 only: a record entry.

For ``--detector NAME`` and each ``--align``, on the images of ``pairsDevTrain.txt`` and
``pairsDevTest.txt`` (never ``pairs.txt``), with the subject face of each image found by that
detector:

1. **Face filter** (once per detector, ``scripts/tune_face_filter.py``'s two steps): the
   minimum score, on the detector's own scale, that 99.9% of the subject faces reach, and the
   smallest face side that keeps the View 1 test accuracy within 2 points of full size.
2. **Alignment** (optional): each ``--config`` (``scripts/tune_alignment.py``'s syntax) is
   scored by 10-fold accuracy inside ``pairsDevTrain.txt``; the best one per method is kept.
3. **Threshold:** the mean of the 10 fold thresholds of View 1 (both files, 3200 pairs).
4. **Impostor distances** at the FAR grid and the open-set exponent
   (``scripts/calibrate_impostors.py``'s measurement).

It prints the ``DetectorCalibration`` entry to paste into the model's record
(``faceprint.weights.registry``). ``--view2`` then reports LFW View 2 accuracy (10 folds, as
``faceprint eval lfw`` does) for each alignment: a report only, nothing is tuned on it.

    python scripts/calibrate_detector.py --data ../shared/data/lfw --detector centerface \
        --align similarity --align box --config 'similarity:template_scale=1.1' --view2
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from calibrate_impostors import open_set_exponent
from tune_alignment import parse_config
from tune_face_filter import probability_floor, size_floor

from faceprint.detection import create_detector
from faceprint.evaluation.verification import (
    evaluate,
    impostor_quantiles,
    join_pairs,
    primary_embeddings,
    read_lfw_pairs,
)
from faceprint.pipeline import FaceRecognizer, model_alignment
from faceprint.weights.factory import get_weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/lfw"))
    parser.add_argument("--model", default="ms-celeb-1m")
    parser.add_argument("--detector", default="centerface")
    parser.add_argument("--align", action="append", required=True, help="box, similarity, none")
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        help="an alignment to try on pairsDevTrain.txt: method:key=value;... (the record's "
        "own parameters are always tried)",
    )
    parser.add_argument("--precision", default="auto", help="auto, fp32 or bf16")
    parser.add_argument("--no-filter", action="store_true", help="skip the face filter step")
    parser.add_argument("--view2", action="store_true", help="report LFW View 2 accuracy")
    args = parser.parse_args()
    images = args.data / "images"
    train = read_lfw_pairs(args.data / "pairsDevTrain.txt", images)
    test = read_lfw_pairs(args.data / "pairsDevTest.txt", images)
    view1 = join_pairs([train, test])
    paths = view1.images()
    people = np.array([p.parent.name for p in paths])
    detector = create_detector(args.detector)
    record = get_weights(args.model)

    def recognizer(alignment) -> FaceRecognizer:
        return FaceRecognizer(
            args.model,
            align=alignment,
            threshold=1.0,
            detector=detector,
            precision=args.precision,
        )

    print(f"{args.model} with {args.detector}: View 1, {len(paths)} images", flush=True)
    min_probability, min_size = 0.0, 0.0
    if not args.no_filter:
        boxes = recognizer("box")
        min_probability = probability_floor(boxes, paths)
        min_size = size_floor(boxes, test)

    summary = {}
    for method in args.align:
        candidates = [model_alignment(record, method)] + [
            parse_config(text, args.model) for text in args.config if text.split(":")[0] == method
        ]
        tried = []
        for alignment in candidates:
            accuracy = evaluate(recognizer(alignment), train, progress=False).metrics.accuracy
            tried.append((accuracy, alignment))
            print(f"{alignment.parameters()}: DevTrain accuracy {accuracy:.4f}", flush=True)
        alignment = max(tried, key=lambda t: t[0])[1]
        chosen = recognizer(alignment)
        report = evaluate(chosen, view1)
        threshold = float(np.mean(report.metrics.thresholds))
        embeddings = primary_embeddings(chosen, paths)
        quantiles, count = impostor_quantiles(embeddings, people)
        quantiles = np.round(quantiles, 4)
        exponent, _ = open_set_exponent(embeddings, people, quantiles)
        own = model_alignment(record, method)
        tuned = {
            k: v
            for k, v in alignment.parameters().items()
            if k not in ("method", "image_size") and v != getattr(own, k)
        }
        print(f"View 1: accuracy {report.metrics.accuracy:.4f}, {count} impostor pairs")
        print(
            f'    "{method}": DetectorCalibration(\n'
            f"        threshold={threshold:.3f},\n"
            f"        impostor_distances=({', '.join(f'{q:.4f}' for q in quantiles)}),\n"
            f"        open_set_exponent={exponent:.3f},\n"
            f"        min_face_probability={min_probability:g},\n"
            f"        min_face_size={min_size:g},\n"
            f"        alignment={tuned!r},\n"
            "    ),",
            flush=True,
        )
        summary[method] = {
            "parameters": alignment.parameters(),
            "view1_accuracy": round(report.metrics.accuracy, 4),
            "threshold": round(threshold, 3),
            "open_set_exponent": round(exponent, 3),
            "missed_view1": report.missed_detections,
        }
        if args.view2:
            pairs = read_lfw_pairs(args.data / "pairs.txt", images)
            d = evaluate(chosen, pairs).to_dict()
            summary[method] |= {
                "view2_accuracy": round(d["accuracy"], 4),
                "view2_std": round(d["accuracy_std"], 4),
                "view2_auc": round(d["auc"], 5),
                "view2_missed": d["missed_detections"],
                "precision": chosen.precision,
            }
        line = {"detector": args.detector, "align": method} | summary[method]
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
