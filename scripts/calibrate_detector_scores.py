"""Measure the score calibrations of MTCNN and CenterFace (``ScoreCalibration`` knots).

On ``--images`` LFW images spread over the whole set, each detector runs at its defaults; the
face of each image that both find (IoU >= 0.5) nearest the image's centre is a true face. For
each detector the knots map its score at quantiles 1%, 5%, 10%, 25%, 50%, 75%, 90%, 99% of
those faces' scores to that quantile (plus 0 -> 0 and 1 -> 1), so that a calibrated score is
the share of true faces the detector scores lower. The knots in detection/mtcnn.py and
detection/centerface.py come from this script.

    python scripts/calibrate_detector_scores.py [--data ../shared/data] [--images 400]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torchvision.ops import box_iou

from faceprint.detection import create_detector

QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99)


def central_scores(paths: list[Path]) -> tuple[list[float], list[float]]:
    """Per image where both find it: MTCNN's and CenterFace's score of the central face."""
    mtcnn, centerface = create_detector("mtcnn"), create_detector("centerface")
    ours: tuple[list[float], list[float]] = ([], [])
    for start in range(0, len(paths), 16):
        batch = [str(p) for p in paths[start : start + 16]]
        for a, b in zip(mtcnn.detect_batch(batch), centerface.detect_batch(batch), strict=True):
            if not len(a) or not len(b):
                continue
            iou = box_iou(torch.from_numpy(a.boxes), torch.from_numpy(b.boxes)).numpy()
            centre = (a.boxes[:, :2] + a.boxes[:, 2:]) / 2 - 125  # LFW images are 250x250
            for i in np.argsort((centre**2).sum(1)):
                if iou[i].max() >= 0.5:
                    ours[0].append(float(a.scores[i]))
                    ours[1].append(float(b.scores[iou[i].argmax()]))
                    break
    return ours


def knots(scores: list[float]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    raw, common = [0.0], [0.0]
    for q in QUANTILES:
        value = float(np.quantile(scores, q))
        if value > raw[-1] and value < 1.0:
            raw.append(round(value, 6))
            common.append(q)
    return (*raw, 1.0), (*common, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--images", type=int, default=400)
    args = parser.parse_args()
    torch.set_num_threads(1)
    paths = sorted((args.data / "lfw" / "images").glob("*/*.jpg"))
    paths = paths[:: max(1, len(paths) // args.images)][: args.images]
    mtcnn, centerface = central_scores(paths)
    print(f"{len(mtcnn)} central faces found by both detectors in {len(paths)} LFW images")
    for name, scores in (("mtcnn", mtcnn), ("centerface", centerface)):
        raw, common = knots(scores)
        print(f"{name}: raw={raw}\n{' ' * len(name)}  common={common}")


if __name__ == "__main__":
    main()
