"""How many faces ``faceprint video --blur`` leaves recognisable, before and after a change.

    python scripts/blur_audit.py --before-src /path/to/old/checkout/src
    python scripts/blur_audit.py --frames 86-110 --synthetic ../shared/data/lfw

Runs ``faceprint video VIDEO --blur --out ...`` (in a fresh process each, with this checkout's
faceprint and, with ``--before-src``, with another checkout's), times each run, and scores
the outputs (:mod:`faceprint.video.audit`): for every reference face in every frame, the share
of its detail (RMS Laplacian at 32 px) the output keeps; a face keeping more than 40% is left.
The reference is every face a low-threshold MTCNN (0.5, 0.6, 0.6 from 12 px) finds in every
frame of the input, cached in the temp folder; on the synthetic clips (``--synthetic LFW``,
the tests' two clips) it is their truth, each face not half hidden. The input itself is scored
too (nothing blurred: every face left), which shows the measure sees the faces.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from faceprint.video import probe
from faceprint.video.audit import Audit, audit, reference_faces, truth_reference
from faceprint.video.io import write_segment

ROOT = Path(__file__).resolve().parents[1]


def blur(video: Path, out: Path, src: Path) -> float:
    """Run ``faceprint video VIDEO --blur --out OUT`` with ``src`` first on the path; the
    wall seconds of the whole process (model loading included)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]))
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "faceprint", "video", str(video), "--blur", "--out", str(out)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def row(name: str, result: Audit, frames: int, seconds: float | None) -> str:
    left = result.frames_left()
    shown = ", ".join(map(str, left[:12])) + (" ..." if len(left) > 12 else "")
    speed = "- | -" if seconds is None else f"{seconds:.1f} | {frames / seconds:.2f}"
    return (
        f"| {name} | {len(result.faces)} | {len(result.left)} | {100 * result.share_left:.1f}% "
        f"| {result.worst:.2f} | {shown or '-'} | {speed} |"
    )


def compare(video: Path, reference: dict, work: Path, runs: dict[str, Path], verbose: bool):
    frames = probe(video).frames
    print(f"\n{video}: {frames} frames, {sum(map(len, reference.values()))} reference faces")
    print(
        "| run | faces scored | left (>40% detail) | share left | worst | frames with a face "
        "left | s | frames/s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print(row("input, nothing blurred", audit(video, video, reference), frames, None))
    for name, src in runs.items():
        out = work / f"{video.parent.name}-{video.stem}-{name}.mp4"
        out.unlink(missing_ok=True)  # the command writes over no file (and older ones lack --force)
        seconds = blur(video, out, src)
        result = audit(video, out, reference)
        print(row(name, result, frames, seconds), flush=True)
        if verbose:
            for face in result.left:
                box = ", ".join(f"{v:.0f}" for v in face.box)
                print(f"    frame {face.frame} [{box}] {face.label} kept {face.ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=ROOT.parent / "shared/data/samples/video.mp4")
    parser.add_argument("--frames", help="a segment, FIRST-LAST (default: the whole video)")
    parser.add_argument("--before-src", type=Path, help="another checkout's src/ to compare")
    parser.add_argument("--synthetic", type=Path, help="LFW folder: also the synthetic clips")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "blur_audit")
    parser.add_argument("--verbose", action="store_true", help="list every face left")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    runs = {"before": args.before_src} if args.before_src else {}
    runs["after"] = ROOT / "src"
    video = args.video
    if args.frames:
        first, last = (int(v) for v in args.frames.split("-"))
        video = args.work / f"{video.stem}-{first}-{last}.mp4"
        write_segment(args.video, video, first, last)
    compare(video, reference_faces(video), args.work, runs, args.verbose)
    if args.synthetic:
        from faceprint.video.synthetic import build_case

        images = (
            args.synthetic / "images" if (args.synthetic / "images").is_dir() else args.synthetic
        )
        for layout, people, frames, fps in (("pairs", 4, 60, 15), ("crossing", 3, 100, 25)):
            case = build_case(
                images, args.work / layout, people, frames, 640, 360, fps, layout=layout
            )
            compare(case.video, truth_reference(case.truth), args.work, runs, args.verbose)


if __name__ == "__main__":
    main()
