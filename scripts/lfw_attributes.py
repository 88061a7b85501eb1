"""Gender accuracy of faceprint's attribute networks on LFW, with published per-image labels.

Labels: Afifi & Abdelhamed's manually verified LFW gender lists (``male_names.txt``,
``female_names.txt``; AFIF4, arXiv:1706.04277), one image name per line; e.g. the copies in
github.com/sushii2001/DeepFace-gender-bias-detection (``etc/``). LFW has no ages, so no MAE.

The first image of each person of a people file is scored: ``peopleDevTrain.txt`` (View 1's
training people) to choose crop margins, ``peopleDevTest.txt`` (disjoint people) to report.
Detections are cached (``--cache``), so trying other margins costs only the networks.

    python scripts/lfw_attributes.py --data ../shared/data/lfw --labels DIR [--people FILE]
        [--age-gender-margin M] [--emotion-margin M] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

from faceprint import MTCNN
from faceprint.attributes import AttributeAnalyzer
from faceprint.images import load_image


def labelled_images(data: Path, people: Path, labels: Path) -> list[tuple[Path, str]]:
    """(first image of each person, "male"/"female") for the people with a label."""
    gender = {}
    for name in ("male", "female"):
        for line in (labels / f"{name}_names.txt").read_text().split():
            gender[line.strip()] = name
    out = []
    for line in people.read_text().splitlines()[1:]:
        person = line.split("\t")[0]
        image = f"{person}_0001.jpg"
        if image in gender:
            out.append((data / "images" / person / image, gender[image]))
    return out


def central_detections(images: list[Path], cache: Path) -> np.ndarray:
    """``(N, 4)`` box of the detection nearest each image's centre (NaN where none)."""
    if cache.is_file():
        with np.load(cache) as f:
            if list(f["paths"]) == [str(p) for p in images]:
                return f["boxes"]
    detector = MTCNN(keep_all=True)
    boxes = np.full((len(images), 4), np.nan, np.float32)
    for i, path in enumerate(tqdm(images, desc="detecting")):
        image = load_image(path)
        found, _ = detector.detect(image)
        if found is None:
            continue
        centres = (found[:, :2] + found[:, 2:]) / 2
        middle = np.array([image.width, image.height]) / 2
        boxes[i] = found[np.argmin(np.linalg.norm(centres - middle, axis=1))]
    np.savez(cache, paths=np.array([str(p) for p in images]), boxes=boxes)
    return boxes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/lfw"))
    parser.add_argument("--labels", type=Path, required=True, help="folder of the two lists")
    parser.add_argument("--people", type=Path, help="default DATA/peopleDevTest.txt")
    parser.add_argument("--age-gender-margin", type=float)
    parser.add_argument("--emotion-margin", type=float)
    parser.add_argument("--limit", type=int, help="score this many people, evenly spread")
    parser.add_argument("--cache", type=Path, help="detections cache (.npz)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    people = args.people or args.data / "peopleDevTest.txt"
    items = labelled_images(args.data, people, args.labels)
    if args.limit and args.limit < len(items):
        items = [items[i] for i in np.linspace(0, len(items) - 1, args.limit).astype(int)]
    cache = args.cache or Path(f"/tmp/faceprint-lfw-attributes-{people.stem}-{len(items)}.npz")
    boxes = central_detections([p for p, _ in items], cache)
    analyzer = AttributeAnalyzer()
    if args.age_gender_margin is not None:
        analyzer.age_gender_alignment = dataclasses.replace(
            analyzer.age_gender_alignment, margin=args.age_gender_margin
        )
    if args.emotion_margin is not None:
        analyzer.emotion_alignment = dataclasses.replace(
            analyzer.emotion_alignment, margin=args.emotion_margin
        )
    right = {"male": [0, 0], "female": [0, 0]}
    ages, emotions, missed = [], Counter(), 0
    for (path, truth), box in zip(tqdm(items, desc="analysing"), boxes, strict=True):
        if np.isnan(box).any():
            missed += 1
            continue
        [found] = analyzer.analyze(load_image(path), [box])
        right[truth][0] += found.gender == truth
        right[truth][1] += 1
        ages.append(found.age)
        emotions[found.emotion] += 1
    total = sum(n for _, n in right.values())
    report = {
        "people_file": people.name,
        "images": len(items),
        "missed_detections": missed,
        "gender_accuracy": sum(r for r, _ in right.values()) / total,
        "male_accuracy": right["male"][0] / right["male"][1],
        "female_accuracy": right["female"][0] / right["female"][1],
        "males": right["male"][1],
        "females": right["female"][1],
        "mean_age": float(np.mean(ages)),
        "emotions": dict(emotions.most_common()),
        "age_gender_crop": analyzer.age_gender_alignment.parameters(),
        "emotion_crop": analyzer.emotion_alignment.parameters(),
    }
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
