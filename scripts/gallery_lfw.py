"""Identification on LFW through the Gallery: rank-1, and the open-set threshold's realized FAR.

Enrols one image of each of N people who have at least 2 images (N = 100 and 300 at random,
seed 0, and all 1680), queries with each of their other images, and uses every image of the
4069 people with a single image (never enrolled) as impostors. For each N it reports rank-1,
the gallery's default open-set threshold (``far``, read off the model's View 1 impostor
distribution for N identities), the false-alarm rate it realizes on the impostors, and the
detection-and-identification rate (DIR) at it; beside them, the oracle threshold that gives
exactly ``far`` on these impostors and its DIR.

Each size is measured under each of the gallery's rules (:data:`faceprint.gallery.core.RULES`):
``faces`` is the rule of before (a person's distance is that of their closest face). With
one photo enrolled per person a template is that photo, so the rules agree there;
``--templates`` adds the measurement that is to choose the default rule: every one of the
1680 people enrolled with up to 4 photos (at most half of theirs, at least one), the rest of
theirs as probes, the same 4069 impostors. ``--quick P S`` runs that
comparison alone on a sample that a busy machine can embed: P people with at least 8 photos
(seed 0; 4 enrolled, the rest probes) and S of the single-photo people as impostors.

    python scripts/gallery_lfw.py --data ../shared/data/lfw [--model M] [--align box] \
        [--people 100 300 0] [--templates] [--quick 60 200]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from faceprint.evaluation.verification import people_images, primary_embeddings
from faceprint.gallery import Gallery
from faceprint.gallery.core import DEFAULT_FAR, OPEN_SET_DECISIONS, RULES
from faceprint.pipeline import FaceRecognizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/lfw"))
    parser.add_argument("--model", default="ms-celeb-1m")
    parser.add_argument("--align", default=None, help="default: the model's own")
    parser.add_argument(
        "--people",
        type=int,
        nargs="+",
        default=[100, 300, 0],
        help="gallery sizes: enrol this many people (random, seed 0); 0 = all 1680",
    )
    parser.add_argument("--far", type=float, default=DEFAULT_FAR, help="open-set false-alarm rate")
    parser.add_argument(
        "--open-set",
        choices=OPEN_SET_DECISIONS,
        default="distance",
        help="the gallery's open-set decision (margin: d1 - beta * d2 against its threshold)",
    )
    parser.add_argument(
        "--templates",
        action="store_true",
        help="also enrol up to 4 photos per person and compare the rules",
    )
    parser.add_argument(
        "--quick",
        type=int,
        nargs=2,
        metavar=("PEOPLE", "STRANGERS"),
        help="only compare the rules, on a sample of people with 8+ photos and strangers",
    )
    args = parser.parse_args()
    people = people_images(args.data / "images")
    candidates = [n for n, imgs in people.items() if len(imgs) >= 2]
    strangers = [n for n, imgs in people.items() if len(imgs) == 1]
    if args.quick:
        many = [n for n in candidates if len(people[n]) >= 8]
        candidates = sorted(random.Random(0).sample(many, args.quick[0]))
        strangers = sorted(random.Random(0).sample(strangers, args.quick[1]))
        args.people, args.templates = [], True
        # 4 enrolled, at most 8 probes each, so that no one person dominates.
        people = {n: people[n][:12] for n in candidates} | {n: people[n] for n in strangers}
    paths = sorted({p for n in candidates for p in people[n]} | {people[n][0] for n in strangers})

    recognizer = FaceRecognizer(model=args.model, align=args.align)
    started = time.perf_counter()
    emb = dict(zip(paths, primary_embeddings(recognizer, paths), strict=True))
    print(f"embedded {len(paths)} images in {time.perf_counter() - started:.0f} s")
    print(
        f"{recognizer.name}, far {args.far}, open set by {args.open_set}, "
        f"{len(strangers)} impostors"
    )
    header = "| enrolled | probes | rule | rank-1 | threshold | realized FAR | DIR | oracle | DIR |"
    print(header)
    print("| --- " * (header.count("|") - 1) + "|")
    for size in args.people:
        enrolled = sorted(random.Random(0).sample(candidates, size)) if size else candidates
        split = {n: 1 for n in enrolled}
        for rule in RULES:
            row = _measure(recognizer, people, split, strangers, emb, args.far, rule, args.open_set)
            print("| " + " | ".join(row) + " |", flush=True)
    if args.templates:
        split = {n: min(4, len(people[n]) // 2) for n in candidates}
        print(f"\n{sum(split.values())} photos of {len(split)} people enrolled (up to 4 each)")
        print(header)
        print("| --- " * (header.count("|") - 1) + "|")
        for rule in RULES:
            row = _measure(recognizer, people, split, strangers, emb, args.far, rule, args.open_set)
            print("| " + " | ".join(row) + " |", flush=True)


def _measure(recognizer, people, split, strangers, emb, far, rule, open_set) -> list[str]:
    """Enrol the first ``split[name]`` photos of each person, probe with the rest. Under the
    margin decision the threshold and the oracle are on the margin score."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        Gallery(
            Path(tmp) / "lfw.gallery",
            recognizer=recognizer,
            far=far,
            rule=rule,
            open_set=open_set,
        ) as gallery,
    ):
        for name, count in split.items():
            photos = people[name][:count]
            gallery.add_embeddings(name, np.stack([emb[p] for p in photos]), list(map(str, photos)))
        probes = [(n, p) for n, count in split.items() for p in people[n][count:]]
        genuine = gallery.search(np.stack([emb[p] for _, p in probes]), k=1)
        impostor = gallery.search(np.stack([emb[people[n][0]] for n in strangers]), k=1)
        threshold = genuine[0].threshold

    def score(ident) -> float:
        return ident.distance if ident.score is None else ident.score

    truth = np.array([n for n, _ in probes])
    best = np.array([g.matches[0].name for g in genuine])
    dist = np.array([score(g) for g in genuine])
    impostor_dist = np.sort([score(i) for i in impostor])
    oracle = impostor_dist[int(far * len(impostor_dist))]  # a fraction far come closer
    return [
        f"{len(split)}",
        f"{len(probes)}",
        rule,
        f"{np.mean(best == truth):.4f}",
        f"{threshold:.3f}",
        f"{np.mean(impostor_dist < threshold):.4f}",
        f"{np.mean((best == truth) & (dist < threshold)):.4f}",
        f"{oracle:.3f}",
        f"{np.mean((best == truth) & (dist < oracle)):.4f}",
    ]


if __name__ == "__main__":
    main()
