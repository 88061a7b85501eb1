"""Corrections of a gallery's answers: "not this person" (:func:`reject`) stores a negative, so
that face and near-duplicates of it are never given that name again; "this is" (:func:`confirm`)
adds the face to the person. Both are records of the gallery (its file or database), so they
survive reopening, reach every process, and travel with export and import."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from faceprint.errors import GalleryError, NoFaceError
from faceprint.gallery.enroll import choose_subject, outlier_warning, source_key
from faceprint.gallery.store import check_identity_name
from faceprint.images import ImageInput, image_size

if TYPE_CHECKING:
    from faceprint.gallery.core import GalleryCore
    from faceprint.pipeline import Face


@dataclass(frozen=True)
class Correction:
    """What a correction stored.

    Attributes:
        name: the identity corrected.
        box: ``(x1, y1, x2, y2)`` of the face it concerns, in the image's pixels.
        id: the new negative's id (reject), or the new face's id (confirm; None when the photo
            was enrolled for the person already).
        warning: confirm only: the outlier warning, where the face lies far from the person's
            other photos (it was added all the same).
        face_index: which of the photo's faces (largest first) it concerns.
    """

    name: str
    box: list[float]
    id: int | None
    warning: str | None = None
    face_index: int = 0


def _label(image: ImageInput) -> str:
    return str(image) if isinstance(image, (str, os.PathLike)) else "image"


def _faces(gallery: GalleryCore, image: ImageInput) -> list[Face]:
    faces = gallery.recognizer.embed(image)
    if not faces:
        raise NoFaceError(f"{_label(image)}: no face found")
    return faces


def _nearest(gallery: GalleryCore, faces: Sequence[Face], name: str) -> Face:
    """The face nearest to ``name``'s template (the one the gallery would call ``name``)."""
    if len(faces) == 1:
        return faces[0]
    template = gallery.template(name)
    return max(faces, key=lambda f: float(np.dot(f.embedding, template)))


def _index(faces: Sequence[Face], face: Face) -> int:
    return next(i for i, f in enumerate(faces) if f is face)


def _known(gallery: GalleryCore, name: str) -> str:
    name = check_identity_name(name)
    if not gallery.store.faces(name):
        raise GalleryError(f"no identity called {name!r}")
    return name


def reject_faces(
    gallery: GalleryCore, faces: Sequence[Face], name: str, source: str | None = None
) -> Correction:
    """Store that the face among ``faces`` (one photo's) nearest to ``name`` is not ``name``.

    Raises:
        GalleryError: no identity of that name.
        NoFaceError: ``faces`` is empty.
    """
    name = _known(gallery, name)
    if not faces:
        raise NoFaceError(f"{source or 'image'}: no face found")
    face = _nearest(gallery, faces, name)
    negative = gallery.add_negative(name, face.embedding, source)
    return Correction(name, [float(v) for v in face.box], negative, None, _index(faces, face))


def confirm_faces(
    gallery: GalleryCore,
    faces: Sequence[Face],
    name: str,
    size: tuple[int, int],
    source: str | None = None,
    key: str | None = None,
    metadata: dict | None = None,
) -> Correction:
    """Add the face among ``faces`` (one photo's, ``size`` = its ``(width, height)``) that is
    ``name`` to the person (created if new): for a known person the face nearest to them, else
    the photo's subject.

    Raises:
        GalleryError: a bad name, or several faces of similar size and a new person (which
            face is meant is ambiguous).
        NoFaceError: ``faces`` is empty.
    """
    name = check_identity_name(name)
    if not faces:
        raise NoFaceError(f"{source or 'image'}: no face found")
    if gallery.store.faces(name):
        face = _nearest(gallery, faces, name)
    else:
        chosen = choose_subject(faces, lambda: size)
        if chosen.face is None:
            raise GalleryError(f"{source or 'image'}: {chosen.reason}; crop the photo to the face")
        face = chosen.face
    warning = outlier_warning(gallery, name, face.embedding)
    meta = dict(metadata or {}) | {"confirmed": True}
    if getattr(face, "quality", None) is not None:
        meta["quality"] = float(face.quality)
    ids = gallery.add_embeddings(
        name, face.embedding[None], [source], [key], [[float(v) for v in face.box]], [meta]
    )
    return Correction(
        name, [float(v) for v in face.box], ids[0] if ids else None, warning, _index(faces, face)
    )


def reject(gallery: GalleryCore, image: ImageInput, name: str) -> Correction:
    """ "Not this person": the face of ``image`` nearest to ``name`` (the one the gallery names
    ``name``) is never named ``name`` again, nor are faces within
    :data:`~faceprint.gallery.core.NEGATIVE_RADIUS` of it (near-duplicates).

    Raises:
        GalleryError: no identity of that name.
        NoFaceError: the image holds no face.
    """
    return reject_faces(gallery, _faces(gallery, image), name, _label(image))


def confirm(gallery: GalleryCore, image: ImageInput, name: str) -> Correction:
    """ "This is": add the face of ``image`` to ``name`` (the face nearest to the person, or
    for a new person the photo's subject). Confirming a photo twice adds it once.

    Raises:
        GalleryError: a bad name, or an ambiguous photo of a new person.
        NoFaceError: the image holds no face.
    """
    faces = _faces(gallery, image)
    size = image_size(image) if len(faces) > 1 else (0, 0)
    return confirm_faces(gallery, faces, name, size, _label(image), source_key(image))
