"""Enrolment: from photos of a person to faces in a gallery, one transaction per photo."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np
from tqdm import tqdm

from faceprint.boxes import box_area
from faceprint.errors import FaceprintError, GalleryError
from faceprint.files import sha256_file
from faceprint.images import ImageInput, as_image_list, image_size, to_rgb_array

if TYPE_CHECKING:
    from faceprint.gallery.core import GalleryCore
    from faceprint.pipeline import Face

#: A photo with several faces is enrolled by its largest face when that face has at least this
#: many times the area of the next: the subject, with bystanders behind.
DOMINANT_AREA_RATIO = 2.0

#: Beyond this many faces of similar size a photo is a group, whichever face is central.
_MAX_SIMILAR_FACES = 3

FaceChoice = Literal["dominant", "largest", "strict"]
FACE_CHOICES: tuple[FaceChoice, ...] = get_args(FaceChoice)


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
        outliers: image -> a warning: the photo was enrolled, but lies far from the person's
            other photos ("photo 3 of Ada looks like someone else: distance 1.21").
        low_quality: image -> the quality of its subject face, for the images not enrolled
            because it was under ``min_quality`` (they are in ``rejected`` too).
    """

    added: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    ambiguous: list[str] = field(default_factory=list)
    others_ignored: dict[str, int] = field(default_factory=dict)
    outliers: dict[str, str] = field(default_factory=dict)
    low_quality: dict[str, float] = field(default_factory=dict)


def enroll(
    gallery: GalleryCore,
    name: str,
    images: ImageInput | Sequence[ImageInput],
    faces: FaceChoice = "dominant",
    metadata: dict | None = None,
    progress: bool = False,
    largest: bool = False,
    min_quality: float | None = None,
) -> EnrollReport:
    """Detect, embed and enrol the subject's face in each image under ``name``.

    Which face of a photo is the subject (``faces``):

    - ``"dominant"`` (default): the face :func:`dominant_face` finds clearly the subject: the
      only one, the largest by twice the area, or the clearly central one among faces of
      similar size. Photos where none stands out are ambiguous and rejected.
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
        min_quality: photos whose subject face scores under this :attr:`Face.quality
            <faceprint.pipeline.Face>` (in [0, 1]) are not enrolled and are listed in
            ``low_quality`` (and ``rejected``) with their score; None (default) or 0 enrols
            any. ``faceprint enroll`` and the service pass
            :data:`faceprint.quality.DEFAULT_MIN_QUALITY`, set on LFW (see the quality guide).
    """
    choice = "largest" if largest else faces
    if choice not in FACE_CHOICES:
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
        except GalleryError:
            raise  # the gallery's fault, not the photo's: no photo can be enrolled
        except (FaceprintError, OSError) as e:
            report.rejected[label] = str(e)
            continue
        subject = _subject(found, lambda item=item: image_size(item), choice, label, report)
        if subject is None:
            continue
        if min_quality and subject.quality is not None and subject.quality < min_quality:
            report.low_quality[label] = subject.quality
            report.rejected[label] = (
                f"face quality {subject.quality:.2f} is under the minimum {min_quality:g}"
            )
            continue
        warning = outlier_warning(gallery, name, subject.embedding)
        if warning is not None:  # enrolled all the same: the caller decides
            report.outliers[label] = warning
        meta = dict(metadata or {})
        if getattr(subject, "quality", None) is not None:  # the template's weight
            meta["quality"] = float(subject.quality)
        box = subject.box.tolist()
        gallery.add_embeddings(name, subject.embedding[None], [label], [key], [box], [meta])
        report.added.append(label)
    return report


def outlier_warning(gallery: GalleryCore, name: str, embedding: np.ndarray) -> str | None:
    """One line where a photo about to join ``name`` lies far from the person's template
    (:meth:`~faceprint.gallery.core.GalleryCore.outlier_distance`), else None."""
    distance = gallery.outlier_distance(name, embedding)
    if distance is None:
        return None
    number = len(gallery.store.faces(name)) + 1
    return f"photo {number} of {name} looks like someone else: distance {distance:.2f}"


def dominant_face(found: Sequence[Face], size: tuple[int, int]) -> Face | None:
    """The face that is clearly a photo's subject, or None where none is.

    The subject is the only face; or the largest, when it has :data:`DOMINANT_AREA_RATIO`
    times the area of the next; or, among two or three faces of at least half the largest's
    area, the one at most half as far from the image centre as any other (a portrait's subject
    beside a bystander of similar size). More faces of similar size make a group photo.

    Args:
        found: the faces of one image.
        size: ``(width, height)`` of the image.
    """
    if len(found) < 2:
        return found[0] if found else None
    areas = box_area(np.stack([f.box for f in found]))
    order = np.argsort(-areas, kind="stable")
    areas, ordered = areas[order], [found[i] for i in order]
    if areas[0] >= DOMINANT_AREA_RATIO * areas[1]:
        return ordered[0]
    large = [f for f, a in zip(ordered, areas, strict=True) if a * DOMINANT_AREA_RATIO >= areas[0]]
    if len(large) > _MAX_SIMILAR_FACES:  # a group photo: its middle face is no more the subject
        return None
    centre = np.array(size, dtype=float) / 2
    offsets = np.array([np.hypot(*((f.box[:2] + f.box[2:]) / 2 - centre)) for f in large])
    order = np.argsort(offsets)
    if offsets[order[0]] * 2 <= offsets[order[1]]:
        return large[order[0]]
    return None


def subject_faces(found: Sequence[Face], size: tuple[int, int]) -> list[Face]:
    """A photo's subject: its dominant face, or every face where none dominates (a group)."""
    dominant = dominant_face(found, size)
    return list(found) if dominant is None else [dominant]


@dataclass(frozen=True)
class SubjectChoice:
    """Which face of a photo to enrol, or why none.

    Attributes:
        face: the subject, or None.
        reason: why no face was chosen (None when one was).
        ambiguous: several faces of similar size, none clearly the subject.
        others: faces passed over for the subject.
    """

    face: Face | None
    reason: str | None = None
    ambiguous: bool = False
    others: int = 0


def choose_subject(
    found: Sequence[Face], size: Callable[[], tuple[int, int]], choice: FaceChoice = "dominant"
) -> SubjectChoice:
    """The face to enrol among ``found`` by ``choice`` (see :func:`enroll`).

    ``size`` gives the image's ``(width, height)``; it is called only for photos with several
    faces, as decoding the image again just for its size is wasted work otherwise.
    """
    if not found:
        return SubjectChoice(None, "no face found")
    if len(found) == 1:
        return SubjectChoice(found[0])
    if choice == "strict":
        return SubjectChoice(None, f"{len(found)} faces found; exactly one is wanted")
    if choice == "largest":
        subject = max(found, key=lambda f: float(box_area(f.box)))
    else:
        subject = dominant_face(found, size())
        if subject is None:
            return SubjectChoice(
                None,
                f"{len(found)} faces of similar size, none clearly central: which one is the "
                "subject is ambiguous",
                ambiguous=True,
            )
    return SubjectChoice(subject, others=len(found) - 1)


def _subject(
    found: list[Face],
    size: Callable[[], tuple[int, int]],
    choice: str,
    label: str,
    report: EnrollReport,
) -> Face | None:
    """:func:`choose_subject`, with the reason or the faces passed over recorded in ``report``."""
    chosen = choose_subject(found, size, choice)
    if chosen.face is None:
        report.rejected[label] = chosen.reason
        if chosen.ambiguous:
            report.ambiguous.append(label)
    elif chosen.others:
        report.others_ignored[label] = chosen.others
    return chosen.face


def source_key(image: ImageInput) -> str:
    """A content hash identifying an enrolment source (the file's bytes, or the pixels)."""
    if isinstance(image, (str, os.PathLike)):
        return sha256_file(image)
    return hashlib.sha256(to_rgb_array(image).tobytes()).hexdigest()
