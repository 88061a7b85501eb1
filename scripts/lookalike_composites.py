"""Look-alikes in one photo: does a composite of two people the model confuses get one name twice?

The gallery of ``scripts/gallery_lfw.py`` (the first photo of each of the 1680 LFW people with
at least 2, embeddings from the evaluation cache). The pairs the model confuses most: for each
other photo of a person B, the nearest enrolled person A other than B; the ``--pairs`` closest
(A, B) pairs, each pair once (how many lie within the open-set threshold is reported).
Each composite puts a photo of A not enrolled and that photo of B side by side (250 x 250 each),
and is identified twice: face by face (each face alone, as before joint assignment) and jointly
(``FaceRecognizer.identify``). Reported: composites with a name given twice, composites where
both faces got their own names, and where A's face kept A. ``--quick P S`` uses the sample of
``scripts/gallery_lfw.py --quick P S`` instead (its embeddings come from the same cache), with P
people enrolled by their first photo.

    python scripts/lookalike_composites.py --data ../shared/data/lfw [--pairs 100] [--quick 60 200]
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from faceprint.evaluation.verification import people_images, primary_embeddings
from faceprint.gallery import UNKNOWN, Gallery
from faceprint.pipeline import FaceRecognizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/lfw"))
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--quick", type=int, nargs=2, metavar=("PEOPLE", "STRANGERS"))
    args = parser.parse_args()
    people = people_images(args.data / "images")
    candidates = [n for n, imgs in people.items() if len(imgs) >= 2]
    strangers = [n for n, imgs in people.items() if len(imgs) == 1]
    if args.quick:  # the sample of scripts/gallery_lfw.py --quick
        many = [n for n in candidates if len(people[n]) >= 8]
        candidates = sorted(random.Random(0).sample(many, args.quick[0]))
        strangers = sorted(random.Random(0).sample(strangers, args.quick[1]))
        people = {n: people[n][:12] for n in candidates} | {n: people[n] for n in strangers}
    paths = sorted({p for n in candidates for p in people[n]} | {people[n][0] for n in strangers})
    recognizer = FaceRecognizer()
    emb = dict(zip(paths, primary_embeddings(recognizer, paths), strict=True))

    with (
        tempfile.TemporaryDirectory() as tmp,
        Gallery(Path(tmp) / "lfw.gallery", recognizer=recognizer) as gallery,
    ):
        for name in candidates:
            gallery.add_embeddings(name, emb[people[name][0]][None], [str(people[name][0])])
        threshold = gallery.threshold
        probes = [(n, p) for n in candidates for p in people[n][1:]]
        answers = gallery.search(np.stack([emb[p] for _, p in probes]), k=2)
        confused = []
        for (b, photo), answer in zip(probes, answers, strict=True):
            other = next(m for m in answer.matches if m.name != b)
            confused.append((other.distance, other.name, b, photo))
        confused.sort()
        chosen, seen = [], set()
        for _, a, b, photo in confused:
            if frozenset((a, b)) not in seen:
                seen.add(frozenset((a, b)))
                chosen.append((a, b, photo))
            if len(chosen) == args.pairs:
                break
        within = sum(d < threshold for d, *_ in confused)
        print(f"{within} of {len(confused)} photos lie within the threshold ({threshold:.3f}) of")
        print(f"another person; the {len(chosen)} closest pairs of people make the composites")

        counts = {"alone": [0, 0, 0], "joint": [0, 0, 0], "faces": 0}
        for a, b, photo in chosen:
            composite = Image.new("RGB", (500, 250))
            composite.paste(Image.open(people[a][1]).convert("RGB"), (0, 0))
            composite.paste(Image.open(photo).convert("RGB"), (250, 0))
            found = recognizer.identify(composite, gallery)
            if len(found) < 2:
                continue
            counts["faces"] += 1
            # The two subjects: the face nearest each half's centre.
            left = min(found, key=lambda fw: abs((fw[0].box[0] + fw[0].box[2]) / 2 - 125))
            right = min(found, key=lambda fw: abs((fw[0].box[0] + fw[0].box[2]) / 2 - 375))
            alone = gallery.search(np.stack([f.embedding for f, _ in found]))
            for key, named in (("alone", alone), ("joint", [w for _, w in found])):
                given = [w.name for w in named if w.name != UNKNOWN]
                by_face = {id(f): w.name for (f, _), w in zip(found, named, strict=True)}
                counts[key][0] += len(given) != len(set(given))
                counts[key][1] += by_face[id(left[0])] == a and by_face[id(right[0])] == b
                counts[key][2] += by_face[id(left[0])] == a
        n = counts["faces"]
        print(f"{n} composites with both faces found")
        print("| faces named | a name twice | both right | A's face named A |")
        print("| --- | --- | --- | --- |")
        for key, label in (("alone", "one by one (before)"), ("joint", "jointly (after)")):
            twice, both, first = counts[key]
            print(f"| {label} | {twice} ({twice / n:.0%}) | {both} | {first} |")


if __name__ == "__main__":
    main()
