"""Write tests/expected/mtcnn_facenet_pytorch.npz: facenet-pytorch 2.6.0's MTCNN answers.

Run once with facenet-pytorch installed (``pip install --no-deps facenet-pytorch==2.6.0``) and
the shared data beside the repo. The parity tests compare faceprint against this file, so they
don't need facenet-pytorch at test time.

    python scripts/make_expected_mtcnn.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from facenet_pytorch import MTCNN
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the image list lives in tests/
from tests.parity_images import CROP_IMAGES, parity_images  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument(
        "--out", type=Path, default=Path("tests/expected/mtcnn_facenet_pytorch.npz")
    )
    args = parser.parse_args()

    detector = MTCNN(keep_all=True)
    cropper = MTCNN(keep_all=True, post_process=False)
    arrays: dict[str, np.ndarray] = {}
    names = parity_images(args.data)
    for key, path in names.items():
        img = Image.open(path).convert("RGB")
        with torch.no_grad():
            boxes, probs, points = detector.detect(img, landmarks=True)
        if boxes is None:
            boxes, probs, points = np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))
        arrays[f"{key}/boxes"] = np.asarray(boxes, dtype=np.float32)
        arrays[f"{key}/probs"] = np.asarray(probs, dtype=np.float32)
        arrays[f"{key}/points"] = np.asarray(points, dtype=np.float32)
        if key in CROP_IMAGES:
            crops = cropper(img)
            arrays[f"{key}/crops"] = crops.round().clamp(0, 255).to(torch.uint8).numpy()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out}: {len(names)} images")


if __name__ == "__main__":
    main()
