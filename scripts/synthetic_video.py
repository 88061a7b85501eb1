"""Tracking and naming scored against known answers: a synthetic video of LFW people walking,
crossing, entering and leaving, enrolled from other photos of themselves.

    python scripts/synthetic_video.py --data ../shared/data/lfw [--people 6] [--seconds 10]

Prints IDF1, MOTA, identity switches against crossings (py-motmetrics) and the share of track
frames named right, for detection in every frame and in every 2nd and 3rd frame.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from faceprint.gallery import Gallery
from faceprint.pipeline import FaceRecognizer
from faceprint.video import FaceTracker, track_video
from faceprint.video.synthetic import build_case, score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/lfw"))
    parser.add_argument("--work", type=Path, default=Path("synthetic_video"))
    parser.add_argument("--people", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--size", default="960x540")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    images = args.data / "images" if (args.data / "images").is_dir() else args.data
    recognizer = FaceRecognizer()
    frames = round(args.seconds * args.fps)
    case = build_case(
        images, args.work, args.people, frames, width, height, args.fps, recognizer=recognizer
    )
    print(
        f"{case.video}: {args.people} people, {frames} frames {width}x{height} at {args.fps:g} fps"
    )
    print("| detect every | IDF1 | MOTA | switches | crossings | named right | recall | s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for every in (1, 2, 3):
        with Gallery(case.gallery, recognizer=recognizer) as gallery:
            start = time.perf_counter()
            result = track_video(case.video, FaceTracker(recognizer, gallery), every=every)
            seconds = time.perf_counter() - start
        s = score(result.tracks, case.truth)
        print(
            f"| {every} | {s['idf1']:.3f} | {s['mota']:.3f} | {s['switches']} | {s['crossings']} "
            f"| {s['named_right']:.3f} | {s['recall']:.3f} | {seconds:.1f} |"
        )


if __name__ == "__main__":
    main()
