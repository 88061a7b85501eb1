"""Photo library at scale: scan LFW, rescan, add 1,000 photos, and the clustering's quality.

    nice python benchmarks/library_scan.py [--photos 13233] [--added 1000] [--out FILE.json]

1. A folder of links to all LFW photos but ``--added`` held-out ones (seed 0) is scanned into
   a new library: faces/s, peak memory.
2. The folder is scanned again: it must embed 0 photos.
3. The held-out photos are embedded alone (load, detect, embed, the scan's batch size): the
   cost an increment is held to (within 1.2x).
4. Their links are added and the folder scanned again: the increment's time against step 3.
5. Quality against LFW's names, on the subject face (the largest) of each photo of people with
   at least 2 photos: BCubed precision, recall and F of the library's clusters (incremental:
   the full clustering at the first scan, then the increment's attach / HDBSCAN / merge /
   attach), and of the library's full clustering run once over the same faces (one-shot,
   what ``scan --full`` would give).

Each step prints a JSON line as it finishes (a run cut short keeps what it measured).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, peak_rss_mb  # noqa: E402


def bcubed(truth: list[str], predicted: list[int]) -> dict[str, float]:
    """BCubed precision, recall and F of a clustering (-1: a singleton of its own)."""
    labels = [p if p >= 0 else -(i + 2) for i, p in enumerate(predicted)]
    pairs = Counter(zip(truth, labels, strict=True))
    size_t, size_p = Counter(truth), Counter(labels)
    precision = sum(pairs[(t, p)] / size_p[p] for t, p in zip(truth, labels, strict=True))
    recall = sum(pairs[(t, p)] / size_t[t] for t, p in zip(truth, labels, strict=True))
    precision, recall = precision / len(truth), recall / len(truth)
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f": round(2 * precision * recall / (precision + recall), 4),
    }


def quality(library) -> dict:
    """BCubed of the library's clusters and of its full clustering run once over every face,
    on subject faces of LFW people with >= 2 photos."""
    from faceprint.library import clustering

    ids, photos, people, _, vectors = library.store.face_vectors()
    path_of = {p.id: p.path for p in library.store.photos()}
    first: dict[int, int] = {}
    for row, photo in enumerate(photos.tolist()):
        first.setdefault(photo, row)  # faces are stored largest first
    name_of = {photo: Path(path_of[photo]).parent.name for photo in first}
    counts = Counter(name_of.values())
    rows = [r for photo, r in first.items() if counts[name_of[photo]] >= 2]
    truth = [name_of[int(photos[r])] for r in rows]
    start = time.perf_counter()
    one_shot = clustering.full_clustering(vectors, photos, library.radii, library.min_samples)
    seconds = time.perf_counter() - start
    return {
        "faces_scored": len(rows),
        "people_scored": len(set(truth)),
        "incremental": bcubed(truth, people[rows].tolist()),
        "one_shot": bcubed(truth, one_shot[rows].tolist()),
        "one_shot_seconds": round(seconds, 1),
    }


def link(folder: Path, photos: list[Path]) -> None:
    for photo in photos:
        target = folder / photo.parent.name / photo.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(photo)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=13233, help="LFW photos in all")
    parser.add_argument("--added", type=int, default=1000, help="photos of the increment")
    parser.add_argument("--out", type=Path, help="also write the results here (JSON)")
    parser.add_argument(
        "--threads",
        type=int,
        help="torch threads (default torch's own); 1 on a shared machine, where spinning "
        "threads cost 9x the CPU time",
    )
    parser.add_argument("--progress", action="store_true", help="progress bars on stderr")
    parser.add_argument(
        "--keep", type=Path, help="work in this new folder and keep it (links and library)"
    )
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    from faceprint.library import Library
    from faceprint.library.scan import _embed_chunk

    every = sorted((DATA / "lfw" / "images").glob("*/*.jpg"))
    rng = np.random.default_rng(0)
    chosen = sorted(rng.choice(len(every), min(args.photos, len(every)), replace=False))
    chosen = [every[i] for i in chosen]
    held = set(rng.choice(len(chosen), args.added, replace=False).tolist())
    first = [p for i, p in enumerate(chosen) if i not in held]
    added = [p for i, p in enumerate(chosen) if i in held]
    results: dict = {
        "photos": len(chosen),
        "first": len(first),
        "added": len(added),
        "threads": args.threads,
    }

    def report(step: str, **figures) -> None:
        results[step] = figures
        print(json.dumps({step: figures}), flush=True)
        if args.out:
            args.out.write_text(json.dumps(results, indent=2))

    if args.keep:
        args.keep.mkdir(parents=True)  # a new folder: an old run's library would be rescanned
    with (
        contextlib.nullcontext(str(args.keep)) if args.keep else tempfile.TemporaryDirectory()
    ) as tmp:
        folder = Path(tmp) / "photos"
        link(folder, first)
        with Library(Path(tmp) / "library", who="benchmark") as library:
            start = time.perf_counter()
            scan, placed = library.scan(folder, progress=args.progress)
            seconds = time.perf_counter() - start
            report(
                "first_scan",
                photos=scan.new,
                faces=scan.faces,
                seconds=round(seconds, 1),
                faces_per_s=round(scan.faces / seconds, 1),
                photos_per_s=round(scan.new / seconds, 1),
                clusters=placed.new_clusters,
                noise=placed.noise,
                peak_rss_mib=round(peak_rss_mb()),
            )
            start = time.perf_counter()
            scan, _ = library.scan(folder)
            report("rescan", new=scan.new, seconds=round(time.perf_counter() - start, 2))

            from faceprint.library.scan import ScanReport
            from faceprint.library.store import LibraryStore

            alone = LibraryStore(Path(tmp) / "alone.db", model=library.store.model, dim=128)
            items = [(f"{i}", (str(p), p.stat())) for i, p in enumerate(added)]
            start = time.perf_counter()
            counted = ScanReport()
            for k in range(0, len(items), 16):
                _embed_chunk(alone, items[k : k + 16], lambda: library.recognizer, counted)
            alone_seconds = time.perf_counter() - start
            alone.close()
            report(
                "embed_alone",
                photos=counted.new,
                faces=counted.faces,
                seconds=round(alone_seconds, 1),
                faces_per_s=round(counted.faces / alone_seconds, 1),
            )

            link(folder, added)
            start = time.perf_counter()
            scan, placed = library.scan(folder, progress=args.progress)
            seconds = time.perf_counter() - start
            report(
                "increment",
                photos=scan.new,
                faces=scan.faces,
                seconds=round(seconds, 1),
                faces_per_s=round(scan.faces / seconds, 1),
                ratio_to_alone=round(seconds / alone_seconds, 3),
                joined=placed.joined,
                clustered=placed.clustered,
                new_clusters=placed.new_clusters,
                noise=placed.noise,
                peak_rss_mib=round(peak_rss_mb()),
            )
            report("quality", **quality(library))


if __name__ == "__main__":
    main()
