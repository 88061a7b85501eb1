"""Tune alignment parameters on LFW View 1 (pairsDevTrain.txt) only, never on pairs.txt.

Each configuration is scored by 10-fold accuracy inside DevTrain (threshold chosen on 9 parts).
Detections are cached, so only the embedding is paid per configuration.

    python scripts/tune_alignment.py --data ../shared/data/lfw --model ms-celeb-1m \
        --config box:margin=32 --config 'similarity:template_scale=1.1;template_shift=(0,4)' \
        --config none:crop_size=120
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json

import numpy as np

from faceprint.alignment import Alignment
from faceprint.evaluation.verification import evaluate, read_lfw_pairs
from faceprint.pipeline import FaceRecognizer, model_alignment
from faceprint.weights.factory import get_weights


def parse_config(text: str, model: str) -> Alignment:
    """``method:key=value;...`` over the model's tuned parameters and input size."""
    method, _, rest = text.partition(":")
    kwargs = {}
    for item in filter(None, rest.split(";")):
        key, _, value = item.partition("=")
        kwargs[key] = ast.literal_eval(value)
    return dataclasses.replace(model_alignment(get_weights(model), method), **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/lfw")
    parser.add_argument("--model", default="ms-celeb-1m")
    parser.add_argument("--pairs", default="pairsDevTrain.txt")
    parser.add_argument(
        "--config",
        action="append",
        required=True,
        help="method:key=value;key=value (tuples as '(1,2)')",
    )
    args = parser.parse_args()
    pairs = read_lfw_pairs(f"{args.data}/{args.pairs}", f"{args.data}/images")
    pairs.folds = np.arange(len(pairs)) % 10
    for text in args.config:
        alignment = parse_config(text, args.model)
        recognizer = FaceRecognizer(model=args.model, align=alignment, threshold=1.0)
        report = evaluate(recognizer, pairs, progress=False)
        d = report.to_dict()
        print(
            json.dumps(
                {
                    "config": text,
                    "accuracy": round(d["accuracy"], 4),
                    "auc": round(d["auc"], 5),
                    "threshold": round(d["threshold"], 3),
                    "missed": d["missed_detections"],
                    "seconds": round(d["seconds"], 1),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
