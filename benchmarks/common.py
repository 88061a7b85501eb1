"""Shared helpers of the ratio benchmarks: the facenet-pytorch peer, timing, agreement, memory."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torchvision.ops import box_iou

DATA = Path(
    os.environ.get(
        "FACEPRINT_TEST_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
)


def cpu_path() -> str:
    """Which matrix path this CPU offers (the lscpu flags that decide it), for the printout."""
    from faceprint.precision import cpu_flags

    flags = cpu_flags()
    if not flags:
        return "CPU flags unknown"
    wanted = ["amx_bf16", "amx_int8", "avx512_bf16", "avx512_vnni", "avx512f", "avx_vnni", "avx2"]
    found = [f for f in wanted if f in flags]
    path = "AMX" if "amx_bf16" in flags else "AVX-512" if "avx512f" in flags else "AVX2"
    return f"{path} path (flags: {' '.join(found) or 'none of ' + ', '.join(wanted)})"


def peer():
    """facenet-pytorch 2.6.0, the comparison peer (``pip install --no-deps
    facenet-pytorch==2.6.0``)."""
    try:
        import facenet_pytorch
    except ImportError:
        raise SystemExit(
            "install the peer first: pip install --no-deps facenet-pytorch==2.6.0 requests"
        ) from None
    return facenet_pytorch


def best_of(
    fn: Callable[[], object], repeat: int = 3, warmup: Callable[[], object] | None = None
) -> tuple[float, object]:
    """Smallest wall time of ``repeat`` runs and the last result, after one warm-up call
    (``warmup``, or a first run of ``fn``)."""
    result = (warmup or fn)()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def as_list(batch_output) -> list:
    """facenet-pytorch's batch outputs are object arrays under numpy 2; make them lists."""
    return [None if x is None else np.asarray(x, dtype=np.float32) for x in batch_output]


def agreement(ours: list, theirs: list) -> tuple[int, int, float]:
    """``(faces ours, faces theirs, worst matched IoU)`` over per-image box lists."""
    n_ours = sum(0 if b is None else len(b) for b in ours)
    n_theirs = sum(0 if b is None else len(b) for b in theirs)
    worst = 1.0
    for a, b in zip(ours, theirs, strict=True):
        if a is None or b is None or len(a) == 0 or len(b) == 0:
            continue
        iou = box_iou(torch.as_tensor(a[:, :4]), torch.as_tensor(b[:, :4])).numpy()
        worst = min(worst, float(iou.max(axis=1).min()), float(iou.max(axis=0).min()))
    return n_ours, n_theirs, worst


def peak_rss_mb() -> float:
    """Peak resident memory of this process, in MiB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def video_frames(height: int | None = None, limit: int | None = None) -> list[np.ndarray]:
    """RGB frames of ``samples/video.mp4``, optionally resized to ``height`` (keeping 16:9)."""
    import av
    from PIL import Image

    frames = []
    with av.open(str(DATA / "samples" / "video.mp4")) as container:
        for frame in container.decode(video=0):
            image = frame.to_image()
            if height is not None and image.height != height:
                image = image.resize(
                    (round(image.width * height / image.height), height), Image.BILINEAR
                )
            frames.append(np.asarray(image))
            if limit is not None and len(frames) >= limit:
                break
    return frames


def report(
    rows: list[tuple[str, float, float, str]], unit: str, peer_name: str = "facenet-pytorch"
) -> None:
    """Print ``name, ours, theirs`` throughputs and their ratio."""
    print(f"{'work':<34} {'faceprint':>12} {peer_name:>16} {'ratio':>7}  agreement")
    for name, ours, theirs, note in rows:
        print(
            f"{name:<34} {ours:>9.1f} {unit:<3}{theirs:>12.1f} {unit:<3} "
            f"{ours / theirs:>6.2f}x  {note}"
        )
