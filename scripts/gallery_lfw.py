"""Identification accuracy on LFW through the Gallery: closed-set rank-1 and open-set DIR@FAR.

Enrols one image of each person who has at least 2 images (1680 people), queries with each of
their other images, and uses every image of the people with a single image (never enrolled)
as impostors for the open-set figure.

    python scripts/gallery_lfw.py --data ../shared/data/lfw [--align box] [--people 1680]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from faceprint.evaluation.verification import detect_primary_faces, embed_primary_faces
from faceprint.gallery import Gallery
from faceprint.pipeline import FaceRecognizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/lfw"))
    parser.add_argument("--model", default="ms-celeb-1m")
    parser.add_argument("--align", default="box")
    parser.add_argument(
        "--people",
        type=int,
        default=0,
        help="enrol only this many people (random, seed 0); 0 = all",
    )
    args = parser.parse_args()
    people = {
        d.name: sorted(d.glob("*.jpg"))
        for d in sorted((args.data / "images").iterdir())
        if d.is_dir()
    }
    enrolled = [n for n, imgs in people.items() if len(imgs) >= 2]
    if args.people:
        enrolled = sorted(random.Random(0).sample(enrolled, args.people))
    strangers = [n for n, imgs in people.items() if len(imgs) == 1]
    paths = sorted({p for n in enrolled for p in people[n]} | {people[n][0] for n in strangers})

    recognizer = FaceRecognizer(model=args.model, align=args.align)
    started = time.perf_counter()
    detections = None if args.align == "none" else detect_primary_faces(recognizer, paths)
    emb = dict(zip(paths, embed_primary_faces(recognizer, paths, detections), strict=True))
    print(
        f"embedded {len(paths)} images in {time.perf_counter() - started:.0f} s (cached runs "
        "are instant)"
    )

    with (
        tempfile.TemporaryDirectory() as tmp,
        Gallery(Path(tmp) / "lfw.gallery", recognizer=recognizer) as gallery,
    ):
        for name in enrolled:
            gallery.add_embeddings(name, emb[people[name][0]][None], [str(people[name][0])])
        probes = [(n, p) for n in enrolled for p in people[n][1:]]
        genuine = gallery.search(np.stack([emb[p] for _, p in probes]), k=1)
        impostor = gallery.search(np.stack([emb[people[n][0]] for n in strangers]), k=1)

    truth = np.array([n for n, _ in probes])
    best = np.array([g.matches[0].name for g in genuine])
    dist = np.array([g.matches[0].distance for g in genuine])
    rank1 = float(np.mean(best == truth))
    impostor_dist = np.sort([i.matches[0].distance for i in impostor])
    t = impostor_dist[int(0.01 * len(impostor_dist))]  # 1% of impostors come closer than t
    dir_at_far = float(np.mean((best == truth) & (dist < t)))
    at_threshold = float(np.mean((best == truth) & (dist < gallery.threshold)))
    far_at_threshold = float(np.mean(impostor_dist < gallery.threshold))
    print(
        f"{recognizer.name}: {len(enrolled)} people enrolled, {len(probes)} probes, "
        f"{len(strangers)} impostors"
    )
    print(f"rank-1 accuracy {rank1:.4f}")
    print(f"open-set DIR at FAR=1% {dir_at_far:.4f} (threshold {t:.3f})")
    print(
        f"at the calibrated threshold {gallery.threshold:.3f}: DIR {at_threshold:.4f}, FAR "
        f"{far_at_threshold:.4f}"
    )


if __name__ == "__main__":
    main()
