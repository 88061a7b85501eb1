"""End-to-end LFW evaluation time: faceprint vs a facenet-pytorch 2.6.0 pipeline doing the same
work (MTCNN box crops with faceprint's tuned margin 0, the centre-weighted face, per-image
standardization, the ms-celeb-1m weights).

    python benchmarks/lfw_pipeline.py [--images 7701]

Both read the JPEGs, detect, crop, embed every image of pairs.txt, and score the 6000 pairs;
nothing is cached. Prints seconds, the ratio, both accuracies and peak memory.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, cpu_path, peak_rss_mb, peer  # noqa: E402

from faceprint.evaluation.metrics import verification_metrics  # noqa: E402
from faceprint.evaluation.verification import evaluate, read_lfw_pairs  # noqa: E402
from faceprint.pipeline import FaceRecognizer  # noqa: E402


def facenet_pytorch_pipeline(paths: list[Path], batch: int = 32) -> np.ndarray:
    """What a facenet-pytorch user writes: batched MTCNN crops, prewhiten, InceptionResnetV1."""
    fp = peer()
    mtcnn = fp.MTCNN(image_size=160, margin=0, post_process=False)
    model = fp.InceptionResnetV1().eval()
    # facenet-pytorch's class is fixed at 512-d: give it the 128-d bottleneck of these weights.
    model.last_linear = torch.nn.Linear(1792, 128, bias=False)
    model.last_bn = torch.nn.BatchNorm1d(128, eps=0.001)
    model.load_state_dict(
        FaceRecognizer(model="ms-celeb-1m", threshold=1.0).model.state_dict(), strict=True
    )
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(paths), batch):
            images = [Image.open(p).convert("RGB") for p in paths[i : i + batch]]
            # mtcnn(images) crashes under numpy 2 when a batch holds a face-less image
            # (facenet-pytorch issue #224), so take detect() and crop as its extract() would.
            boxes, probs = mtcnn.detect(images)
            crops = []
            for image, b, _ in zip(images, boxes, probs, strict=True):
                if b is None:  # the same fallback as faceprint's: a 130 px centre crop
                    c = image.crop((60, 60, 190, 190)).resize((160, 160), Image.BILINEAR)
                    face = torch.from_numpy(np.asarray(c, dtype=np.float32)).permute(2, 0, 1)
                else:
                    b = np.asarray(b, dtype=np.float32)
                    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
                    offset = ((((b[:, :2] + b[:, 2:]) / 2) - np.array(image.size) / 2) ** 2).sum(1)
                    face = fp.extract_face(image, b[np.argmax(area - 2 * offset)], 160, 0)
                crops.append(fp.prewhiten(face))
            out.append(model(torch.stack(crops)).numpy())
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA / "lfw")
    parser.add_argument("--pairs", type=int, default=6000, help="first N pairs of pairs.txt")
    args = parser.parse_args()
    pairs = read_lfw_pairs(args.data / "pairs.txt", args.data / "images")
    keep = np.arange(len(pairs)) < args.pairs
    pairs.a = [p for p, k in zip(pairs.a, keep, strict=True) if k]
    pairs.b = [p for p, k in zip(pairs.b, keep, strict=True) if k]
    pairs.same, pairs.folds = pairs.same[keep], pairs.folds[keep]
    paths = pairs.images()
    print(
        f"{cpu_path()}; {len(pairs)} pairs, {len(paths)} images, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )

    start = time.perf_counter()
    report = evaluate(
        FaceRecognizer(model="ms-celeb-1m", align="box"), pairs, cache=False, progress=False
    )
    ours = time.perf_counter() - start
    print(
        f"faceprint:       {ours:7.1f} s  accuracy {report.metrics.accuracy:.4f}  peak RSS "
        f"{peak_rss_mb():.0f} MiB",
        flush=True,
    )

    start = time.perf_counter()
    emb = facenet_pytorch_pipeline(paths)
    index = {p: i for i, p in enumerate(paths)}
    d = np.linalg.norm(emb[[index[p] for p in pairs.a]] - emb[[index[p] for p in pairs.b]], axis=1)
    theirs = time.perf_counter() - start
    m = verification_metrics(d, pairs.same, pairs.folds)
    print(
        f"facenet-pytorch: {theirs:7.1f} s  accuracy {m.accuracy:.4f}  peak RSS "
        f"{peak_rss_mb():.0f} MiB"
    )
    print(f"ratio: {theirs / ours:.2f}x faster")


if __name__ == "__main__":
    main()
