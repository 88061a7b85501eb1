"""Fine-tuning on LFW, the issue's protocol: closed-set top-1 and no forgetting on DevTest.

Takes the 115 people of LFW with at least 10 photos who are not in ``pairsDevTest.txt`` (3339
photos), crops them once (``faceprint crop``), splits each person's crops 70/30 (seed 0), then:

- baseline: nearest class mean of the pretrained ``ms-celeb-1m`` embeddings;
- ``faceprint train`` with softmax, ArcFace and triplet loss (``--epochs``, default freeze);
- optionally (``--scratch-epochs N``) an untrained Inception-ResNet-v1 on the same crops;
- LFW ``pairsDevTest.txt`` verification accuracy of each model (people none of them saw).

    python scripts/train_lfw.py --data ../shared/data/lfw [--epochs 8] [--scratch-epochs 0]

Work files (symlinks to the photos, crops, runs) go to ``--work`` (default a cache folder).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch

from faceprint.alignment import Alignment
from faceprint.evaluation.verification import evaluate, people_images, read_lfw_pairs
from faceprint.pipeline import FaceRecognizer
from faceprint.training import TrainConfig, train
from faceprint.training.data import crop_tree, scan_folder, split_per_class
from faceprint.weights.factory import get_weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/lfw"))
    parser.add_argument("--work", type=Path, default=Path("~/.cache/faceprint/train_lfw"))
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--scratch-epochs", type=int, default=0)
    parser.add_argument("--losses", default="softmax,arcface,triplet")
    args = parser.parse_args()
    work = args.work.expanduser()
    photos = _people_tree(args.data, work / "photos")
    record = get_weights("ms-celeb-1m")
    folder = scan_folder(photos)
    print(f"{len(folder.classes)} people, {len(folder.paths)} photos")
    report = crop_tree(
        folder,
        work / "crops",
        Alignment("box", **record.alignment["box"]),
        record.min_face_probability,
        record.min_face_size,
    )
    print(f"crops: {report.written} new, {report.kept} kept, {len(report.skipped)} skipped")
    crops = scan_folder(work / "crops")
    train_set, val_set = split_per_class(crops, 0.3, seed=0)
    train_dir, val_dir = (
        _link(train_set, work / "split" / "train"),
        _link(val_set, work / "split" / "val"),
    )
    print(f"split: {len(train_set.paths)} train, {len(val_set.paths)} validation crops")

    devtest = read_lfw_pairs(args.data / "pairsDevTest.txt", args.data / "images")
    base = FaceRecognizer(model="ms-celeb-1m", align="box")
    rows = [
        {
            "model": "ms-celeb-1m (pretrained), nearest class mean",
            "top1": _nearest_mean_top1(base, train_set, val_set),
            "devtest": evaluate(base, devtest, progress=False).to_dict()["accuracy"],
            "seconds": 0.0,
            "ips": float("nan"),
        }
    ]
    runs = [(loss, False, args.epochs) for loss in args.losses.split(",") if loss]
    if args.scratch_epochs:
        runs.append(("softmax", True, args.scratch_epochs))
    for loss, scratch, epochs in runs:
        out = work / "runs" / f"{loss}{'-scratch' if scratch else ''}-{epochs}ep"
        summary_path = out / "summary.json"
        if summary_path.exists():
            summary = json.loads(summary_path.read_text())
        else:
            summary = train(
                TrainConfig(
                    data=train_dir,
                    val=val_dir,
                    cropped=True,
                    out=out,
                    loss=loss,
                    epochs=epochs,
                    scratch=scratch,
                    resume=True,
                )
            )
        trained = FaceRecognizer(model=str(out / "model.pt"), align="box")
        rows.append(
            {
                "model": f"{loss}{' from scratch' if scratch else ''}, {epochs} epochs "
                f"(freeze {summary['freeze']})",
                "top1": summary["val_top1"],
                "devtest": evaluate(trained, devtest, progress=False).to_dict()["accuracy"],
                "seconds": summary["seconds"],
                "ips": summary["images_per_second"],
            }
        )
        print(rows[-1], flush=True)
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| model | top-1 (30% held out) | DevTest accuracy | training s | img/s |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['model']} | {r['top1']:.4f} | {r['devtest']:.4f} | {r['seconds']:.0f} | "
            f"{r['ips']:.0f} |"
        )


def _people_tree(data: Path, out: Path) -> Path:
    """Symlinks ``out/<person>/<photo>`` of the chosen people (the data stays where it is)."""
    devtest = read_lfw_pairs(data / "pairsDevTest.txt", data / "images")
    excluded = {p.parent.name for p in devtest.images()}
    people = people_images(data / "images")
    chosen = sorted(n for n, imgs in people.items() if len(imgs) >= 10 and n not in excluded)
    for name in chosen:
        (out / name).mkdir(parents=True, exist_ok=True)
        for photo in people[name]:
            link = out / name / photo.name
            if not link.exists():
                os.symlink(photo.resolve(), link)
    return out


def _link(folder, out: Path) -> Path:
    for path in folder.paths:
        link = out / path.parent.name / path.name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            os.symlink(path.resolve(), link)
    return out


def _nearest_mean_top1(recognizer: FaceRecognizer, train_set, val_set) -> float:
    from PIL import Image

    def embed(folder):
        return recognizer.embed_crops([Image.open(p).convert("RGB") for p in folder.paths])

    train_emb, val_emb = embed(train_set), embed(val_set)
    means = np.stack(
        [train_emb[train_set.labels == k].mean(0) for k in range(len(train_set.classes))]
    )
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    return float(((val_emb @ means.T).argmax(1) == val_set.labels).mean())


if __name__ == "__main__":
    main()
