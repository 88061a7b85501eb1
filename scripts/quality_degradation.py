"""Does face quality fall as a photo degrades, and does it rank photos by how well they match?

Photos the fits never saw: the people of LFW View 1's test split (``peopleDevTest.txt``) with at
least two images, and the four portraits of ``samples/test_images``. Each probe photo is
degraded in steps of three kinds: downscaled and resized back, Gaussian blur, JPEG quality.
The face keeps the box and landmarks found on the clean photo (the same face, made worse).

For every probe and step the script records each candidate's quality and the L2 distance to
the person's clean reference: for an LFW person, their first image (a different photo); for a
portrait, its own clean photo. It prints the mean quality per step (it should fall with each
step) and the Spearman correlation between quality and distance over all probes and steps
(quality should rank photos by how well they match: strongly negative).

    nice -n 19 python scripts/quality_degradation.py --data ../shared/data [--people 150]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from scipy.stats import spearmanr
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure_quality import score_faces  # noqa: E402

from faceprint import quality  # noqa: E402
from faceprint.evaluation.verification import people_images  # noqa: E402
from faceprint.images import load_image  # noqa: E402
from faceprint.pipeline import FaceRecognizer  # noqa: E402
from faceprint.weights.loading import get_weights  # noqa: E402


def downscale(image: Image.Image, factor: float) -> Image.Image:
    """Shrink by ``factor`` (bilinear) and resize back (bilinear)."""
    if factor == 1:
        return image
    small = image.resize(
        (max(1, round(image.width / factor)), max(1, round(image.height / factor))),
        Image.BILINEAR,
    )
    return small.resize(image.size, Image.BILINEAR)


def blur(image: Image.Image, sigma: float) -> Image.Image:
    """Gaussian blur of ``sigma`` pixels per 250 px of the image's shorter side."""
    if sigma == 0:
        return image
    return image.filter(ImageFilter.GaussianBlur(sigma * min(image.size) / 250))


def jpeg(image: Image.Image, level: int) -> Image.Image:
    """Re-encoded as JPEG at ``level`` (100: untouched)."""
    if level == 100:
        return image
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=level)
    return Image.open(buffer).convert("RGB")


#: Each degradation's steps, mildest first (the first is the clean photo).
STEPS = {
    "downscale": (downscale, (1, 2, 4, 6, 8)),
    "blur": (blur, (0, 1, 2, 3, 4)),
    "jpeg": (jpeg, (100, 10, 6, 4, 2)),
}


def candidate_scores(raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each candidate's quality in [0, 1] from :func:`score_faces`' measurements."""
    spread = raw[f"spread_{quality.SERFIQ_DROPOUT}"]
    head = quality.load_quality_head(get_weights("ms-celeb-1m").quality_head)
    return {
        "serfiq+embedding": quality.embedding_quality(raw["embeddings"], spread, head),
        "serfiq": quality.serfiq_quality(spread),
        "heuristic": quality.heuristic_quality(raw["features"]),
        "norm": quality.norm_quality(raw["norms"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    parser.add_argument("--people", type=int, default=150, help="LFW test people to use")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()
    recognizer = FaceRecognizer(precision="fp32")
    lfw = args.data / "lfw"
    test_names = [
        line.split()[0]
        for line in (lfw / "peopleDevTest.txt").read_text().splitlines()[1:]
        if line.strip() and int(line.split()[1]) >= 2
    ]
    rng = np.random.default_rng(0)
    chosen = sorted(rng.choice(test_names, min(args.people, len(test_names)), replace=False))
    people = people_images(lfw / "images")
    # (reference photo or None: the probe itself, clean; probe photo)
    subjects = [(people[n][0], people[n][1]) for n in chosen]
    subjects += [(None, p) for p in sorted((args.data / "samples" / "test_images").glob("*/1.jpg"))]
    records = []
    for reference, probe in tqdm(subjects, desc="degrading", unit="photo"):
        clean = load_image(probe)
        regions = recognizer.detect_regions([clean])[0]
        if not regions:
            continue
        region = max(regions, key=lambda r: float((r.box[2] - r.box[0]) * (r.box[3] - r.box[1])))
        images = [clean]
        if reference is not None:
            ref_image = load_image(reference)
            found = recognizer.detect_regions([ref_image])[0]
            if not found:
                continue
            ref_region = found[0]
        names = []
        for kind, (degrade, steps) in STEPS.items():
            for level in steps[1:]:
                images.append(degrade(clean, level))
                names.append((kind, level))
        boxes = [region.box] * len(images)
        marks = [region.landmarks] * len(images)
        raw = score_faces(recognizer, images, boxes, marks)
        if reference is None:
            ref_embedding = raw["embeddings"][0]
        else:
            ref_embedding = score_faces(
                recognizer, [ref_image], [ref_region.box], [ref_region.landmarks]
            )["embeddings"][0]
        distances = np.linalg.norm(raw["embeddings"] - ref_embedding, axis=1)
        scores = candidate_scores(raw)
        rows = [("clean", 0)] + names
        for j, (kind, level) in enumerate(rows):
            records.append(
                {
                    "photo": str(probe),
                    "lfw": reference is not None,
                    "kind": kind,
                    "level": level,
                    "distance": float(distances[j]),
                    **{name: float(s[j]) for name, s in scores.items()},
                }
            )
    report = summarise(records)
    if args.json:
        args.json.write_text(json.dumps({"summary": report, "records": records}, indent=1))


def summarise(records: list[dict]) -> dict:
    """Print and return the mean quality per step and the rank correlations."""
    report: dict = {"photos": len({r["photo"] for r in records}), "steps": {}, "spearman": {}}
    print(f"{report['photos']} photos")
    report["distance"] = {}
    print("\nmean distance to the reference per step (clean first)")
    for kind, (_, steps) in STEPS.items():
        means = [float(np.mean([r["distance"] for r in records if r["kind"] == "clean"]))] + [
            float(
                np.mean([r["distance"] for r in records if r["kind"] == kind and r["level"] == s])
            )
            for s in steps[1:]
        ]
        report["distance"][kind] = means
        print(f"  {kind:9s} {' < '.join(f'{m:.3f}' for m in means)}")
    for candidate in ("serfiq+embedding", "serfiq", "heuristic", "norm"):
        print(f"\n{candidate}: mean quality per step (clean first)")
        for kind, (_, steps) in STEPS.items():
            means = [float(np.mean([r[candidate] for r in records if r["kind"] == "clean"]))] + [
                float(
                    np.mean(
                        [r[candidate] for r in records if r["kind"] == kind and r["level"] == s]
                    )
                )
                for s in steps[1:]
            ]
            falls = all(b < a for a, b in zip(means, means[1:], strict=False))
            report["steps"].setdefault(candidate, {})[kind] = {"means": means, "falls": falls}
            print(f"  {kind:9s} {' > '.join(f'{m:.3f}' for m in means)}  falls each step: {falls}")
        for subset, keep in (("all", lambda r: True), ("lfw", lambda r: r["lfw"])):
            chosen = [r for r in records if keep(r)]
            rho = spearmanr([r[candidate] for r in chosen], [r["distance"] for r in chosen])[0]
            report["spearman"].setdefault(candidate, {})[subset] = float(rho)
            print(f"  Spearman(quality, distance to reference), {subset}: {rho:.3f}")
    return report


if __name__ == "__main__":
    main()
