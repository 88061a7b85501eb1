"""Gallery at scale: enrolment rate, search latency (p50/p99, k=1 and k=10), open time and
memory for 1,000,000 synthetic unit vectors of 128 and 512 dimensions (FAISS backend).

    python benchmarks/gallery_scale.py [--faces 1000000] [--dims 128 512] [--queries 200]

Synthetic vectors are fine for speed and size; accuracy is measured on real faces by
scripts/gallery_lfw.py. Each dimension runs in a fresh process so memory figures are its own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, sys, time, numpy as np
from pathlib import Path
sys.path.insert(0, {bench!r})
from common import peak_rss_mb
from faceprint.gallery import Gallery
faces, dim, queries, folder = {faces}, {dim}, {queries}, Path({folder!r})
model = {{128: "ms-celeb-1m", 512: "vggface2"}}[dim]
rng = np.random.default_rng(0)
out = {{"dim": dim, "faces": faces}}
path = folder / f"g{{dim}}.gallery"
g = Gallery(path, model=model, threshold=1.0)
start = time.perf_counter()
per_identity, batch = 10, min(10000, faces)
for first in range(0, faces, batch):
    v = rng.standard_normal((batch, dim), dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    for i in range(0, batch, per_identity):  # one transaction per identity of 10 faces
        g.add_embeddings(f"person{{(first + i) // per_identity}}", v[i : i + per_identity])
out["enrol_faces_per_s"] = faces / (time.perf_counter() - start)
q = rng.standard_normal((queries, dim), dtype=np.float32)
q /= np.linalg.norm(q, axis=1, keepdims=True)
for k in (1, 10):
    lat = []
    for row in q:
        t = time.perf_counter(); g.search(row[None], k=k); lat.append(time.perf_counter() - t)
    out[f"k{{k}}_p50_ms"] = 1000 * float(np.percentile(lat, 50))
    out[f"k{{k}}_p99_ms"] = 1000 * float(np.percentile(lat, 99))
start = time.perf_counter(); g.close(); out["close_s"] = time.perf_counter() - start
start = time.perf_counter(); g = Gallery(path); out["open_s"] = time.perf_counter() - start
assert len(g.index) == faces
g.close()
Path(str(path) + ".faiss").unlink()
start = time.perf_counter(); g = Gallery(path); out["open_rebuild_s"] = time.perf_counter() - start
g.close()
out["file_mb"] = path.stat().st_size / 2**20
out["peak_rss_mb"] = peak_rss_mb()
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=1_000_000)
    parser.add_argument("--dims", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    bench = str(Path(__file__).resolve().parent)
    print(
        f"{'dim':>4} {'faces':>9} {'enrol f/s':>10} {'k=1 p50/p99 ms':>16} {'k=10 p50/p99 ms':>17} "
        f"{'open s':>7} {'rebuild s':>9} {'file MiB':>9} {'peak RSS MiB':>12}"
    )
    for dim in args.dims:
        with tempfile.TemporaryDirectory() as folder:
            code = CHILD.format(
                bench=bench, faces=args.faces, dim=dim, queries=args.queries, folder=folder
            )
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"the {dim}-d run failed:\n{done.stderr[-3000:]}")
            r = json.loads(done.stdout)
        print(
            f"{dim:>4} {r['faces']:>9} {r['enrol_faces_per_s']:>10.0f} "
            f"{r['k1_p50_ms']:>7.1f}/{r['k1_p99_ms']:<8.1f} "
            f"{r['k10_p50_ms']:>8.1f}/{r['k10_p99_ms']:<8.1f} {r['open_s']:>7.2f} "
            f"{r['open_rebuild_s']:>9.2f} "
            f"{r['file_mb']:>9.0f} {r['peak_rss_mb']:>12.0f}   "
            f"({time.perf_counter() - started:.0f} s)"
        )


if __name__ == "__main__":
    main()
