"""Enrolment: from photos of a person to faces in a gallery, one transaction per photo."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from tqdm import tqdm

from faceprint.boxes import box_area
from faceprint.errors import FaceprintError
from faceprint.files import sha256_file
from faceprint.images import ImageInput, as_image_list, to_rgb_array

if TYPE_CHECKING:
    from faceprint.gallery.gallery import Gallery
    from faceprint.pipeline import Face

#: A photo with several faces is enrolled by its largest face when that face has at least this
#: many times the area of the next: the subject, with bystanders behind.
DOMINANT_AREA_RATIO = 2.0

FaceChoice = Literal["dominant", "largest", "strict"]


@dataclass
class EnrollReport:
    """What :func:`enroll` did with each image.

    Attributes:
        added: images enrolled.
        skipped: images enrolled for this identity already.
        rejected: image -> why it was not enrolled.
        ambiguous: the rejected images with several faces of similar size (taking the largest,
            ``faces="largest"``, would enrol them).
        others_ignored: image -> how many smaller faces were passed over for its subject.
    """

    added: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    ambiguous: list[str] = field(default_factory=list)
    others_ignored: dict[str, int] = field(default_factory=dict)


def enroll(
    gallery: Gallery,
    name: str,
    images: ImageInput | Sequence[ImageInput],
    faces: FaceChoice = "dominant",
    metadata: dict | None = None,
    progress: bool = False,
    largest: bool = False,
) -> EnrollReport:
    """Detect, embed and enrol the subject's face in each image under ``name``.

    Which face of a photo is the subject (``faces``):

    - ``"dominant"`` (default): the only face, or the largest when it has at least
      :data:`DOMINANT_AREA_RATIO` times the area of the next (bystanders behind the subject).
      Photos with several faces of similar size are ambiguous and rejected.
    - ``"largest"``: always the largest face.
    - ``"strict"``: only photos with exactly one face.

    Images without a face are reported, not enrolled, and an image already enrolled for
    ``name`` is skipped. Each image is its own transaction, so an interrupted enrolment resumes
    where it stopped.

    Args:
        gallery: the gallery; its recognizer embeds the faces.
        name: the identity (created if new).
        images: one image or a batch (paths, PIL images, ``(H, W, 3)`` uint8 arrays).
        faces: how the subject is chosen (see above).
        metadata: stored with every face.
        progress: show a progress bar.
        largest: the same as ``faces="largest"`` (kept from earlier releases).
    """
    choice = "largest" if largest else faces
    if choice not in ("dominant", "largest", "strict"):
        raise ValueError(f"faces must be 'dominant', 'largest' or 'strict', got {faces!r}")
    report = EnrollReport()
    recognizer = gallery.recognizer
    items = as_image_list(images)
    for index, item in enumerate(tqdm(items, desc=f"enrolling {name}", disable=not progress)):
        label = str(item) if isinstance(item, (str, os.PathLike)) else f"image {index}"
        try:
            key = source_key(item)
            if gallery.store.has_source(key, name):
                report.skipped.append(label)
                continue
            found = recognizer.embed(item)
        except (FaceprintError, OSError) as e:
            report.rejected[label] = str(e)
            continue
        subject = _subject(found, choice, label, report)
        if subject is None:
            continue
        gallery.add_embeddings(
            name, subject.embedding[None], [label], [key], [subject.box.tolist()], [metadata or {}]
        )
        report.added.append(label)
    return report


def dominant_face(found: Sequence[Face]) -> Face | None:
    """The only face, or the largest when it has :data:`DOMINANT_AREA_RATIO` times the area of
    the next; None where no face is clearly the subject (or there is none)."""
    ordered = sorted(found, key=lambda f: -float(box_area(f.box)))
    if len(ordered) == 1 or (len(ordered) > 1 and _area_ratio(ordered) >= DOMINANT_AREA_RATIO):
        return ordered[0]
    return None


def subject_faces(found: Sequence[Face]) -> list[Face]:
    """A photo's subject: its dominant face, or every face where none dominates (a group)."""
    dominant = dominant_face(found)
    return list(found) if dominant is None else [dominant]


def _area_ratio(ordered: Sequence[Face]) -> float:
    """Area of the largest face over that of the next (faces sorted by area, largest first)."""
    return float(box_area(ordered[0].box)) / max(float(box_area(ordered[1].box)), 1e-6)


def _subject(found: list[Face], choice: str, label: str, report: EnrollReport) -> Face | None:
    """The face to enrol among ``found``, or None (the reason recorded in ``report``)."""
    if not found:
        report.rejected[label] = "no face found"
        return None
    found = sorted(found, key=lambda f: -float(box_area(f.box)))
    if len(found) > 1 and choice == "strict":
        report.rejected[label] = f"{len(found)} faces found; exactly one is wanted"
        return None
    if len(found) > 1 and choice == "dominant":
        ratio = _area_ratio(found)
        if ratio < DOMINANT_AREA_RATIO:
            report.rejected[label] = (
                f"{len(found)} faces of similar size (the largest has {ratio:.1f}x the area of "
                "the next): which one is the subject is ambiguous"
            )
            report.ambiguous.append(label)
            return None
    if len(found) > 1:
        report.others_ignored[label] = len(found) - 1
    return found[0]


def source_key(image: ImageInput) -> str:
    """A content hash identifying an enrolment source (the file's bytes, or the pixels)."""
    if isinstance(image, (str, os.PathLike)):
        return sha256_file(image)
    return hashlib.sha256(to_rgb_array(image).tobytes()).hexdigest()
