"""The whole video job against facenet-pytorch's example loop, in the same run.

faceprint: ``faceprint video IN --out OUT`` as a library call: decode, detect in batches (faces
large enough to recognise), track, embed (track starts, crossings), write the annotated H.264
video in a second decoding pass. Detection every frame, and at the default (about 12.5
detections per second: every 2nd frame at 25 fps).

facenet-pytorch, as its ``face_tracking`` example does it with PyAV: decode, ``mtcnn.detect``
per frame (``MTCNN(keep_all=True)``), draw the boxes with PIL, encode H.264; and, its other
mode, ``mtcnn.detect`` on batches of 8 frames. The faster of the two is the ratio's base.

    python benchmarks/video.py [--frames 105] [--heights 1080,720,540]
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
from faceprint.video import (  # noqa: E402
    FaceTracker,
    VideoWriter,
    probe,
    read_frames,
    track_video,
    write_annotated,
)


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


def ours(video: Path, out: Path, every: int | None) -> tuple[float, int]:
    start = time.perf_counter()
    result = track_video(video, FaceTracker(FaceRecognizer()), every=every)
    write_annotated(video, result, out)
    return time.perf_counter() - start, len(result.tracks)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=105)
    parser.add_argument("--heights", default="1080,720,540")
    args = parser.parse_args()
    print(f"{cpu_path()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"samples/video.mp4, first {args.frames} frames, whole job incl. decode and encode\n")
    print(
        f"{'video':<7} {'faceprint every frame':>22} {'faceprint default':>18} "
        f"{'peer 1-by-1':>12} {'peer batch 8':>13} {'ratio every':>12} {'ratio default':>14}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for height in (int(h) for h in args.heights.split(",")):
            video = transcode(DATA / "samples" / "video.mp4", height, args.frames, work / "in.mp4")
            every, tracks = ours(video, work / "a.mp4", every=1)
            default, _ = ours(video, work / "b.mp4", every=None)
            one, _ = theirs(video, work / "c.mp4", batch=1)
            batched, _ = theirs(video, work / "d.mp4", batch=8)
            base = min(one, batched)
            fps = [args.frames / t for t in (every, default, one, batched)]
            print(
                f"{height}p   {fps[0]:>15.2f} fps   {fps[1]:>11.2f} fps {fps[2]:>8.2f} fps "
                f"{fps[3]:>9.2f} fps {base / every:>11.2f}x {base / default:>13.2f}x"
                f"   ({tracks} tracks)"
            )


if __name__ == "__main__":
    main()
