"""What keeping every process's index current costs: enrolment through one gallery, the check a
second gallery on the same store makes before each search when nothing changed, and its catch-up
after each enrolment made through the first.

    python benchmarks/gallery_sync.py /tmp/sync.gallery [postgresql://user@host/db ...]

Each location must be new (a missing file, or an empty database).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from faceprint.gallery.core import GalleryCore


def measure(location: str, faces: int, checks: int) -> str:
    rng = np.random.default_rng(0)
    v = rng.normal(size=(faces + 100, 128)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    writer = GalleryCore(location, model="ms-celeb-1m", threshold=0.9)
    reader = GalleryCore(location)
    start = time.perf_counter()
    for i in range(faces):
        writer.add_embeddings(f"p{i}", v[i : i + 1])
    enrol = faces / (time.perf_counter() - start)
    reader.sync()
    start = time.perf_counter()
    for _ in range(checks):
        reader.sync()
    idle = (time.perf_counter() - start) / checks
    catching = 0.0
    for i in range(faces, faces + 100):
        writer.add_embeddings(f"p{i}", v[i : i + 1])
        start = time.perf_counter()
        reader.sync()
        catching += time.perf_counter() - start
    assert len(reader.index) == faces + 100
    writer.close()
    reader.close()
    kind = location.split("://")[0] if "://" in location else "sqlite"
    return (
        f"{kind}: enrolment {enrol:.0f} faces/s (one transaction a face); check, nothing new "
        f"{idle * 1e3:.3f} ms; catching up one enrolment made elsewhere "
        f"{catching / 100 * 1e3:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("locations", nargs="+", help="new gallery files or PostgreSQL URLs")
    parser.add_argument("--faces", type=int, default=300)
    parser.add_argument("--checks", type=int, default=1000)
    args = parser.parse_args()
    for location in args.locations:
        print(measure(location, args.faces, args.checks))


if __name__ == "__main__":
    main()
