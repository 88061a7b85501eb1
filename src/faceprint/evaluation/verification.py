"""Verification benchmarks on labelled pairs: LFW's protocol, or pairs from your own folders.

Faces are detected once per image and embedded once per (model, alignment); both steps are
cached on disk, so re-scoring with another threshold or metric is instant.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from faceprint.detection.mtcnn import select_face
from faceprint.evaluation.metrics import VerificationMetrics, roc, verification_metrics
from faceprint.files import atomic_path
from faceprint.images import IMAGE_SUFFIXES, load_image
from faceprint.models.ensemble import fuse_embeddings
from faceprint.pipeline import FaceRecognizer, Region

logger = logging.getLogger(__name__)


@dataclass
class Pairs:
    """Labelled image pairs.

    Attributes:
        a, b: the two images of each pair.
        same: ``(P,)`` bool, True where both show one person.
        folds: ``(P,)`` int fold of each pair (LFW View 2 has 10).
    """

    a: list[Path]
    b: list[Path]
    same: np.ndarray
    folds: np.ndarray

    def images(self) -> list[Path]:
        """Every distinct image, sorted."""
        return sorted(set(self.a) | set(self.b))

    def indices(self, images: Sequence[Path]) -> tuple[np.ndarray, np.ndarray]:
        """``(P,)`` positions in ``images`` of each pair's first and second image (``images``
        holds at least :meth:`images`)."""
        index = {p: i for i, p in enumerate(images)}
        return np.array([index[p] for p in self.a]), np.array([index[p] for p in self.b])

    def __len__(self) -> int:
        return len(self.a)


@dataclass
class VerificationReport:
    """The result of :func:`evaluate`; ``to_dict`` gives the JSON the CLI prints."""

    model: str
    alignment: dict
    pairs: int
    images: int
    missed_detections: int
    missed_handling: str
    seconds: float
    metrics: VerificationMetrics
    roc: tuple[np.ndarray, np.ndarray] = field(repr=False)

    def to_dict(self) -> dict:
        m = self.metrics
        return {
            "model": self.model,
            "alignment": self.alignment,
            "pairs": self.pairs,
            "images": self.images,
            "accuracy": m.accuracy,
            "accuracy_std": m.accuracy_std,
            "fold_accuracies": m.fold_accuracies.tolist(),
            "thresholds": m.thresholds.tolist(),
            "threshold": float(np.mean(m.thresholds)),
            "auc": m.auc,
            "eer": m.eer,
            "tar_at_far_1e-3": m.tar_at_far_1e_3,
            "missed_detections": self.missed_detections,
            "missed_handling": self.missed_handling,
            "seconds": self.seconds,
        }


def join_pairs(parts: Sequence[Pairs]) -> Pairs:
    """One set of pairs from several (View 1's ``pairsDevTrain.txt`` and ``pairsDevTest.txt``),
    each keeping its folds."""
    return Pairs(
        [p for part in parts for p in part.a],
        [p for part in parts for p in part.b],
        np.concatenate([part.same for part in parts]),
        np.concatenate([part.folds for part in parts]),
    )


def read_lfw_pairs(pairs_file: str | os.PathLike, images_dir: str | os.PathLike) -> Pairs:
    """Read an LFW pairs file (View 2 ``pairs.txt`` or View 1 ``pairsDevTrain.txt``/``DevTest``).

    View 2 starts with ``folds per_fold``, then per fold ``per_fold`` same-person lines
    (``name i j``) and ``per_fold`` different-person lines (``name1 i name2 j``). View 1 starts
    with the count and is one set, split here into 10 interleaved folds for cross-validation.
    """
    pairs_file = Path(pairs_file)
    if not pairs_file.is_file():
        raise FileNotFoundError(f"{pairs_file}: no such pairs file (LFW's is pairs.txt)")
    lines = [
        line.split() for line in pairs_file.read_text(errors="replace").splitlines() if line.strip()
    ]
    header = lines[0] if lines else []
    if not header or not all(h.isdigit() for h in header) or len(header) > 2:
        raise ValueError(
            f"{pairs_file}: not an LFW pairs file; its first line must be 'FOLDS PAIRS' (View 2) "
            "or 'PAIRS' (View 1)"
        )
    body = lines[1:]
    n_folds = int(header[0]) if len(header) == 2 else 1
    root = Path(images_dir)

    def path(name: str, index: str) -> Path:
        return root / name / f"{name}_{int(index):04d}.jpg"

    a, b, same = [], [], []
    for line in body:
        if len(line) not in (3, 4) or not (line[1].isdigit() and line[-1].isdigit()):
            raise ValueError(f"{pairs_file}: cannot read pair line {' '.join(line)!r}")
        first, second = line[0], line[0 if len(line) == 3 else 2]
        a.append(path(first, line[1]))
        b.append(path(second, line[-1]))
        same.append(len(line) == 3)
    if not body:
        raise ValueError(f"{pairs_file}: holds no pairs")
    if n_folds == 1:
        # View 1 files are one set: score them by 10-fold cross-validation within the file
        # (interleaved, so each fold holds same and different pairs).
        folds = np.arange(len(body)) % 10
    else:
        folds = np.arange(len(body)) // (len(body) // n_folds)
    missing = [p for p in sorted(set(a) | set(b)) if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} images of {pairs_file} are missing, e.g. {missing[0]}"
        )
    return Pairs(a, b, np.array(same), folds)


def view1_images(lfw_dir: str | os.PathLike) -> tuple[list[Path], np.ndarray]:
    """Every image named in LFW View 1 (``pairsDevTrain.txt`` and ``pairsDevTest.txt``: 4992
    images of 3095 people, never ``pairs.txt``), sorted, and ``(N,)`` the person of each."""
    lfw_dir = Path(lfw_dir)
    images = lfw_dir / "images"
    paths = sorted(
        set(read_lfw_pairs(lfw_dir / "pairsDevTrain.txt", images).images())
        | set(read_lfw_pairs(lfw_dir / "pairsDevTest.txt", images).images())
    )
    return paths, np.array([p.parent.name for p in paths])


def people_images(images_dir: str | os.PathLike) -> dict[str, list[Path]]:
    """``{person: sorted image paths}`` of a ``<person>/<image>`` folder (LFW's ``images/``)."""
    return {
        d.name: sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for d in sorted(Path(images_dir).iterdir())
        if d.is_dir()
    }


def folder_pairs(
    root: str | os.PathLike, pairs_per_kind: int = 3000, n_folds: int = 10, seed: int = 0
) -> Pairs:
    """Balanced pairs from your own ``root/<person>/<image>`` folders.

    Args:
        root: one folder per person.
        pairs_per_kind: at most this many same-person and as many different-person pairs.
        n_folds: folds to split the pairs into.
        seed: random seed of the pair sampling.
    """
    people = {k: v for k, v in people_images(root).items() if v}
    rng = random.Random(seed)
    same_pairs = [
        (x, y) for imgs in people.values() for i, x in enumerate(imgs) for y in imgs[i + 1 :]
    ]
    rng.shuffle(same_pairs)
    same_pairs = same_pairs[:pairs_per_kind]
    names = sorted(people)
    if len(names) < 2 or not same_pairs:
        raise ValueError(f"{root}: need at least two people and one person with two images")
    diff_pairs = []
    for _ in range(len(same_pairs)):
        p, q = rng.sample(names, 2)
        diff_pairs.append((rng.choice(people[p]), rng.choice(people[q])))
    pairs = same_pairs + diff_pairs
    same = np.array([True] * len(same_pairs) + [False] * len(diff_pairs))
    order = np.array(rng.sample(range(len(pairs)), len(pairs)))
    return Pairs(
        [pairs[i][0] for i in order],
        [pairs[i][1] for i in order],
        same[order],
        np.arange(len(pairs)) % n_folds,
    )


def eval_cache_dir() -> Path:
    """Where detections and embeddings of evaluations are cached (``$FACEPRINT_EVAL_CACHE``)."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "faceprint" / "eval"
    return Path(os.environ.get("FACEPRINT_EVAL_CACHE", default))


def detect_primary_faces(
    recognizer: FaceRecognizer,
    paths: Sequence[Path],
    cache: bool = True,
    progress: bool = True,
    batch_size: int = 32,
) -> dict[str, np.ndarray]:
    """Detect the subject's face (the large, central one) in each image.

    Returns:
        ``boxes (N, 4)``, ``probs (N,)`` and ``landmarks (N, 5, 2)`` float32; NaN rows where no
        face was found.
    """
    d = recognizer.detector
    key = _key("detect", [str(p) for p in paths], d.settings)
    cached = _load(key) if cache else None
    if cached is not None:
        return cached
    n = len(paths)
    out = {
        "boxes": np.full((n, 4), np.nan, np.float32),
        "probs": np.full(n, np.nan, np.float32),
        "landmarks": np.full((n, 5, 2), np.nan, np.float32),
    }
    with tqdm(total=n, desc="detecting", unit="img", disable=not progress) as bar:
        for start in range(0, n, batch_size):
            images = [load_image(p) for p in paths[start : start + batch_size]]
            for j, (image, found) in enumerate(zip(images, d.detect_batch(images), strict=True)):
                k = select_face(found.boxes, found.scores, image.size, "center_weighted_size")
                if k is not None:
                    out["boxes"][start + j] = found.boxes[k]
                    out["probs"][start + j] = found.scores[k]
                    out["landmarks"][start + j] = found.landmarks[k]
            bar.update(len(images))
    if cache:
        _save(key, out)
    return out


def embed_primary_faces(
    recognizer: FaceRecognizer,
    paths: Sequence[Path],
    detections: dict[str, np.ndarray] | None,
    cache: bool = True,
    progress: bool = True,
    batch_size: int = 64,
) -> np.ndarray:
    """Embed each image's subject face; where none was detected, the fallback centre crop.

    Returns:
        ``(N, D)`` float32 unit embeddings.
    """
    if recognizer.members:
        # An ensemble's embedding fuses its members' (each cached on its own).
        members = [
            torch.from_numpy(
                embed_primary_faces(member, paths, detections, cache, progress, batch_size)
            )
            for member in recognizer.members
        ]
        return fuse_embeddings(members, recognizer.weights.member_weights).numpy()
    align = recognizer.alignment
    key = _key(
        "embed",
        [str(p) for p in paths],
        recognizer.weights.name,
        recognizer.precision,
        _alignment_key(align),
        _alignment_key(recognizer.fallback),
        None if detections is None else hashlib.sha256(detections["boxes"].tobytes()).hexdigest(),
        *(["flip_average"] if recognizer.weights.flip_average else []),
        *filter(None, [_buffers_key(recognizer.model)]),
    )
    cached = _load(key) if cache else None
    if cached is not None:
        return cached["embeddings"]
    chunks = []
    with tqdm(total=len(paths), desc="embedding", unit="face", disable=not progress) as bar:
        for start in range(0, len(paths), batch_size):
            images = [load_image(p) for p in paths[start : start + batch_size]]
            regions = [
                Region(j)
                if detections is None or np.isnan(detections["probs"][i])
                else Region(
                    j,
                    detections["boxes"][i],
                    float(detections["probs"][i]),
                    detections["landmarks"][i],
                )
                for j, i in enumerate(range(start, start + len(images)))
            ]
            chunks.append(
                np.stack([face.embedding for face in recognizer.embed_regions(images, regions)])
            )
            bar.update(len(images))
    embeddings = np.concatenate(chunks)
    if cache:
        _save(key, {"embeddings": embeddings})
    return embeddings


def evaluate(
    recognizer: FaceRecognizer, pairs: Pairs, cache: bool = True, progress: bool = True
) -> VerificationReport:
    """Run the verification protocol: embed every image once, score every pair, k-fold metrics.

    Missed detections are embedded from the fallback centre crop (as published LFW protocols
    handle them) and counted in the report; no pair is dropped.
    """
    started = time.perf_counter()
    paths = pairs.images()
    detections = None
    if recognizer.alignment.method != "none":
        detections = detect_primary_faces(recognizer, paths, cache=cache, progress=progress)
    embeddings = embed_primary_faces(recognizer, paths, detections, cache=cache, progress=progress)
    ia, ib = pairs.indices(paths)
    distances = np.linalg.norm(embeddings[ia] - embeddings[ib], axis=1)
    missed = 0 if detections is None else int(np.isnan(detections["probs"]).sum())
    return VerificationReport(
        model=recognizer.weights.name
        + ("" if recognizer.precision == "fp32" else f" ({recognizer.precision})"),
        alignment=recognizer.alignment_parameters(),
        pairs=len(pairs),
        images=len(paths),
        missed_detections=missed,
        missed_handling="not applicable (no detection)"
        if detections is None
        else f"embedded the fixed centre crop ({recognizer.fallback.crop_size} px) instead",
        seconds=time.perf_counter() - started,
        metrics=verification_metrics(distances, pairs.same, pairs.folds),
        roc=roc(distances, pairs.same),
    )


#: False-accept rates of the all-pairs protocol.
ALL_PAIRS_FARS = (1e-2, 1e-3, 1e-4)


@dataclass
class AllPairsReport:
    """TAR at fixed FARs over every pair of images: the result of :func:`evaluate_all_pairs`."""

    model: str
    alignment: dict
    calibration_images: int
    calibration_impostor_pairs: int
    images: int
    genuine_pairs: int
    impostor_pairs: int
    rows: list[dict]

    def to_dict(self) -> dict:
        return asdict(self)


def primary_embeddings(
    recognizer: FaceRecognizer, paths: Sequence[Path], cache: bool = True, progress: bool = True
) -> np.ndarray:
    """``(N, D)`` embeddings of each image's subject face (the LFW protocol's choice)."""
    detections = None
    if recognizer.alignment.method != "none":
        detections = detect_primary_faces(recognizer, paths, cache=cache, progress=progress)
    return embed_primary_faces(recognizer, paths, detections, cache=cache, progress=progress)


def impostor_distances(embeddings: np.ndarray, people: np.ndarray) -> np.ndarray:
    """L2 distances of every pair of images of two different people, ``(P,)``."""
    gram = embeddings @ embeddings.T
    upper = np.triu_indices(len(embeddings), k=1)
    cross = people[upper[0]] != people[upper[1]]
    return np.sqrt(np.clip(2.0 - 2.0 * gram[upper][cross], 0.0, None))


def impostor_quantiles(embeddings: np.ndarray, people: np.ndarray) -> tuple[np.ndarray, int]:
    """Distances at :data:`~faceprint.weights.calibration.FAR_GRID` over all cross-person
    pairs of ``(N, D)`` unit ``embeddings`` of ``(N,)`` ``people``, and how many pairs there
    were: a record's ``impostor_distances``."""
    from faceprint.weights.calibration import FAR_GRID

    distances = impostor_distances(embeddings, people)
    return np.quantile(distances, FAR_GRID), len(distances)


def evaluate_all_pairs(
    recognizer: FaceRecognizer,
    test: Pairs,
    calibration: Pairs,
    fars: Sequence[float] = ALL_PAIRS_FARS,
    cache: bool = True,
    progress: bool = True,
) -> AllPairsReport:
    """TAR at each FAR over every pair of the test images, thresholds set on other images.

    Each threshold is the distance below which a fraction ``far`` of the impostor pairs of the
    calibration images (LFW View 1) fall; the test images (those of View 2's ``pairs.txt``) are
    then scored on all their same-person pairs (TAR) and all their cross-person pairs (the
    realized FAR). LFW's 6000 pairs cannot estimate FAR 1e-4; tens of millions of pairs can.
    """

    def people_of(paths: Sequence[Path]) -> np.ndarray:
        return np.array([p.parent.name for p in paths])

    calibration_paths = calibration.images()
    impostors = impostor_distances(
        primary_embeddings(recognizer, calibration_paths, cache, progress),
        people_of(calibration_paths),
    )
    thresholds = np.quantile(impostors, fars)
    paths = test.images()
    embeddings = primary_embeddings(recognizer, paths, cache, progress)
    people = people_of(paths)
    # Counted row block by row block: 7701 images make 29.6 million pairs.
    similar = 1.0 - thresholds**2 / 2.0  # distance < t  <=>  cosine > 1 - t^2 / 2
    genuine_hits, impostor_hits = np.zeros(len(fars)), np.zeros(len(fars))
    genuine = impostor = 0
    for start in range(0, len(paths), 1024):
        rows = slice(start, min(start + 1024, len(paths)))
        sims = embeddings[rows] @ embeddings.T
        later = np.arange(len(paths))[None, :] > np.arange(rows.start, rows.stop)[:, None]
        same = (people[rows][:, None] == people[None, :]) & later
        cross = ~same & later
        genuine += int(same.sum())
        impostor += int(cross.sum())
        for j, s in enumerate(similar):
            hits = sims > s
            genuine_hits[j] += (hits & same).sum()
            impostor_hits[j] += (hits & cross).sum()
    return AllPairsReport(
        model=recognizer.name,
        alignment=recognizer.alignment_parameters(),
        calibration_images=len(calibration_paths),
        calibration_impostor_pairs=len(impostors),
        images=len(paths),
        genuine_pairs=genuine,
        impostor_pairs=impostor,
        rows=[
            {"far": far, "threshold": float(t), "tar": g / genuine, "realized_far": i / impostor}
            for far, t, g, i in zip(fars, thresholds, genuine_hits, impostor_hits, strict=True)
        ],
    )


def _alignment_key(alignment) -> dict:
    """An alignment's fields for a cache key; the ``dlib`` method's own fields join only for
    it, so the keys (and caches) of the other methods are those from before it existed."""
    fields = asdict(alignment)
    if alignment.method != "dlib":
        fields.pop("padding")
    return fields


def _buffers_key(model: torch.nn.Module) -> str | None:
    """A fingerprint of the buffers outside a model's state dict (a shipped constant such as
    :class:`~faceprint.models.faceres_embedder.FaceResEmbedder`'s centre), which the registry
    name alone does not pin."""
    persistent = model.state_dict().keys()
    extra = [b for name, b in model.named_buffers() if name not in persistent]
    if not extra:
        return None
    digest = hashlib.sha256()
    for buffer in extra:
        digest.update(buffer.detach().cpu().float().numpy().tobytes())
    return digest.hexdigest()


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _load(key: str) -> dict[str, np.ndarray] | None:
    path = eval_cache_dir() / f"{key}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path) as f:
            return dict(f)
    except (OSError, ValueError) as e:
        logger.warning("ignoring unreadable evaluation cache %s: %s", path, e)
        return None


def _save(key: str, arrays: dict[str, np.ndarray]) -> None:
    directory = eval_cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(directory / f"{key}.npz", suffix=".npz") as tmp:
            np.savez(tmp, **arrays)
    except OSError as e:
        logger.warning("cannot write evaluation cache in %s: %s", directory, e)
