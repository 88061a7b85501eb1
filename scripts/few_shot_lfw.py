"""Fine-tuning on a few photos per person: the measurement that chose the small-set defaults.

Takes the 158 people of LFW with at least 10 photos (4324 photos), crops them once, and for
each of ``--shots`` (3, 5 and 10) gives each person that many training photos (random, seed 0)
and keeps the rest for validation (people with no photo left over are left out of that
split). On each split it trains with ``faceprint train`` (:func:`faceprint.training.train`) at
each freeze and learning rate of the grid for ``--epochs`` epochs, and prints validation top-1
after chosen epochs of each run (the epoch's own model, not the best so far), beside the
baseline (nearest class centre of the pretrained ``ms-celeb-1m``) and the recipe before
imprinting (a random head at lr 1e-3, freeze repeat_3).

    python scripts/few_shot_lfw.py --data ../shared/data/lfw [--shots 3,5,10] [--epochs 5]

Work files (symlinks to the photos, crops, splits, runs) go to ``--work``; finished runs are
read back from their ``summary.json``, so an interrupted measurement resumes. The frozen
blocks' outputs are cached per crop (``~/.cache/faceprint/train``) and shared by the splits.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

from faceprint.alignment import Alignment
from faceprint.evaluation.verification import people_images
from faceprint.training import TrainConfig, train
from faceprint.training.data import crop_tree, scan_folder
from faceprint.weights.factory import get_weights

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_lfw import _link  # noqa: E402  (a sibling script)

#: (freeze, lr) of the grid; every run also gives each epoch up to --epochs.
GRID = (
    ("repeat_3", 1e-3),
    ("repeat_3", 1e-2),
    ("backbone", 1e-3),
    ("backbone", 1e-2),
)
#: Epochs reported in the table.
REPORTED_EPOCHS = (1, 2, 3, 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/lfw"))
    parser.add_argument("--work", type=Path, default=Path("~/.cache/faceprint/few_shot_lfw"))
    parser.add_argument("--shots", default="3,5,10", help="training photos per person")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--precision", default="fp32", help="fp32 is faster on CPUs here")
    args = parser.parse_args()
    work = args.work.expanduser()
    crops = _crops(args.data, work)
    print(f"{len(crops.classes)} people, {len(crops.paths)} crops", flush=True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for shots in map(int, args.shots.split(",")):
        train_dir, val_dir = _split(crops, shots, work / "split" / f"{shots}-shot")
        rows = []
        runs = [(f"{freeze}-lr{lr:g}", freeze, lr, "imprint") for freeze, lr in GRID]
        runs.append(("before (random head)", "repeat_3", 1e-3, "random"))
        for name, freeze, lr, head in runs:
            out = (
                work
                / "runs"
                / f"{shots}-shot"
                / name.replace(" ", "_").replace("(", "").replace(")", "")
            )
            summary = _train(train_dir, val_dir, out, freeze, lr, head, args)
            with open(out / "metrics.csv", newline="") as f:
                curve = {int(r["epoch"]): float(r["val_top1"]) for r in csv.DictReader(f)}
            rows.append((name, head, summary, curve))
            print(f"{shots}-shot {name}: {json.dumps(curve)}", flush=True)
        _table(shots, rows)


def _crops(data: Path, work: Path):
    """The aligned crops of the people with at least 10 photos (made once)."""
    people = people_images(data / "images")
    for name, photos in people.items():
        if len(photos) < 10:
            continue
        (work / "photos" / name).mkdir(parents=True, exist_ok=True)
        for photo in photos:
            link = work / "photos" / name / photo.name
            if not link.exists():
                os.symlink(photo.resolve(), link)
    record = get_weights("ms-celeb-1m")
    crop_tree(
        scan_folder(work / "photos"),
        work / "crops",
        Alignment("box", **record.alignment["box"]),
        record.min_face_probability,
        record.min_face_size,
    )
    return scan_folder(work / "crops")


def _split(crops, shots: int, out: Path) -> tuple[Path, Path]:
    """``shots`` crops of each person to ``out/train`` (random, seed 0), the rest to
    ``out/val``; people with no crop left to validate are left out."""
    rng = np.random.default_rng(0)
    train, val = [], []
    for label in range(len(crops.classes)):
        members = np.flatnonzero(crops.labels == label)
        if len(members) <= shots:
            continue
        rng.shuffle(members)
        train += members[:shots].tolist()
        val += members[shots:].tolist()
    return _link(crops.subset(train), out / "train"), _link(crops.subset(val), out / "val")


def _train(train_dir, val_dir, out: Path, freeze, lr, head, args) -> dict:
    if (out / "summary.json").exists():
        return json.loads((out / "summary.json").read_text())
    return train(
        TrainConfig(
            data=train_dir,
            val=val_dir,
            cropped=True,
            out=out,
            freeze=freeze,
            lr=lr,
            head=head,
            epochs=args.epochs,
            precision=args.precision,
            resume=True,
            progress=False,
        )
    )


def _table(shots: int, rows) -> None:
    first = rows[0][2]
    print(
        f"\n{shots} training photos per person ({first['classes']} people, "
        f"{first['train_images']} training, {first['val_images']} validation photos); "
        f"baseline (nearest class centre of ms-celeb-1m) {first['baseline_top1']:.4f}"
    )
    epochs = [e for e in REPORTED_EPOCHS if e <= max(max(r[3]) for r in rows)]
    print("| freeze, lr | " + " | ".join(f"epoch {e}" for e in epochs) + " | kept (epoch) |")
    print("| --- " * (len(epochs) + 2) + "|")
    for name, _, summary, curve in rows:
        cells = " | ".join(f"{curve[e]:.4f}" for e in epochs if e in curve)
        kept = f"{summary['val_top1']:.4f} ({summary['best_epoch']})"
        print(f"| {name} | {cells} | {kept} |")


if __name__ == "__main__":
    main()
