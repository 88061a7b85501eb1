"""Face detectors' recall by face size, with no WIDER FACE: LFW faces pasted on face-free scenes.

    python benchmarks/detection_recall.py [--scenes 40] [--frames 4] [--threads 1]
    python benchmarks/detection_recall.py --tune [--tuning-scenes 60]

Scenes (:mod:`faceprint.evaluation.detection_scenes`, whose docstring gives the construction
and the matching rule) hold eight LFW faces each, two per band of 10-16, 16-24 and 24-40 px and
one per band of 40-64 and 64-128 px of face height, a share of them turned, covered or
dimmed. The report scenes show people that no tuning scene shows.

The default run prints, on the report scenes, recall per size band, overall, and false
positives per megapixel for faceprint's MTCNN, facenet-pytorch 2.6.0's MTCNN, CenterFace at
input scales 0.5, 1 and 2, CenterFace with ``min_face_size`` choosing its scale, a naive union
of MTCNN and CenterFace, and the fused detector as the registry builds it (and without its
agreement rule); each detector is told the smallest face (``--min-face-size``, default 7, the
shorter side of a 10-px-high face), but for the fixed-scale CenterFace rows. Fused rows merge
their members' answers with ``FusedDetector.merge``, each member run once.

Then, on ``samples/multiface.jpg`` and ``--frames`` frames of the 1080p
``samples/video.mp4``: faces found and seconds per image at each detector's default and at a
reduced input scale.

``--tune`` runs the members once at low thresholds on the tuning scenes and sweeps the fused
detector's settings (MTCNN's threshold, CenterFace's threshold and scale, the calibrated score
below which a face needs both members) over their answers; it prints the best settings that
keep every band at or above MTCNN's count at most 0.3 false positives per megapixel.
"""

from __future__ import annotations

import argparse
import itertools
import pickle
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, cpu_path, peer, video_frames  # noqa: E402

from faceprint.detection import (  # noqa: E402
    CenterFace,
    Detections,
    FusedDetector,
    create_detector,
)
from faceprint.detection.registry import detector_entry  # noqa: E402
from faceprint.evaluation.detection_scenes import BANDS, RecallReport, make_scenes, score  # noqa: E402
from faceprint.images import load_image  # noqa: E402

BAND_NAMES = [f"{lo}-{hi}" for lo, hi in BANDS]


def run(detector, images: list[np.ndarray]) -> tuple[list[Detections], float]:
    """Answers one image at a time (as a video or a folder is read), and seconds per image."""
    start = time.perf_counter()
    out = [detector.detect_batch([image])[0] for image in images]
    return out, (time.perf_counter() - start) / max(1, len(images))


def peer_answers(min_face_size: float, images: list[np.ndarray]) -> tuple[list, float]:
    mtcnn = peer().MTCNN(keep_all=True, min_face_size=min_face_size)
    start = time.perf_counter()
    out = []
    for image in images:
        boxes, probs = mtcnn.detect(image)
        if boxes is None:
            out.append(Detections.empty())
        else:
            order = np.argsort(-probs)
            found = Detections(
                boxes[order].astype(np.float32),
                probs[order].astype(np.float32),
                np.zeros((len(order), 5, 2), np.float32),
            )
            out.append(found.at_least(min_face_size))
    return out, (time.perf_counter() - start) / max(1, len(images))


def as_pairs(found: list[Detections]) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(f.boxes, f.scores) for f in found]


def table(rows: list[tuple[str, RecallReport, float]], base: RecallReport) -> None:
    counts = [int((base.bands == b).sum()) for b in range(len(BANDS))]
    header = " | ".join(f"{n} px ({c})" for n, c in zip(BAND_NAMES, counts, strict=True))
    print(
        f"| detector | {header} | all ({len(base.found)}) | FP/MP | of MTCNN's misses | s/scene |"
    )
    print("|" + " --- |" * (len(BANDS) + 5))
    missed = ~base.found
    for name, r, seconds in rows:
        bands = " | ".join(f"{x:.3f}" for x in r.band_recall())
        rescued = (r.found & missed).sum() / max(1, missed.sum())
        print(
            f"| {name} | {bands} | {r.recall:.3f} | {r.fp_per_megapixel:.2f} | "
            f"{rescued:.2f} | {seconds:.2f} |"
        )


def centerface(net, **options) -> CenterFace:
    return CenterFace(net=net, **options)


def _key(detector) -> tuple:
    """A detector's settings but its last score threshold: answers at one threshold are those
    at a lower one with the lower-scoring faces removed (greedy NMS only suppresses a face by a
    better one), so each such setting runs once, at the lowest threshold asked for."""
    if isinstance(detector, CenterFace):
        return ("centerface", detector.input_scale, detector.min_face_size, detector.nms_iou)
    return ("mtcnn", detector.input_scale, detector.min_face_size, *detector.thresholds[:2])


def report_scenes(args) -> None:
    scenes = make_scenes(args.lfw, "report", args.scenes, seed=args.seed)
    images = [s.image for s in scenes]
    faces = sum(len(s.faces) for s in scenes)
    area = sum(s.megapixels for s in scenes)
    print(f"\n{len(scenes)} report scenes, {faces} faces, {area:.1f} megapixels", flush=True)
    small = args.min_face_size
    net = CenterFace().net
    cache: dict[tuple, tuple[float, list[Detections], float]] = {}
    stored = Path(args.cache) if args.cache else None
    if stored is not None and stored.exists():
        with stored.open("rb") as f:
            scenes_of, cache = pickle.load(f)
        if scenes_of != (args.scenes, args.seed):
            cache = {}
    rows: list[tuple[str, RecallReport, float]] = []

    def answers(detector) -> tuple[list[Detections], float]:
        key, threshold = _key(detector), detector.score_threshold
        if key not in cache or cache[key][0] > threshold:
            found, seconds = run(detector, images)
            cache[key] = (threshold, found, seconds)
            if stored is not None:
                with stored.open("wb") as f:
                    pickle.dump(((args.scenes, args.seed), cache), f)
        _, found, seconds = cache[key]
        return [f.select(f.scores > threshold) for f in found], seconds

    def measure(name: str, detector) -> RecallReport:
        if isinstance(detector, FusedDetector):
            # Each member runs (once); the merge is FusedDetector.merge itself.
            runs = [answers(member) for member in detector.members]
            seconds = sum(s for _, s in runs)
            found = [detector.merge([a[i] for a, _ in runs]) for i in range(len(images))]
        else:
            found, seconds = answers(detector)
        r = score(scenes, as_pairs(found))
        rows.append((name, r, seconds))
        print(f"  {name}: recall {r.recall:.3f}, {r.fp_per_megapixel:.2f} FP/MP", flush=True)
        return r

    mtcnn = create_detector("mtcnn", min_face_size=small)
    cf = centerface(net, min_face_size=small)
    union = FusedDetector(
        [mtcnn, centerface(net, input_scale=2.0, score_threshold=0.3)],
        [detector_entry("mtcnn").calibration, detector_entry("centerface").calibration],
    )
    plan = [
        (f"faceprint MTCNN (min_face_size={small:g})", mtcnn),
        *((f"CenterFace, input_scale {s:g}", centerface(net, input_scale=s)) for s in (0.5, 1, 2)),
        (f"CenterFace, min_face_size={small:g} (input_scale {cf.input_scale:.2f})", cf),
        ("naive union: MTCNN + CenterFace x2 at 0.3, NMS", union),
        (
            f"mtcnn+centerface, agreement_below=0 (min_face_size={small:g})",
            create_detector("mtcnn+centerface", min_face_size=small, agreement_below=0.0),
        ),
        (
            f"mtcnn+centerface (registry defaults, min_face_size={small:g})",
            create_detector("mtcnn+centerface", min_face_size=small),
        ),
    ]
    lowest: dict[tuple, object] = {}
    for _, detector in plan:
        for d in getattr(detector, "members", [detector]):
            if _key(d) not in lowest or lowest[_key(d)].score_threshold > d.score_threshold:
                lowest[_key(d)] = d
    for d in lowest.values():
        answers(d)
    base = measure(*plan[0])
    found, seconds = peer_answers(small, images)
    r = score(scenes, as_pairs(found))
    rows.append((f"facenet-pytorch MTCNN (min_face_size={small:g})", r, seconds))
    for name, detector in plan[1:]:
        measure(name, detector)
    print()
    table(rows, base)
    (_, _, ours), (_, _, theirs) = rows[0], rows[1]
    print(f"\nMTCNN time per scene, facenet-pytorch / faceprint: {theirs / ours:.2f}x")


def real_images(args) -> None:
    group = np.asarray(load_image(DATA / "samples" / "multiface.jpg"))
    frames = video_frames(limit=args.frames * 30)[::30][: args.frames]
    net = CenterFace().net
    print(
        f"\nmultiface.jpg ({group.shape[1]}x{group.shape[0]}) and {len(frames)} frames of "
        f"video.mp4 ({frames[0].shape[1]}x{frames[0].shape[0]}), one image per call, "
        f"{torch.get_num_threads()} threads"
    )
    settings = [
        ("MTCNN (default, min_face_size 20)", lambda: create_detector("mtcnn")),
        ("MTCNN, input_scale 0.5", lambda: create_detector("mtcnn", input_scale=0.5)),
        ("CenterFace (default, input_scale 1)", lambda: centerface(net)),
        ("CenterFace, input_scale 0.5", lambda: centerface(net, input_scale=0.5)),
        ("mtcnn+centerface (default)", lambda: create_detector("mtcnn+centerface")),
        (
            "mtcnn+centerface, agreement_below=0",
            lambda: create_detector("mtcnn+centerface", agreement_below=0.0),
        ),
        (
            "mtcnn+centerface, input_scale 0.5",
            lambda: create_detector("mtcnn+centerface", input_scale=0.5),
        ),
    ]
    print("| detector | multiface.jpg faces | s/image | video faces (frames) | s/frame |")
    print("| --- | --- | --- | --- | --- |")
    for name, build in settings:
        detector = build()
        detector.detect_batch([group])  # warm-up
        found, t_group = run(detector, [group])
        answers, t_frame = run(detector, frames)
        print(
            f"| {name} | {len(found[0])} | {t_group:.2f} | "
            f"{sum(len(a) for a in answers)} ({len(frames)}) | {t_frame:.2f} |",
            flush=True,
        )


def tune(args) -> None:
    scenes = make_scenes(args.lfw, "tuning", args.tuning_scenes, seed=args.seed)
    images = [s.image for s in scenes]
    small = args.min_face_size
    print(f"\n{len(scenes)} tuning scenes, {sum(len(s.faces) for s in scenes)} faces")
    net = CenterFace().net
    mtcnn_runs = {
        "p0.6 r0.7": create_detector("mtcnn", min_face_size=small, score_threshold=0.2),
        "p0.5 r0.6": create_detector("mtcnn", min_face_size=small, thresholds=[0.5, 0.6, 0.2]),
    }
    cache = Path(args.cache) if args.cache else None
    if cache is not None and cache.exists():
        with cache.open("rb") as f:
            answers_m, answers_c = pickle.load(f)
    else:
        answers_m = {k: run(d, images)[0] for k, d in mtcnn_runs.items()}
        answers_c = {
            s: run(
                centerface(net, input_scale=s, score_threshold=0.1, min_face_size=small), images
            )[0]
            for s in (1.0, 2.0, 3.0)
        }
        if cache is not None:
            with cache.open("wb") as f:
                pickle.dump((answers_m, answers_c), f)
    cal_m, cal_c = (detector_entry(n).calibration for n in ("mtcnn", "centerface"))

    def above(found: list[Detections], t: float) -> list[Detections]:
        return [f.select(f.scores > t) for f in found]

    base = score(scenes, as_pairs(above(answers_m["p0.6 r0.7"], 0.7)))
    need = base.band_found()
    print(f"MTCNN alone: {need} found per band, {base.recall:.3f}, {base.fp_per_megapixel:.2f}")
    results = []
    for (mk, am), (scale, ac) in itertools.product(answers_m.items(), answers_c.items()):
        for tm in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
            fm = above(am, tm)
            for tc in (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5):
                fc = above(ac, tc)
                for agree in (0.0, 0.002, 0.004, 0.006, 0.008, 0.01, 0.05, 0.1, 0.25, 0.5):
                    fused = _merger(cal_m, cal_c, agree)
                    merged = [fused.merge([a, c]) for a, c in zip(fm, fc, strict=True)]
                    r = score(scenes, as_pairs(merged))
                    results.append((mk, scale, tm, tc, agree, r))
    ok = [
        x
        for x in results
        if x[5].fp_per_megapixel <= 0.3
        and all(f >= n for f, n in zip(x[5].band_found(), need, strict=True))
    ]
    ok.sort(key=lambda x: (-x[5].found.sum(), x[1], x[5].false_positives))
    print(f"{len(ok)} of {len(results)} settings keep every band and <= 0.3 FP/MP; the best:")
    for mk, scale, tm, tc, agree, r in ok[:25]:
        print(
            f"  mtcnn {mk} t{tm:g}, centerface x{scale:g} t{tc:g}, agreement below {agree:g}: "
            f"{r.band_found()} = {r.recall:.3f}, {r.fp_per_megapixel:.2f} FP/MP"
        )
    for scale in (1.0, 2.0, 3.0):
        best = max((x for x in ok if x[1] == scale), key=lambda x: x[5].found.sum(), default=None)
        if best:
            print(f"  best at x{scale:g}: {best[:5]} {best[5].band_found()} {best[5].recall:.3f}")


class _Stub:
    name = "stub"
    min_face_size = 0.0
    input_scale = 1.0
    score_threshold = 0.0

    def detect_batch(self, images):  # pragma: no cover - never run, merge only
        raise NotImplementedError


def _merger(cal_m, cal_c, agree: float) -> FusedDetector:
    return FusedDetector([_Stub(), _Stub()], [cal_m, cal_c], agreement_below=agree)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, default=DATA / "lfw")
    parser.add_argument("--scenes", type=int, default=40, help="report scenes")
    parser.add_argument("--tuning-scenes", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-face-size", type=float, default=7.0)
    parser.add_argument("--frames", type=int, default=4, help="video frames, 1 s apart")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--tune", action="store_true", help="sweep fused settings instead")
    parser.add_argument("--cache", help="keep the detectors' answers in this file, for reruns")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {cpu_path()}")
    if args.tune:
        tune(args)
        return
    report_scenes(args)
    real_images(args)


if __name__ == "__main__":
    main()
