"""Choose the face-quality method by measurement: error-versus-discard on LFW all pairs.

Every image of LFW (13,233, one face each: the subject's, as ``faceprint eval`` picks it, from
the evaluation cache's detections) is cropped and run through the default model's trunk once;
the candidates of :mod:`faceprint.quality` are scored from that pass. Anything fitted (the
heuristic's weights, the logistic maps into [0, 1], SER-FIQ's dropout rate) is fitted on the
people of LFW View 1's training split (``peopleDevTrain.txt``) alone; the table is reported on
the people of ``peopleDevTest.txt``, whom no fit saw, and, for reference, on all of LFW.

For each candidate (and random dropping) the lowest-quality 0/5/10/20/30% of faces are
dropped; a pair is dropped if either face is; FNMR is counted over every remaining genuine pair
at the model's FAR 1e-3 threshold (read off LFW View 1 impostors), and the realised FAR over
every remaining impostor pair, by matrix products in row blocks.

    nice -n 19 python scripts/measure_quality.py --data ../shared/data/lfw [--fit]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F
from tqdm import tqdm

from faceprint import quality
from faceprint.alignment import standardize
from faceprint.evaluation.verification import (
    _key,
    _load,
    _save,
    detect_primary_faces,
    people_images,
)
from faceprint.images import load_image
from faceprint.pipeline import FaceRecognizer

DROPS = (0.0, 0.05, 0.10, 0.20, 0.30)
DROPOUTS = (0.2, 0.5)


def score_faces(
    recognizer: FaceRecognizer,
    images: list[Image.Image],
    boxes: list[np.ndarray | None],
    landmarks: list[np.ndarray | None],
    dropouts: tuple[float, ...] = (quality.SERFIQ_DROPOUT,),
) -> dict[str, np.ndarray]:
    """Every candidate's raw measurement of one face per image, from one trunk pass:
    ``embeddings (N, D)``, ``norms (N,)``, ``spread_<p> (N,)`` per dropout rate,
    ``features (N, 8)`` of the heuristic and ``thumbs (N, 64, 64)`` grey crops."""
    model = recognizer._embedder
    head = torch.nn.Sequential(model.last_linear, model.last_bn)
    crops = [
        np.asarray(recognizer.crop(image, box, marks))
        for image, box, marks in zip(images, boxes, landmarks, strict=True)
    ]
    out = {
        "features": np.stack(
            [
                quality.heuristic_features(c, b, m)
                for c, b, m in zip(crops, boxes, landmarks, strict=True)
            ]
        ),
        "thumbs": np.stack(
            [
                np.asarray(Image.fromarray(c).convert("L").resize((64, 64), Image.BILINEAR))
                for c in crops
            ]
        ),
    }
    x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float()
    x = standardize(x, recognizer.weights.standardization)
    autocast = torch.autocast("cpu", torch.bfloat16, enabled=recognizer.precision == "bf16")
    with torch.inference_mode(), autocast:
        pooled = model.trunk(x)
        feats = head(pooled.flatten(1)).float()
        out["norms"] = feats.norm(dim=1).numpy()
        out["embeddings"] = F.normalize(feats, dim=1).numpy()
        for p in dropouts:
            out[f"spread_{p}"] = quality.serfiq_spread(pooled, head, dropout=p).numpy()
    return out


def extract(recognizer: FaceRecognizer, paths: list[Path], batch: int = 64, parts: int = 4) -> dict:
    """Per image: trunk features' SER-FIQ spreads, pre-normalisation norms, unit embeddings,
    heuristic features and a 64 px grey thumbnail, cached in the evaluation cache in ``parts``
    slices (``--part K`` computes one, so that several processes can share the work)."""
    detections = detect_primary_faces(recognizer, paths)
    pieces = [extract_part(recognizer, paths, detections, k, parts, batch) for k in range(parts)]
    arrays = {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]}
    arrays["found"] = ~np.isnan(detections["probs"])
    return arrays


def extract_part(
    recognizer: FaceRecognizer,
    paths: list[Path],
    detections: dict,
    part: int,
    parts: int,
    batch: int = 64,
) -> dict:
    """:func:`extract` of the ``part``-th of ``parts`` contiguous slices of ``paths``."""
    bounds = np.linspace(0, len(paths), parts + 1).astype(int)
    lo, hi = int(bounds[part]), int(bounds[part + 1])
    key = _key(
        "quality-extract",
        [str(p) for p in paths[lo:hi]],
        recognizer.name,
        recognizer.precision,
        quality.SERFIQ_PASSES,
        DROPOUTS,
    )
    cached = _load(key)
    if cached is not None:
        return cached
    out: dict[str, list] = {}
    for start in tqdm(range(lo, hi, batch), desc=f"quality features {part}", unit="batch"):
        images, boxes, marks = [], [], []
        for i in range(start, min(start + batch, hi)):
            found = not np.isnan(detections["probs"][i])
            images.append(load_image(paths[i]))
            boxes.append(detections["boxes"][i] if found else None)
            marks.append(detections["landmarks"][i] if found else None)
        for k, v in score_faces(recognizer, images, boxes, marks, DROPOUTS).items():
            out.setdefault(k, []).append(v)
    arrays = {k: np.concatenate(v) for k, v in out.items()}
    _save(key, arrays)
    return arrays


def timing(recognizer: FaceRecognizer, paths: list[Path], repeats: int = 3) -> dict[str, float]:
    """Milliseconds per face of each step, measured in one run on ``paths`` (one face each,
    already cropped, so detection is left out): the embedding pass itself, and what each
    candidate adds to it (the heuristic: its features on the crop; SER-FIQ: the stochastic
    passes on the trunk's output; serfiq+embedding: its map on top of SER-FIQ's spread; the
    norm: one vector norm)."""
    detections = detect_primary_faces(recognizer, paths, progress=False)
    crops = [
        np.asarray(recognizer.crop(load_image(p), b, m))
        for p, b, m in zip(paths, detections["boxes"], detections["landmarks"], strict=True)
    ]
    model = recognizer._embedder
    head = torch.nn.Sequential(model.last_linear, model.last_bn)
    x = standardize(
        torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float(),
        recognizer.weights.standardization,
    )
    best: dict[str, float] = {}

    def clock(name: str, work) -> object:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            result = work()
            times.append(time.perf_counter() - started)
        best[name] = 1000 * min(times) / len(paths)
        return result

    autocast = torch.autocast("cpu", torch.bfloat16, enabled=recognizer.precision == "bf16")
    with torch.inference_mode(), autocast:
        pooled = clock("embedding (trunk and bottleneck)", lambda: model.trunk(x))
        feats = head(pooled.flatten(1))
        spread = clock("serfiq", lambda: quality.serfiq_spread(pooled, head)).numpy()
        clock("norm", lambda: feats.norm(dim=1))
    if recognizer.weights.quality_head:
        unit = F.normalize(feats.float(), dim=1).numpy()
        fitted = quality.load_quality_head(recognizer.weights.quality_head)
        clock(
            "serfiq+embedding (beyond serfiq)",
            lambda: quality.embedding_quality(unit, spread, fitted),
        )
    clock(
        "heuristic",
        lambda: [
            quality.heuristic_features(c, b, m)
            for c, b, m in zip(crops, detections["boxes"], detections["landmarks"], strict=True)
        ],
    )
    return best


def genuine_pairs(people: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(G,)`` indices ``i < j`` of every pair of images of one person."""
    a, b = [], []
    for name in np.unique(people):
        idx = np.flatnonzero(people == name)
        i, j = np.triu_indices(len(idx), k=1)
        a.append(idx[i])
        b.append(idx[j])
    return np.concatenate(a), np.concatenate(b)


def mean_genuine_distance(embeddings: np.ndarray, people: np.ndarray) -> np.ndarray:
    """``(N,)`` each face's mean distance to the other images of its person (NaN: none)."""
    out = np.full(len(people), np.nan, np.float32)
    for name in np.unique(people):
        idx = np.flatnonzero(people == name)
        if len(idx) < 2:
            continue
        e = embeddings[idx]
        d = np.sqrt(np.clip(2 - 2 * e @ e.T, 0, None))
        out[idx] = d.sum(1) / (len(idx) - 1)
    return out


def dropped_lowest(score: np.ndarray, fraction: float) -> np.ndarray:
    """``(N,)`` bool: the ``fraction`` of faces with the lowest score (ties broken by index)."""
    order = np.argsort(score, kind="stable")
    drop = np.zeros(len(score), bool)
    drop[order[: int(round(fraction * len(score)))]] = True
    return drop


def error_versus_discard(
    embeddings: np.ndarray, people: np.ndarray, scores: dict[str, np.ndarray], threshold: float
) -> dict[str, list[dict]]:
    """Per candidate and drop fraction: FNMR over the genuine pairs and realised FAR over the
    impostor pairs whose two faces are both kept, at ``threshold``."""
    ga, gb = genuine_pairs(people)
    genuine_distance = np.linalg.norm(embeddings[ga] - embeddings[gb], axis=1)
    keeps = {(name, f): ~dropped_lowest(s, f) for name, s in scores.items() for f in DROPS}
    impostors = dict.fromkeys(keeps, 0)
    accepted = dict.fromkeys(keeps, 0)
    similar = 1.0 - threshold**2 / 2.0
    n = len(people)
    for start in range(0, n, 1024):
        rows = slice(start, min(start + 1024, n))
        later = np.arange(n)[None, :] > np.arange(rows.start, rows.stop)[:, None]
        cross = later & (people[rows][:, None] != people[None, :])
        hits = cross & (embeddings[rows] @ embeddings.T > similar)
        for k, keep in keeps.items():
            both = keep[rows][:, None] & keep[None, :]
            impostors[k] += int((cross & both).sum())
            accepted[k] += int((hits & both).sum())
    table: dict[str, list[dict]] = {}
    for (name, f), keep in keeps.items():
        kept = keep[ga] & keep[gb]
        table.setdefault(name, []).append(
            {
                "drop": f,
                "fnmr": float((genuine_distance[kept] >= threshold).mean()),
                "genuine_pairs": int(kept.sum()),
                "far": accepted[(name, f)] / max(impostors[(name, f)], 1),
                "impostor_pairs": impostors[(name, f)],
            }
        )
    return table


def logistic_map(values: np.ndarray, higher_is_better: bool) -> tuple[float, float]:
    """``(center, scale)`` putting the worst tenth of ``values`` below 0.5."""
    values = values[np.isfinite(values)]
    center = float(np.quantile(values, 0.1 if higher_is_better else 0.9))
    return center, float(values.std())


def fit_heuristic(features: np.ndarray, target: np.ndarray) -> dict:
    """Least-squares weights of standardised features predicting ``-target`` (the mean
    genuine distance), scaled so that the worst tenth of the training faces score < 0.5
    (the fields of :class:`faceprint.quality.LinearQuality`)."""
    from sklearn.linear_model import Ridge

    ok = np.isfinite(target)
    mean, std = features[ok].mean(0), features[ok].std(0) + 1e-6
    z = (features[ok] - mean) / std
    model = Ridge(alpha=1.0).fit(z, -target[ok])
    prediction = z @ model.coef_
    spread = prediction.std()
    weights = model.coef_ / spread
    bias = -float(np.quantile(prediction / spread, 0.1))
    return {"mean": mean, "std": std, "weights": weights, "bias": bias}


def _head_fields(fit: dict) -> dict:
    return {k: np.asarray(fit[k], np.float32) for k in ("mean", "std", "weights")} | {
        "bias": np.float32(fit["bias"])
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="the LFW folder")
    parser.add_argument("--json", type=Path, help="write the table here too")
    parser.add_argument("--part", type=int, help="only compute (and cache) this quarter, 0-3")
    parser.add_argument(
        "--write-head",
        type=Path,
        help="write the serfiq+embedding map fitted on the training people here (.npz; the "
        "package's is src/faceprint/assets/quality_head_ms-celeb-1m.npz)",
    )
    args = parser.parse_args()
    recognizer = FaceRecognizer()  # precision "auto": bf16 on AMX and AVX-512 BF16 CPUs
    print(f"precision {recognizer.precision}")
    people_paths = people_images(args.data / "images")
    paths = [p for name in sorted(people_paths) for p in people_paths[name]]
    if args.part is not None:
        detections = detect_primary_faces(recognizer, paths)
        extract_part(recognizer, paths, detections, args.part, 4)
        return
    started = time.perf_counter()
    arrays = extract(recognizer, paths)
    print(f"extracted {len(paths)} faces in {time.perf_counter() - started:.0f} s")
    people = np.array([p.parent.name for p in paths])
    train_names = {
        line.split()[0]
        for line in (args.data / "peopleDevTrain.txt").read_text().splitlines()[1:]
        if line.strip()
    }
    train = np.array([p in train_names for p in people])
    e = arrays["embeddings"]
    target = mean_genuine_distance(e, people)
    fitted = {}
    # SER-FIQ's dropout rate: the one whose spread best ranks the training faces' genuine
    # distances (Spearman).
    from scipy.stats import spearmanr

    ok = train & np.isfinite(target)
    rhos = {p: spearmanr(arrays[f"spread_{p}"][ok], target[ok])[0] for p in DROPOUTS}
    print("SER-FIQ dropout vs genuine distance on training people (Spearman):", rhos)
    best_p = max(rhos, key=rhos.get)
    fitted["serfiq"] = {
        "dropout": best_p,
        "map": logistic_map(arrays[f"spread_{best_p}"][train], False),
    }
    fitted["norm"] = {"map": logistic_map(arrays["norms"][train], True)}
    fitted["heuristic"] = fit_heuristic(
        arrays["features"][train], np.where(train, target, np.nan)[train]
    )
    print(
        "heuristic weights",
        dict(zip(quality.HEURISTIC_FEATURES, fitted["heuristic"]["weights"].round(3), strict=True)),
    )
    h = fitted["heuristic"]
    heuristic = ((arrays["features"] - h["mean"]) / h["std"]) @ h["weights"] + h["bias"]
    # A fourth candidate: the heuristic's features and SER-FIQ's spread in one fit.
    joint = np.column_stack([arrays["features"], arrays[f"spread_{best_p}"]])
    fitted["serfiq+heuristic"] = fit_heuristic(joint[train], target[train])
    c = fitted["serfiq+heuristic"]
    combined = ((joint - c["mean"]) / c["std"]) @ c["weights"] + c["bias"]
    # The fifth: SER-FIQ's spread and the unit embedding in one fit. Its weights are per
    # embedding dimension, so on all of LFW each face is scored by the fit of the other split's
    # people (the training people's faces by a fit on the test people): no face is scored by a
    # fit that saw its person.
    spread = arrays[f"spread_{quality.SERFIQ_DROPOUT}"]
    measured = quality.embedding_measurements(e, spread)
    head = fit_heuristic(measured[train], target[train])
    crossed = np.zeros(len(paths), np.float32)
    for fold, fit in ((~train, head), (train, fit_heuristic(measured[~train], target[~train]))):
        fitted_map = quality.LinearQuality(**_head_fields(fit))
        crossed[fold] = quality.embedding_quality(e[fold], spread[fold], fitted_map)
    if args.write_head:
        np.savez(args.write_head, **_head_fields(head))
        print(f"wrote {args.write_head}")
    print("fitted", json.dumps(fitted, default=lambda a: np.asarray(a).round(4).tolist()))
    rng = np.random.default_rng(0)
    scores = {
        "serfiq+embedding": crossed,
        "serfiq": -arrays[f"spread_{best_p}"],
        "heuristic": heuristic,
        "serfiq+heuristic": combined,
        "norm": arrays["norms"],
        "random": rng.random(len(paths)),
    }
    threshold = recognizer.threshold
    costs = timing(recognizer, paths[:: len(paths) // 64][:64])
    print(
        "ms per face:",
        {k: round(v, 3) for k, v in costs.items()},
        f"({torch.get_num_threads()} threads)",
    )
    report = {"threshold": threshold, "fitted": fitted, "ms_per_face": costs}
    for split, mask in (
        ("test people (peopleDevTest.txt)", ~train),
        ("all of LFW", np.ones_like(train)),
    ):
        table = error_versus_discard(
            e[mask], people[mask], {k: v[mask] for k, v in scores.items()}, threshold
        )
        report[split] = table
        print(f"\n{split}: {mask.sum()} faces, FNMR at FAR 1e-3 (threshold {threshold:.4f})")
        print("| candidate | " + " | ".join(f"drop {d:.0%}" for d in DROPS) + " |")
        print("|---|" + "---|" * len(DROPS))
        for name, rows in table.items():
            cells = " | ".join(f"{r['fnmr']:.4f}" for r in rows)
            print(f"| {name} | {cells} |")
        print("realised FAR:", {n: [round(r["far"], 5) for r in rows] for n, rows in table.items()})
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=lambda a: np.asarray(a).tolist()))


if __name__ == "__main__":
    main()
