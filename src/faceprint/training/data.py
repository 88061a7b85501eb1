"""``<person>/<image>`` folders: checked, split, cropped to aligned faces, and loaded.

Every problem with a folder is found before training starts and said in one message; no image
is dropped silently: an image that gives no usable face is listed, with the reason, in the crop
folder's ``skipped.csv``.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm import tqdm

from faceprint.alignment import Alignment, standardize
from faceprint.errors import DatasetError, FaceprintError, listed
from faceprint.files import atomic_path
from faceprint.images import IMAGE_SUFFIXES, load_image
from faceprint.quality import heuristic_features, heuristic_quality

if TYPE_CHECKING:
    from faceprint.detection.base import Detector

SKIPPED_CSV = "skipped.csv"
#: How ``skipped.csv`` starts the reason of a photo that could not be read (a failed input;
#: a photo without a usable face is handled).
UNREADABLE = "unreadable"


@dataclass(frozen=True)
class FaceFolder:
    """Images of a ``<person>/<image>`` tree.

    Attributes:
        root: the tree's folder.
        classes: person folder names, sorted; a label is an index into them.
        paths: image files.
        labels: ``(N,)`` int64 class index of each path.
        ignored: files that are not images, left out.
    """

    root: Path
    classes: tuple[str, ...]
    paths: tuple[Path, ...]
    labels: np.ndarray
    ignored: tuple[Path, ...] = ()

    def subset(self, indices: Sequence[int]) -> FaceFolder:
        """The images at ``indices``, with the same classes."""
        return FaceFolder(
            self.root,
            self.classes,
            tuple(self.paths[i] for i in indices),
            self.labels[np.asarray(indices, dtype=np.int64)],
        )

    def ignored_note(self) -> str:
        """One line naming the files left out as not images ("" where there are none)."""
        if not self.ignored:
            return ""
        return f"{len(self.ignored)} files are not images and were left out: " + listed(
            self.ignored, 3
        )

    def counts(self) -> np.ndarray:
        """``(C,)`` images per class."""
        return np.bincount(self.labels, minlength=len(self.classes))


def scan_folder(root: str | os.PathLike, what: str = "DATA_DIR", min_images: int = 1) -> FaceFolder:
    """List a ``<person>/<image>`` tree, refusing one that cannot be trained on.

    Args:
        root: the tree.
        what: how messages name it (``"DATA_DIR"``, ``"--val"``).
        min_images: fewest images a person must have.

    Raises:
        DatasetError: no such folder, no person subfolders, images loose at the top, a person
            folder without images or with fewer than ``min_images``.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{what} {root} is not a folder")
    people = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    loose = sorted(p.name for p in root.iterdir() if p.is_file() and _is_image(p))
    if not people:
        hint = f" (it holds {len(loose)} images directly)" if loose else ""
        raise DatasetError(
            f"{what} {root} has no person subfolders{hint}: put each person's photos in "
            f"{root}/<person>/"
        )
    if loose:
        raise DatasetError(
            f"{what} {root} holds images outside any person folder ({listed(loose, 3)}): "
            f"move each into {root}/<person>/"
        )
    paths, labels, ignored, problems = [], [], [], []
    for label, person in enumerate(people):
        files = sorted(p for p in person.rglob("*") if p.is_file() and not p.name.startswith("."))
        images = [p for p in files if _is_image(p)]
        ignored += [p for p in files if not _is_image(p) and p.name != SKIPPED_CSV]
        if len(images) < min_images:
            problems.append(
                f"{person.name} has {len(images) or 'no'} image{'' if len(images) == 1 else 's'}"
            )
        paths += images
        labels += [label] * len(images)
    if problems:
        need = "at least one image" if min_images == 1 else f"at least {min_images} images"
        raise DatasetError(
            f"{what} {root}: every person needs {need}; "
            + "; ".join(problems[:5])
            + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        )
    return FaceFolder(
        root,
        tuple(p.name for p in people),
        tuple(paths),
        np.asarray(labels, np.int64),
        tuple(ignored),
    )


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def split_per_class(
    folder: FaceFolder, val_fraction: float, seed: int = 0
) -> tuple[FaceFolder, FaceFolder]:
    """Split each person's images at random: ``round(n * val_fraction)`` to validation, at least
    one to each side.

    Args:
        folder: a tree whose people each have at least 2 images.
        val_fraction: in (0, 1).
        seed: the shuffle's seed; the same seed gives the same split.
    """
    if not 0.0 < val_fraction < 1.0:
        raise DatasetError(f"--val-split must be in (0, 1), got {val_fraction}")
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in range(len(folder.classes)):
        members = np.flatnonzero(folder.labels == label)
        rng.shuffle(members)
        n_val = min(len(members) - 1, max(1, round(len(members) * val_fraction)))
        val += members[:n_val].tolist()
        train += members[n_val:].tolist()
    return folder.subset(sorted(train)), folder.subset(sorted(val))


def match_classes(train: FaceFolder, val: FaceFolder) -> FaceFolder:
    """``val`` relabelled with ``train``'s class indices.

    Raises:
        DatasetError: ``val`` has people the training set does not.
    """
    unknown = sorted(set(val.classes) - set(train.classes))
    if unknown:
        raise DatasetError(
            f"--val has {len(unknown)} people the training data does not: "
            f"{listed(unknown)}; a classifier can only "
            "be validated on the people it learns"
        )
    index = {name: i for i, name in enumerate(train.classes)}
    labels = np.asarray([index[val.classes[k]] for k in val.labels], np.int64)
    return FaceFolder(val.root, train.classes, val.paths, labels, val.ignored)


@dataclass
class CropReport:
    """What :func:`crop_tree` did.

    Attributes:
        written: crops written in this call.
        kept: crops already there from an earlier call (resumed).
        skipped: ``{image path: reason}`` of images without a usable face.
        out: the crop tree.
    """

    written: int = 0
    kept: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    out: Path | None = None

    @property
    def unreadable(self) -> int:
        """Photos that could not be read: the failed inputs."""
        return sum(reason.startswith(UNREADABLE) for reason in self.skipped.values())


def crop_tree(
    folder: FaceFolder,
    out: str | os.PathLike,
    alignment: Alignment,
    min_probability: float = 0.0,
    min_face_size: float = 0.0,
    device: str | torch.device | None = None,
    batch_size: int = 16,
    progress: bool = True,
    detector: str | Detector = "mtcnn",
    min_quality: float = 0.0,
) -> CropReport:
    """Detect and align the subject's face of every image into the same tree under ``out``.

    A photo's subject is its only face, or its dominant one (the enrolment rule,
    :func:`faceprint.gallery.enroll.dominant_face`); photos with several faces of similar size
    are skipped as ambiguous. Crops are PNG files named after their image, written
    atomically, so an interrupted run resumes where it stopped: existing crops and images
    listed in ``out/skipped.csv`` are not processed again.

    Args:
        folder: the images (:func:`scan_folder`).
        out: the crop tree's folder.
        alignment: how faces are cut; its ``image_size`` is the crops' side.
        min_probability, min_face_size: detections below either are not faces to train on.
        device: the detector's device.
        batch_size: images per detection batch.
        progress: show a progress bar.
        detector: a detector name (``"mtcnn"``, ``"centerface"``, ...; see
            :func:`faceprint.detection.create_detector`) built on ``device``, or a ready
            :class:`~faceprint.detection.Detector`.
        min_quality: photos whose subject's crop scores under this heuristic quality
            (:func:`faceprint.quality.heuristic_quality`, in [0, 1]; no embedder runs here)
            are skipped, with their score; 0 keeps every face.
    """
    from faceprint.gallery.enroll import dominant_face
    from faceprint.pipeline import Region, make_detector, recognisable

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = CropReport(out=out)
    skipped_csv = out / SKIPPED_CSV
    if skipped_csv.exists():
        with open(skipped_csv, newline="") as f:
            report.skipped = {row["image"]: row["reason"] for row in csv.DictReader(f)}
    todo = []
    for path in folder.paths:
        target = crop_path(folder.root, path, out)
        if target.exists():
            report.kept += 1
        elif str(path) not in report.skipped:
            todo.append((path, target))
    finder = make_detector(detector, device) if todo else None
    with tqdm(total=len(todo), desc="cropping", unit="img", disable=not progress) as bar:
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            images = []
            for path, _ in chunk:
                try:
                    images.append(load_image(path))
                except FaceprintError as e:
                    images.append(None)
                    report.skipped[str(path)] = f"{UNREADABLE}: {str(e).removeprefix(f'{path}: ')}"
            ready = [(i, im) for i, im in enumerate(images) if im is not None]
            found = finder.detect_batch([im for _, im in ready]) if ready else []
            for (i, image), faces in zip(ready, found, strict=True):
                path, target = chunk[i]
                regions = [
                    region
                    for region in (
                        Region(0, b, float(p), m)
                        for b, p, m in zip(faces.boxes, faces.scores, faces.landmarks, strict=True)
                    )
                    if recognisable(region, min_probability, min_face_size)
                ]
                if not regions:
                    report.skipped[str(path)] = (
                        "no face found"
                        if len(faces) == 0
                        else ("no face likely and large enough to train on")
                    )
                    continue
                subject = dominant_face(regions, image.size)
                if subject is None:
                    report.skipped[str(path)] = (
                        f"{len(regions)} faces of similar size: which is the person is ambiguous"
                    )
                    continue
                crop = alignment.crop(image, subject.box, subject.landmarks)
                if min_quality:
                    features = heuristic_features(np.asarray(crop), subject.box, subject.landmarks)
                    score = float(heuristic_quality(features))
                    if score < min_quality:
                        report.skipped[str(path)] = (
                            f"face quality {score:.2f} is under --min-quality {min_quality:g}"
                        )
                        continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(target) as tmp:
                    crop.save(tmp, format="PNG")
                report.written += 1
            _write_skipped(skipped_csv, report.skipped)
            bar.update(len(chunk))
    _write_skipped(skipped_csv, report.skipped)
    return report


def crop_path(root: Path, image: Path, out: Path) -> Path:
    """Where the crop of ``image`` (under ``root``) goes under ``out``."""
    return (out / image.relative_to(root)).with_suffix(".png")


def _write_skipped(path: Path, skipped: dict[str, str]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "reason"])
        writer.writerows(sorted(skipped.items()))


class CropDataset(torch.utils.data.Dataset):
    """Aligned face crops of a :class:`FaceFolder` as ``(x, label)``: ``x`` is ``(3, S, S)``
    float32 standardized as ``standardization`` says, label an int."""

    def __init__(self, folder: FaceFolder, standardization: str) -> None:
        self.folder = folder
        self.standardization = standardization

    def __len__(self) -> int:
        return len(self.folder.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        """The crop at ``index`` and its label.

        Raises:
            ImageError: the crop file is damaged, truncated or not an image (named).
        """
        pixels = np.array(load_image(self.folder.paths[index]), dtype=np.uint8)
        x = torch.from_numpy(pixels).permute(2, 0, 1).float()[None]
        return standardize(x, self.standardization)[0], int(self.folder.labels[index])
