"""Where one thread's detection time goes, stage by stage, on frames of ``samples/video.mp4``.

    python benchmarks/detection_stages.py [--height 1080] [--frames 4]

Runs the cascade (``faceprint.detection.stages.detect_faces``) one frame at a time on one
thread, as each of MTCNN's CPU workers does, and prints milliseconds per frame for the pyramid,
P-Net, its grid boxes and NMS, the candidate crops and R-Net and O-Net. The timers wrap the
stages in place (this script only), so the answers are the library's own.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import cpu_path, video_frames  # noqa: E402

from faceprint import MTCNN  # noqa: E402
from faceprint.detection import cpu_kernels, stages  # noqa: E402

SECONDS: defaultdict[str, float] = defaultdict(float)


def timed(function, stage: str):
    def run(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            SECONDS[stage] += time.perf_counter() - start

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--frames", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.set_grad_enabled(False)
    mtcnn = MTCNN(keep_all=True)
    for net, stage in ((mtcnn.pnet, "P-Net"), (mtcnn.rnet, "R-Net"), (mtcnn.onet, "O-Net")):
        net.forward = timed(net.forward, stage)
    stages._crops = timed(stages._crops, "crops")
    stages._grid_boxes = timed(stages._grid_boxes, "grid boxes")
    cpu_kernels.grid_nms = timed(cpu_kernels.grid_nms, "grid NMS")
    resizer = cpu_kernels.area_resizer
    cpu_kernels.area_resizer = lambda images: (
        None if (resize := resizer(images)) is None else timed(resize, "pyramid")
    )
    frames = video_frames(args.height, args.frames)
    images = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float()
    stages.detect_faces(images[:1], mtcnn.pnet, mtcnn.rnet, mtcnn.onet)  # warm-up
    SECONDS.clear()
    start = time.perf_counter()
    for i in range(len(frames)):
        stages.detect_faces(images[i : i + 1], mtcnn.pnet, mtcnn.rnet, mtcnn.onet)
    total = (time.perf_counter() - start) / len(frames) * 1000
    print(f"{cpu_path()}; {args.height}p, {len(frames)} frames, 1 thread: {total:.0f} ms a frame")
    for stage, seconds in sorted(SECONDS.items(), key=lambda item: -item[1]):
        ms = seconds / len(frames) * 1000
        print(f"  {stage:<11} {ms:6.1f} ms  {ms / total:4.0%}")
    rest = total - sum(SECONDS.values()) / len(frames) * 1000
    print(f"  {'the rest':<11} {rest:6.1f} ms  {rest / total:4.0%}")


if __name__ == "__main__":
    main()
