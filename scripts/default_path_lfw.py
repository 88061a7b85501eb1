"""The default path end to end, as a user runs it: `faceprint enroll` then `faceprint identify`.

Enrols the first photo of 300 LFW people who have at least 2 photos (random, seed 0) with
`faceprint enroll DIR`, identifies their second photos, and identifies the first photo of 300
never-enrolled people (random, seed 0, among those with a single photo). Prints the exit code of
the enrolment, rank-1 (the nearest identity of each probe's largest face), the open-set FAR (the
share of never-enrolled people given a name at the gallery's default threshold) and the CPU flags
and precision it ran with. Set ``FACEPRINT_PRECISION`` (bf16, fp32) to force a precision;
``ONEDNN_MAX_CPU_ISA=AVX2`` makes an AVX-512 machine compute like an AVX2 one (bf16 emulated).

    python scripts/default_path_lfw.py --data ../shared/data/lfw [--people 300]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from faceprint.evaluation.verification import people_images
from faceprint.precision import PRECISION_ENV, precision_flags, resolve_precision


def identify(gallery: Path, photos: list[Path]) -> list[dict]:
    """The largest face's answer per photo (``{}`` where none was found), from the CLI."""
    done = subprocess.run(
        [sys.executable, "-m", "faceprint", "identify", "--gallery", str(gallery), "--json"]
        + [str(p) for p in photos],
        capture_output=True,
        text=True,
    )
    answers = json.loads(done.stdout)
    return [(a["faces"] or [{}])[0] for a in answers]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/lfw"))
    parser.add_argument("--people", type=int, default=300)
    args = parser.parse_args()
    people = people_images(args.data / "images")
    candidates = [n for n, imgs in people.items() if len(imgs) >= 2]
    strangers = [n for n, imgs in people.items() if len(imgs) == 1]
    enrolled = sorted(random.Random(0).sample(candidates, args.people))
    never = sorted(random.Random(0).sample(strangers, args.people))
    print(
        f"CPU flags: {precision_flags()}; {PRECISION_ENV}={os.environ.get(PRECISION_ENV, '')!r}"
        f" -> precision {resolve_precision('auto')}; "
        f"ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', '')!r}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "people"
        for name in enrolled:
            (folder / name).mkdir(parents=True)
            (folder / name / people[name][0].name).symlink_to(people[name][0].resolve())
        gallery = Path(tmp) / "lfw.gallery"
        started = time.perf_counter()
        enrol = subprocess.run(
            [sys.executable, "-m", "faceprint", "enroll", "--gallery", str(gallery), str(folder)],
            capture_output=True,
            text=True,
        )
        print(f"faceprint enroll: exit {enrol.returncode} in {time.perf_counter() - started:.0f} s")
        if enrol.returncode:
            print(enrol.stderr[-2000:])
        probes = identify(gallery, [people[n][1] for n in enrolled])
        impostors = identify(gallery, [people[n][0] for n in never])
    nearest = [p.get("candidates", [{}])[0].get("identity") for p in probes]
    rank1 = sum(a == n for a, n in zip(nearest, enrolled, strict=True)) / len(enrolled)
    named = sum(p.get("identity", "unknown") != "unknown" for p in impostors) / len(never)
    print(f"| rank-1 ({len(enrolled)} second photos) | open-set FAR ({len(never)} strangers) |")
    print("| --- | --- |")
    print(f"| {rank1:.4f} | {named:.4f} |")


if __name__ == "__main__":
    main()
