"""The whole video job against facenet-pytorch's example loop, in the same run.

faceprint: ``faceprint video IN --out OUT`` as a library call: decode, detect in batches (faces
large enough to recognise), track, embed (track starts, crossings), write the annotated H.264
video in a second decoding pass. Detection every frame, and at the default (about 12.5
detections per second: every 2nd frame at 25 fps).

facenet-pytorch, as its ``face_tracking`` example does it with PyAV: decode, ``mtcnn.detect``
per frame (``MTCNN(keep_all=True)``), draw the boxes with PIL, encode H.264; and, its other
mode, ``mtcnn.detect`` on batches of 8 frames. The faster of the two is the ratio's base.

Then the synthetic crossing clip (``faceprint.video.synthetic``, layout ``crossing``: three
people, two crossing each other and hiding the third, whose face is 30-34 px), named from a
gallery of other photos, at the default detection rate: per person, the share of frames (at
most 30% of the face hidden) boxed by their own track and named right, and their track ids;
IDF1 and MOTA (py-motmetrics); and the job's speed against facenet-pytorch's loop on the same
clip, in the same run.

    python benchmarks/video.py [--frames 105] [--heights 1080,720,540] [--parts samples,crossing]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import DATA, cpu_path, peer  # noqa: E402

from faceprint import FaceRecognizer  # noqa: E402
from faceprint.gallery import Gallery  # noqa: E402
from faceprint.video import (  # noqa: E402
    FaceTracker,
    VideoTracks,
    VideoWriter,
    probe,
    read_frames,
    track_video,
    write_annotated,
)
from faceprint.video.synthetic import build_case, people_scores, score  # noqa: E402


def transcode(source: Path, height: int, frames: int, out: Path) -> Path:
    """The first ``frames`` frames of ``source`` at ``height`` (16:9), as an H.264 MP4."""
    info = probe(source)
    width = round(info.width * height / info.height / 2) * 2
    with VideoWriter(out, width, height, info.fps) as writer:
        for frame in read_frames(source):
            if frame.index >= frames:
                break
            image = Image.fromarray(frame.image)
            if height != info.height:
                image = image.resize((width, height), Image.BILINEAR)
            writer.write(np.asarray(image))
    return out


def ours(
    video: Path, out: Path, every: int | None, gallery: Gallery | None = None
) -> tuple[float, VideoTracks]:
    recognizer = gallery.recognizer if gallery is not None else FaceRecognizer()
    start = time.perf_counter()
    result = track_video(video, FaceTracker(recognizer, gallery), every=every)
    write_annotated(video, result, out)
    return time.perf_counter() - start, result


def theirs(video: Path, out: Path, batch: int) -> tuple[float, int]:
    mtcnn = peer().MTCNN(keep_all=True)
    info = probe(video)
    start = time.perf_counter()
    faces = 0

    def draw(image: Image.Image, boxes) -> np.ndarray:
        drawn = image.copy()
        painter = ImageDraw.Draw(drawn)
        for box in [] if boxes is None else boxes:
            painter.rectangle(box.tolist(), outline=(255, 0, 0), width=6)
        return np.asarray(drawn)

    with VideoWriter(out, info.width, info.height, info.fps) as writer:
        pending = []
        for frame in read_frames(video):
            pending.append(Image.fromarray(frame.image))
            if len(pending) < batch:
                continue
            found = [mtcnn.detect(pending[0])[0]] if batch == 1 else mtcnn.detect(pending)[0]
            for image, boxes in zip(pending, found, strict=True):
                faces += 0 if boxes is None else len(boxes)
                writer.write(draw(image, boxes))
            pending = []
        if pending:
            for image, boxes in zip(pending, mtcnn.detect(pending)[0], strict=True):
                writer.write(draw(image, boxes))
    return time.perf_counter() - start, faces


def samples_table(frames: int, heights: str, work: Path) -> None:
    print(f"samples/video.mp4, first {frames} frames, whole job incl. decode and encode\n")
    print(
        f"{'video':<7} {'faceprint every frame':>22} {'faceprint default':>18} "
        f"{'peer 1-by-1':>12} {'peer batch 8':>13} {'ratio every':>12} {'ratio default':>14}"
    )
    for height in (int(h) for h in heights.split(",")):
        video = transcode(DATA / "samples" / "video.mp4", height, frames, work / "in.mp4")
        every, result = ours(video, work / "a.mp4", every=1)
        default, _ = ours(video, work / "b.mp4", every=None)
        one, _ = theirs(video, work / "c.mp4", batch=1)
        batched, _ = theirs(video, work / "d.mp4", batch=8)
        base = min(one, batched)
        fps = [frames / t for t in (every, default, one, batched)]
        print(
            f"{height}p   {fps[0]:>15.2f} fps   {fps[1]:>11.2f} fps {fps[2]:>8.2f} fps "
            f"{fps[3]:>9.2f} fps {base / every:>11.2f}x {base / default:>13.2f}x"
            f"   ({len(result.tracks)} tracks)"
        )


def crossing_table(work: Path) -> None:
    """Quality and speed on the synthetic crossing clip (960x540, 25 fps, 120 frames)."""
    case = build_case(
        DATA / "lfw" / "images",
        work / "crossing",
        people=3,
        frames=120,
        recognizer=FaceRecognizer(precision="fp32"),
        layout="crossing",
    )
    frames = 120
    print("\nsynthetic crossing clip: 3 people, 960x540, 25 fps, 120 frames, named from a gallery")
    with Gallery(case.gallery) as gallery:
        seconds, result = ours(case.video, work / "e.mp4", every=None, gallery=gallery)
    one, _ = theirs(case.video, work / "f.mp4", batch=1)
    batched, _ = theirs(case.video, work / "g.mp4", batch=8)
    s = score(result.tracks, case.truth)
    print(
        f"faces detected in 1 of every {result.every} frames; IDF1 {s['idf1']:.3f}, "
        f"MOTA {s['mota']:.3f}, {s['switches']} identity switches, {s['crossings']} crossings"
    )
    print(f"{'person':<16} {'frames':>6} {'boxed by own track':>19} {'named right':>12} {'ids':>4}")
    for name, p in people_scores(result.tracks, case.truth, max_hidden=0.3).items():
        print(
            f"{name:<16} {p['frames']:>6} {p['covered']:>19.3f} {p['named']:>12.3f} "
            f"{p['tracks']:>4}"
        )
    base = min(one, batched)
    print(
        f"speed, whole job: faceprint {frames / seconds:.2f} fps, facenet-pytorch 1-by-1 "
        f"{frames / one:.2f} fps, batch 8 {frames / batched:.2f} fps: {base / seconds:.2f}x "
        "its best mode"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=105)
    parser.add_argument("--heights", default="1080,720,540")
    parser.add_argument("--parts", default="samples,crossing")
    args = parser.parse_args()
    print(f"{cpu_path()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    parts = args.parts.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        if "samples" in parts:
            samples_table(args.frames, args.heights, Path(tmp))
        if "crossing" in parts:
            crossing_table(Path(tmp))


if __name__ == "__main__":
    main()
