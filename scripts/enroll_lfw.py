"""Enrolment on LFW as `faceprint enroll DIR` does it: how many people get in, and rank-1.

Enrols the first photo of 300 people who have at least 2 photos (random, seed 0, the same
people as ``scripts/gallery_lfw.py``) through ``Gallery.add``, once per face-choice rule, then
searches each of their other photos (its primary face) in the gallery. A person whose photo
was refused counts as a miss for every one of their queries.

    python scripts/enroll_lfw.py --data ../shared/data/lfw [--people 300]
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

import numpy as np

from faceprint.evaluation.verification import people_images, primary_embeddings
from faceprint.gallery import Gallery
from faceprint.pipeline import FaceRecognizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/lfw"))
    parser.add_argument("--people", type=int, default=300)
    args = parser.parse_args()
    people = people_images(args.data / "images")
    candidates = [n for n, imgs in people.items() if len(imgs) >= 2]
    chosen = sorted(random.Random(0).sample(candidates, args.people))
    probes = [(n, p) for n in chosen for p in people[n][1:]]
    recognizer = FaceRecognizer(model="ms-celeb-1m", align="box")
    paths = [p for _, p in probes]
    queries = primary_embeddings(recognizer, paths)
    truth = np.array([n for n, _ in probes])
    print("| rule | enrolled | refused | rank-1 |")
    print("| --- | --- | --- | --- |")
    for rule in ("strict", "dominant", "largest"):
        with (
            tempfile.TemporaryDirectory() as tmp,
            Gallery(Path(tmp) / "g.gallery", recognizer=recognizer) as gallery,
        ):
            refused = 0
            for name in chosen:
                report = gallery.add(name, people[name][0], faces=rule)
                refused += len(report.rejected)
            best = np.array([i.matches[0].name for i in gallery.search(queries, k=1)])
        rank1 = float(np.mean(best == truth))
        print(f"| `{rule}` | {len(chosen) - refused} | {refused} | {rank1:.4f} |")


if __name__ == "__main__":
    main()
