"""Time CenterFace against MTCNN on the group photo and one 1080p video frame (one run).

Prints, per image, the median of ``--repeats`` timed calls after one warm-up, each detector at
its defaults (CenterFace also at ``input_scale=0.5``), and the faces each found. The figures in
docs/guides/detection.md come from this script.

    python scripts/time_centerface.py [--data ../shared/data] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from faceprint import MTCNN
from faceprint.detection.centerface import CenterFace
from faceprint.images import load_image
from faceprint.video.io import read_frames


def _median_seconds(detect, image: np.ndarray, repeats: int) -> tuple[float, int]:
    found = detect(image)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        detect(image)
        times.append(time.perf_counter() - start)
    return statistics.median(times), found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    images = {
        "multiface.jpg": np.asarray(load_image(args.data / "samples" / "multiface.jpg")),
        "video.mp4 frame 0": next(read_frames(args.data / "samples" / "video.mp4")).image,
    }
    mtcnn = MTCNN()
    centerface = CenterFace()
    half = CenterFace(input_scale=0.5, net=centerface.net)

    def mtcnn_faces(image: np.ndarray) -> int:
        boxes, _ = mtcnn.detect(image)
        return 0 if boxes is None else len(boxes)

    detectors = {
        "MTCNN": mtcnn_faces,
        "CenterFace": lambda im: len(centerface.detect(im)[0]),
        "CenterFace x0.5": lambda im: len(half.detect(im)[0]),
    }
    print(f"torch {torch.__version__}, {args.threads} thread(s)")
    for name, image in images.items():
        base = None
        for label, detect in detectors.items():
            seconds, faces = _median_seconds(detect, image, args.repeats)
            base = base or seconds
            print(
                f"{name} {image.shape[1]}x{image.shape[0]}: {label:<16} {seconds * 1000:8.1f} ms"
                f"  {seconds / base:5.2f}x MTCNN  {faces} faces"
            )


if __name__ == "__main__":
    main()
