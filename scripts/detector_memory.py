"""The memory a detector's ``detect_batch`` adds on one image of a given size (one run).

Each (detector, megapixels) runs in a process of its own: the detector is built and run once on
a small image, then on ``multiface.jpg`` resized to the asked megapixels, with one torch thread;
the figure is the rise of the process's peak RSS over the second call. The detector figures of
``faceprint serve``'s memory bound (docs/guides/serve.md) come from this script.

    python scripts/detector_memory.py [--data ../shared/data] [--detectors mtcnn centerface]
        [--megapixels 1 4]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

_ONE = """
import resource, sys, time
import numpy as np, torch
from PIL import Image
torch.set_num_threads(1)
from faceprint.detection import create_detector
name, megapixels, path = sys.argv[1], float(sys.argv[2]), sys.argv[3]
image = Image.open(path).convert("RGB")
f = (megapixels * 1e6 / (image.width * image.height)) ** 0.5
image = np.asarray(image.resize((round(image.width * f), round(image.height * f))))
detector = create_detector(name)
detector.detect_batch([np.zeros((64, 64, 3), np.uint8)])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
[found] = detector.detect_batch([image])
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
h, w = image.shape[:2]
print(f"{name:<18} {w}x{h} ({w * h / 1e6:.2f} MP): +{peak - base:.0f} MiB peak RSS over "
      f"{base:.0f} MiB, {len(found)} faces, {seconds:.1f} s")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--detectors", nargs="+", default=["mtcnn", "centerface"])
    parser.add_argument("--megapixels", nargs="+", type=float, default=[1.0, 4.0])
    args = parser.parse_args()
    image = args.data / "samples" / "multiface.jpg"
    for name in args.detectors:
        for megapixels in args.megapixels:
            command = [sys.executable, "-c", _ONE, name, str(megapixels), str(image)]
            print(
                subprocess.run(command, capture_output=True, text=True, check=True).stdout, end=""
            )


if __name__ == "__main__":
    main()
