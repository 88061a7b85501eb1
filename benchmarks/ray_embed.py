"""`faceprint embed --engine ray` on this machine: throughput with 1 and 2 actors, where an
image's time goes, and detection inside the actor against detection in tasks.

    python benchmarks/ray_embed.py --data ../shared/data/lfw [--images 400] [--batch-size 32]

Prints images/s for the local engine and for Ray with 1 and 2 actors (all sharing this
machine's CPUs), the per-image split of decode, detect, embed and write, and the split variant
(decode and detect in Ray tasks, crops through the object store, embedding in actors).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import cpu_path  # noqa: E402

from faceprint import FaceRecognizer  # noqa: E402
from faceprint.batch import run_local, run_ray  # noqa: E402
from faceprint.batch.local import read_payloads  # noqa: E402
from faceprint.batch.rows import rows_to_table  # noqa: E402
from faceprint.images import image_from_bytes  # noqa: E402


def stages(recognizer: FaceRecognizer, paths: list[str]) -> dict[str, float]:
    """Seconds per image of each stage, run one after the other on batches of 32."""
    totals = dict.fromkeys(("read + decode", "detect", "crop + embed", "write"), 0.0)
    for start in range(0, len(paths), 32):
        batch = paths[start : start + 32]
        t0 = time.perf_counter()
        images = [image_from_bytes(p, n) for p, n in zip(read_payloads(batch), batch, strict=True)]
        t1 = time.perf_counter()
        regions = recognizer.detect_regions(images)
        t2 = time.perf_counter()
        faces = recognizer.embed_regions(images, [r for found in regions for r in found])
        t3 = time.perf_counter()
        rows = [
            {"path": batch[0], "face": 0, "embedding": f.embedding.tolist(), "model": "m"}
            for f in faces
        ]
        import pyarrow.parquet as pq

        with tempfile.TemporaryDirectory() as tmp:
            pq.write_table(rows_to_table(rows, recognizer.embedding_size), f"{tmp}/x.parquet")
        t4 = time.perf_counter()
        for key, seconds in zip(totals, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            totals[key] += seconds
    return {key: value / len(paths) for key, value in totals.items()}


_DETECTOR = {}


def _detect_task(batch):
    """Split variant, in a Ray task: read, decode, detect, crop; the worker process keeps its
    recognizer between tasks."""
    if "r" not in _DETECTOR:
        _DETECTOR["r"] = FaceRecognizer()
    recognizer = _DETECTOR["r"]
    paths = list(batch["path"])
    images = [image_from_bytes(p, n) for p, n in zip(read_payloads(paths), paths, strict=True)]
    crops, names = [], []
    for found in recognizer.detect_regions(images):
        for region in found:
            image = images[region.image]
            crops.append(np.asarray(recognizer.crop(image, region.box, region.landmarks)))
            names.append(paths[region.image])
    return {
        "path": np.array(names),
        "crop": np.stack(crops) if crops else np.zeros((0, 160, 160, 3), np.uint8),
    }


class _EmbedCrops:
    def __init__(self) -> None:
        self.recognizer = FaceRecognizer()

    def __call__(self, batch):
        crops = batch["crop"]
        return {"path": batch["path"], "embedding": self.recognizer.embed_crops(list(crops))}


def split_variant(paths: list[str], actors: int, batch_size: int) -> float:
    import ray

    start = time.perf_counter()
    dataset = ray.data.from_items([{"path": p} for p in paths])
    dataset = dataset.map_batches(_detect_task, batch_size=batch_size)
    dataset = dataset.map_batches(
        _EmbedCrops, batch_size=batch_size, compute=ray.data.ActorPoolStrategy(size=actors)
    )
    rows = dataset.count()
    assert rows > 0
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/lfw"))
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    import ray

    images = args.data / "images" if (args.data / "images").is_dir() else args.data
    paths = sorted(str(p) for p in images.glob("*/*.jpg"))[: args.images]
    print(f"{cpu_path()}; {len(paths)} LFW images, batch {args.batch_size}")
    recognizer = FaceRecognizer()
    split = stages(recognizer, paths[:96])
    total = sum(split.values())
    print(
        "per image: "
        + ", ".join(f"{k} {v * 1000:.1f} ms ({v / total:.0%})" for k, v in split.items())
    )
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        run_local(recognizer, paths, f"{tmp}/local", args.batch_size)
        results["local engine"] = time.perf_counter() - start
        ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        for actors in (1, 2):
            out = f"{tmp}/ray{actors}"
            start = time.perf_counter()
            run_ray(paths, out, "ms-celeb-1m", "box", actors=actors, batch_size=args.batch_size)
            results[f"ray, {actors} actor(s), detect in actor"] = time.perf_counter() - start
            shutil.rmtree(out)
        for actors in (1,):
            results[f"ray, {actors} actor(s), detect in tasks"] = split_variant(
                paths, actors, args.batch_size
            )
        ray.shutdown()
    for label, seconds in results.items():
        print(f"{label:<38} {len(paths) / seconds:7.1f} images/s  ({seconds:.1f} s, incl. start)")


if __name__ == "__main__":
    main()
