"""Enrolment: from photos of a person to faces in a gallery, one transaction per photo."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tqdm import tqdm

from faceprint.boxes import box_area
from faceprint.errors import FaceprintError
from faceprint.files import sha256_file
from faceprint.images import ImageInput, as_image_list, to_rgb_array

if TYPE_CHECKING:
    from faceprint.gallery.gallery import Gallery


@dataclass
class EnrollReport:
    """What :func:`enroll` did with each image: added, skipped (enrolled already) or rejected
    (with the reason)."""

    added: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)


def enroll(
    gallery: Gallery,
    name: str,
    images: ImageInput | Sequence[ImageInput],
    largest: bool = False,
    metadata: dict | None = None,
    progress: bool = False,
) -> EnrollReport:
    """Detect, embed and enrol the face in each image under ``name``.

    Each image must hold exactly one face, unless ``largest`` is set (then its largest face is
    enrolled). Images without a face or with several are reported, not enrolled, and an image
    already enrolled for ``name`` is skipped. Each image is its own transaction, so an
    interrupted enrolment resumes where it stopped.

    Args:
        gallery: the gallery; its recognizer embeds the faces.
        name: the identity (created if new).
        images: one image or a batch (paths, PIL images, ``(H, W, 3)`` uint8 arrays).
        largest: enrol the largest face of photos with several.
        metadata: stored with every face.
        progress: show a progress bar.
    """
    items = as_image_list(images)
    report = EnrollReport()
    recognizer = gallery.recognizer
    for index, item in enumerate(
        tqdm(items, desc=f"enrolling {name}", unit="img", disable=not progress)
    ):
        label = str(item) if isinstance(item, (str, os.PathLike)) else f"image {index}"
        try:
            key = source_key(item)
            if gallery.store.has_source(key, name):
                report.skipped.append(label)
                continue
            faces = recognizer.embed(item)
        except (FaceprintError, OSError) as e:
            report.rejected[label] = str(e)
            continue
        if not faces:
            report.rejected[label] = "no face found"
            continue
        if len(faces) > 1 and not largest:
            report.rejected[label] = (
                f"{len(faces)} faces found; enrol one face per image (or pass largest=True)"
            )
            continue
        face = max(faces, key=lambda f: float(box_area(f.box)))
        gallery.add_embeddings(
            name, face.embedding[None], [label], [key], [face.box.tolist()], [metadata or {}]
        )
        report.added.append(label)
    return report


def source_key(image: ImageInput) -> str:
    """A content hash identifying an enrolment source (the file's bytes, or the pixels)."""
    if isinstance(image, (str, os.PathLike)):
        return sha256_file(image)
    return hashlib.sha256(to_rgb_array(image).tobytes()).hexdigest()
