"""Detection throughput, faceprint vs facenet-pytorch 2.6.0, same weights, same images, one run.

    python benchmarks/detection.py [--frames 105] [--lfw 1000] [--repeat 3]

Prints images/s for each and their ratio, and checks that the detections agree (IoU >= 0.99).
facenet-pytorch runs each workload in its faster mode: for batched rows both its batched and
its one-image calls are timed and the faster counts (the row says which).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, agreement, as_list, best_of, cpu_path, peer, report, video_frames  # noqa: E402

from faceprint import MTCNN  # noqa: E402


def verdict(n_ours: int, n_theirs: int, worst_iou: float) -> str:
    same = n_ours == n_theirs and worst_iou >= 0.99
    return (
        f"{'same' if same else 'DIFFERENT'}: {n_ours} vs {n_theirs} faces, min IoU {worst_iou:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=105, help="video frames per resolution")
    parser.add_argument("--lfw", type=int, default=1000, help="LFW images")
    parser.add_argument("--batch", type=int, default=32, help="batch size of the batched runs")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per case (best is kept)")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    ours = MTCNN(keep_all=True)
    theirs = peer().MTCNN(keep_all=True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {cpu_path()}")
    rows = []

    def theirs_one_by_one(images):
        return [
            None if (b := theirs.detect(x)[0]) is None else np.asarray(b, np.float32)
            for x in images
        ]

    def theirs_batched(images):
        return [
            b
            for i in range(0, len(images), args.batch)
            for b in as_list(theirs.detect(images[i : i + args.batch])[0])
        ]

    def compare(name, images, batched, unit_count):
        """faceprint batched (or one by one), against facenet-pytorch's faster mode."""
        if batched:

            def run_ours():
                return [
                    b
                    for i in range(0, len(images), args.batch)
                    for b in ours.detect(images[i : i + args.batch])[0]
                ]
        else:

            def run_ours():
                return [ours.detect(x)[0] for x in images]

        t_ours, b_ours = best_of(run_ours, args.repeat, warmup=lambda: ours.detect(images[:2]))
        warm = lambda: theirs.detect(images[:1])  # noqa: E731
        # facenet-pytorch's one-image answers are the reference faceprint reproduces (its
        # batched answers depend on the batch's make-up, through float32 NMS offsets).
        t_theirs, b_theirs = best_of(lambda: theirs_one_by_one(images), args.repeat, warm)
        mode = "one by one"
        if batched:
            t_batched, _ = best_of(lambda: theirs_batched(images), args.repeat, warm)
            if t_batched < t_theirs:
                t_theirs, mode = t_batched, "batched"
        n_ours, n_theirs, worst = agreement(b_ours, b_theirs)
        note = f"{verdict(n_ours, n_theirs, worst)}; peer {mode}"
        rows.append((name, unit_count / t_ours, unit_count / t_theirs, note))
        print(f"  {name}: {t_ours:.2f} s vs {t_theirs:.2f} s (peer {mode})", flush=True)

    for height in (1080, 720, 540):
        frames = video_frames(height, args.frames)
        compare(f"video {height}p, batch {args.batch}", frames, True, len(frames))
    lfw = sorted((DATA / "lfw" / "images").glob("*/*.jpg"))[: args.lfw]
    lfw_images = [np.asarray(Image.open(p).convert("RGB")) for p in lfw]
    compare(f"LFW {len(lfw)}, batch {args.batch}", lfw_images, True, len(lfw))
    compare(f"LFW {len(lfw[:200])}, one at a time", lfw_images[:200], False, 200)
    multiface = [np.asarray(Image.open(DATA / "samples" / "multiface.jpg").convert("RGB"))]
    compare("multiface.jpg", multiface, False, 1)

    portraits = [
        Image.open(p).convert("RGB")
        for p in sorted((DATA / "samples" / "test_images").glob("*/1.jpg"))
    ]
    t_ours, b_ours = best_of(
        lambda: ours.detect(portraits)[0], args.repeat
    )  # one call, mixed sizes
    t_theirs, b_theirs = best_of(
        lambda: [theirs.detect(p)[0] for p in portraits], args.repeat
    )  # it needs a loop
    n_ours, n_theirs, worst = agreement(b_ours, [np.asarray(b, np.float32) for b in b_theirs])
    rows.append(
        ("4 portraits (mixed sizes)", 4 / t_ours, 4 / t_theirs, verdict(n_ours, n_theirs, worst))
    )
    print()
    report(rows, "img/s")


if __name__ == "__main__":
    main()
