"""Tracking and naming scored against known answers: a synthetic video of LFW people walking,
crossing, entering and leaving, enrolled from other photos of themselves.

    python scripts/synthetic_video.py --data ../shared/data/lfw [--people 6] [--seconds 10]
    python scripts/synthetic_video.py --layout crossing --people 3 --seconds 4.8

Prints IDF1, MOTA, identity switches against crossings (py-motmetrics), the share of track
frames named right, and, of the people (over their frames at most 30% hidden), the least share
boxed by their own track, the least share named right and the most track ids, for detection in
every frame and in every 2nd and 3rd frame. With
``--bytetrack``, also Roboflow ``trackers``' ByteTrack (``pip install trackers``) on the same
detections, every frame, for the README's choice of tracker.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from faceprint.gallery import Gallery
from faceprint.pipeline import FaceRecognizer
from faceprint.video import FaceTracker, Track, read_frames, track_video
from faceprint.video.synthetic import LAYOUTS, build_case, people_scores, score


def bytetrack(video: Path, recognizer: FaceRecognizer) -> list[Track]:
    """ByteTrack's tracks (by its ids) on faceprint's detections of every frame."""
    import supervision as sv
    from PIL import Image
    from trackers import ByteTrackTracker

    detector = FaceTracker(recognizer)
    tracker = ByteTrackTracker(frame_rate=25.0)
    tracks: dict[int, Track] = {}
    for frame in read_frames(video):
        regions = detector.detect([Image.fromarray(frame.image)])[0]
        boxes = np.array([r.box for r in regions], dtype=np.float32).reshape(-1, 4)
        probs = np.array([r.probability for r in regions], dtype=np.float32)
        found = tracker.update(sv.Detections(xyxy=boxes, confidence=probs))
        for box, prob, track_id in zip(found.xyxy, found.confidence, found.tracker_id, strict=True):
            if track_id < 0:
                continue
            track = tracks.setdefault(int(track_id), Track(int(track_id)))
            track.boxes.append([frame.index, *map(float, box), float(prob)])
            track.times.append(frame.time)
    return list(tracks.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/lfw"))
    parser.add_argument("--work", type=Path, default=Path("synthetic_video"))
    parser.add_argument("--people", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--size", default="960x540")
    parser.add_argument("--layout", choices=list(LAYOUTS), default="pairs")
    parser.add_argument("--bytetrack", action="store_true")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    images = args.data / "images" if (args.data / "images").is_dir() else args.data
    recognizer = FaceRecognizer()
    frames = round(args.seconds * args.fps)
    case = build_case(
        images,
        args.work,
        args.people,
        frames,
        width,
        height,
        args.fps,
        recognizer=recognizer,
        layout=args.layout,
    )
    print(
        f"{case.video}: {args.people} people, {frames} frames {width}x{height} at {args.fps:g} fps"
    )
    print(
        "| detect every | IDF1 | MOTA | switches | crossings | named right | recall | s "
        "| least boxed by own track | least named | most ids |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for every in (1, 2, 3):
        with Gallery(case.gallery, recognizer=recognizer) as gallery:
            start = time.perf_counter()
            result = track_video(case.video, FaceTracker(recognizer, gallery), every=every)
            seconds = time.perf_counter() - start
        s = score(result.tracks, case.truth)
        people = people_scores(result.tracks, case.truth, max_hidden=0.3).values()
        print(
            f"| {every} | {s['idf1']:.3f} | {s['mota']:.3f} | {s['switches']} | {s['crossings']} "
            f"| {s['named_right']:.3f} | {s['recall']:.3f} | {seconds:.1f} "
            f"| {min(p['covered'] for p in people):.3f} | {min(p['named'] for p in people):.3f} "
            f"| {max(p['tracks'] for p in people)} |"
        )
    if args.bytetrack:
        start = time.perf_counter()
        tracks = bytetrack(case.video, recognizer)
        seconds = time.perf_counter() - start
        s = score(tracks, case.truth)
        print(
            f"| 1, ByteTrack (trackers) | {s['idf1']:.3f} | {s['mota']:.3f} | {s['switches']} "
            f"| {s['crossings']} | - | {s['recall']:.3f} | {seconds:.1f} | | | |"
        )


if __name__ == "__main__":
    main()
