"""Peak memory of `faceprint video` on a 1-minute and a 10-minute synthetic video, each in a
fresh process: it must stay flat (within 10%) however long the video.

The 10-minute video is the 1-minute one (6 LFW people walking, crossing, entering and leaving)
played ten times, so ten times as many tracks pass through.

    python benchmarks/video_memory.py --data ../shared/data/lfw [--size 640x360] [--fps 10]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from faceprint.video import VideoWriter, probe, read_frames
from faceprint.video.synthetic import build_case

JOB = """
import json, resource, sys
from faceprint.gallery import Gallery
from faceprint.video import FaceTracker, track_video, write_annotated
video, gallery, out = sys.argv[1:4]
with Gallery(gallery) as g:
    result = track_video(video, FaceTracker(g.recognizer, g))
write_annotated(video, result, out)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"peak_mb": peak, "frames": result.frames, "tracks": len(result.tracks)}))
"""


def loop(video: Path, times: int, out: Path) -> Path:
    info = probe(video)
    with VideoWriter(out, info.width, info.height, info.fps) as writer:
        for _ in range(times):
            for frame in read_frames(video):
                writer.write(frame.image)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/lfw"))
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--fps", type=float, default=10.0)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    images = args.data / "images" if (args.data / "images").is_dir() else args.data
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        case = build_case(images, work, 6, round(60 * args.fps), width, height, args.fps)
        long = loop(case.video, 10, work / "ten.mp4")
        rows = []
        for label, video in (("1 minute", case.video), ("10 minutes", long)):
            command = [
                sys.executable,
                "-c",
                JOB,
                str(video),
                str(case.gallery),
                str(work / "o.mp4"),
            ]
            out = subprocess.run(command, capture_output=True, text=True, check=True)
            rows.append((label, json.loads(out.stdout.strip().splitlines()[-1])))
    print(f"{'video':<11} {'frames':>7} {'tracks':>7} {'peak RSS':>10}")
    for label, r in rows:
        print(f"{label:<11} {r['frames']:>7} {r['tracks']:>7} {r['peak_mb']:>7.0f} MiB")
    growth = rows[1][1]["peak_mb"] / rows[0][1]["peak_mb"] - 1
    print(f"10 minutes vs 1 minute: {growth:+.1%}")


if __name__ == "__main__":
    main()
