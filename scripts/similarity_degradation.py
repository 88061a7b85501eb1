"""What an identity similarity means: 500 LFW faces against spoiled copies of themselves.

For each of 500 LFW people with at least two photos, the first photo is the reference. Against
it, ``faceprint similarity`` scores (paired by name):

- spoiled copies of the same photo: JPEG quality 90, 50, 20, 10, 5; Gaussian blur sigma 1, 2,
  4; downscaled x2, x4, x8 and enlarged back (:data:`faceprint.evaluation.degradations.LADDER`);
- the same person's second photo;
- the next person's first photo (different people).

Prints the README's table, and writes ``degradation.png`` (mean similarity along each ladder)
plus ``faceprint similarity``'s own files to ``--out``.

    python scripts/similarity_degradation.py --data ../shared/data/lfw --out /tmp/degradation
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from faceprint.evaluation.degradations import LADDER
from faceprint.evaluation.similarity import (
    report_labels,
    save_similarity_files,
    similarity,
)
from faceprint.evaluation.verification import people_images
from faceprint.pipeline import FaceRecognizer


def build_sets(lfw_images: Path, work: Path, people: int) -> tuple[Path, list[Path]]:
    """Write the reference folder and one folder per comparison; returns (ref, gens)."""
    chosen = [
        (name, photos) for name, photos in people_images(lfw_images).items() if len(photos) >= 2
    ]
    chosen = chosen[:people]
    if len(chosen) < people:
        raise SystemExit(f"only {len(chosen)} LFW people have two photos")
    ref = work / "reference"
    gens = [work / d.name for d in LADDER] + [work / "same-person", work / "different-people"]
    for folder in [ref, *gens]:
        folder.mkdir(parents=True, exist_ok=True)
    for i, (name, photos) in enumerate(tqdm(chosen, desc="writing sets", unit="person")):
        if (gens[-1] / f"{name}.png").exists():
            continue
        image = Image.open(photos[0]).convert("RGB")
        image.save(ref / f"{name}.png")
        for degradation, folder in zip(LADDER, gens, strict=False):
            degradation.apply(image).save(folder / f"{name}.png")
        Image.open(photos[1]).convert("RGB").save(gens[-2] / f"{name}.png")
        stranger = chosen[(i + 1) % len(chosen)][1][0]
        Image.open(stranger).convert("RGB").save(gens[-1] / f"{name}.png")
    return ref, gens


def plot_ladders(reports, labels, threshold_similarity: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_label = dict(zip(labels, reports, strict=True))
    fig, axes = plt.subplots(1, 3, figsize=(12, 4), dpi=120, sharey=True)
    units = {"jpeg": "JPEG quality", "blur": "blur sigma (px)", "downscale": "downscale factor"}
    for ax, (kind, unit) in zip(axes, units.items(), strict=True):
        steps = [d for d in LADDER if d.kind == kind]
        means = [by_label[d.name].similarity.mean() for d in steps]
        stds = [by_label[d.name].similarity.std() for d in steps]
        x = np.arange(len(steps))
        ax.errorbar(x, means, yerr=stds, marker="o", capsize=3, label="spoiled copy")
        for label, style in (("same-person", "g--"), ("different-people", "r:")):
            ax.axhline(
                by_label[label].similarity.mean(),
                color=style[0],
                linestyle=style[1:],
                label=f"{label.replace('-', ' ')} (mean)",
            )
        ax.axhline(threshold_similarity, color="black", linewidth=0.8, label="threshold")
        ax.set_xticks(x, [f"{d.level:g}" for d in steps])
        ax.set_xlabel(unit)
        ax.set_title(kind)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("cosine similarity to the original (mean ± std)")
    axes[0].legend(fontsize=7, loc="lower left")
    fig.suptitle(f"What a similarity means: {reports[0].pairs} LFW faces, {reports[0].model}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/lfw"))
    parser.add_argument("--work", type=Path, default=Path("~/.cache/faceprint/degradation"))
    parser.add_argument("--out", type=Path, default=Path("degradation_out"))
    parser.add_argument("--people", type=int, default=500)
    parser.add_argument("--model", default="ms-celeb-1m")
    args = parser.parse_args()
    images = args.data / "images" if (args.data / "images").is_dir() else args.data
    ref, gens = build_sets(images, args.work.expanduser() / str(args.people), args.people)
    recognizer = FaceRecognizer(args.model)
    reports = similarity(ref, gens, recognizer=recognizer, progress=True)
    labels = report_labels(reports)
    threshold_similarity = 1 - recognizer.threshold**2 / 2
    print(
        f"{recognizer.name}, {args.people} LFW faces; same person when similarity > "
        f"{threshold_similarity:.3f} (distance < {recognizer.threshold:.4f}, FAR 1e-3)\n"
    )
    print(
        "| compared with the original | pairs | mean ± std | median | min | preserved | "
        "ID top-1 | no face |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, report in zip(labels, reports, strict=True):
        d = report.summary()
        print(
            f"| {label} | {d['pairs']} | {d['mean']:.3f} ± {d['std']:.3f} | {d['median']:.3f} | "
            f"{d['min']:.3f} | {d['preserved_rate']:.3f} | {d['id_retrieval_top1']:.3f} | "
            f"{d['missed_gen']['count']} |"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    save_similarity_files(reports, args.out, recognizer)
    plot_ladders(reports, labels, threshold_similarity, args.out / "degradation.png")
    print(f"\nfiles -> {args.out}")


if __name__ == "__main__":
    main()
