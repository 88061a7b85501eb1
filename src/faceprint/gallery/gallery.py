"""``Gallery``: the face gallery users open. :class:`~faceprint.gallery.core.GalleryCore` (a
SQLite or PostgreSQL store plus its FAISS or Milvus index) with enrolment from photos and
exchange with files on top, each a function of its own module that takes the core.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from faceprint.gallery.core import DEFAULT_FAR, UNKNOWN, GalleryCore, Identification, Match
from faceprint.gallery.corrections import Correction, confirm, reject
from faceprint.gallery.enroll import EnrollReport, enroll
from faceprint.gallery.exchange import export_gallery, import_gallery
from faceprint.images import ImageInput

__all__ = ["DEFAULT_FAR", "UNKNOWN", "Correction", "Gallery", "Identification", "Match"]


class Gallery(GalleryCore):
    """A persistent face gallery: :class:`~faceprint.gallery.core.GalleryCore` (same arguments)
    plus :meth:`add` (enrol photos), :meth:`reject` and :meth:`confirm` (correct its answers),
    :meth:`export` and :meth:`import_`."""

    def add(self, name: str, images: ImageInput | Sequence[ImageInput], **options) -> EnrollReport:
        """Detect, embed and enrol the face in each image under ``name``; ``options`` are
        :func:`faceprint.gallery.enroll.enroll`'s (``faces``, ``metadata``, ``progress``)."""
        return enroll(self, name, images, **options)

    def reject(self, image: ImageInput, name: str) -> Correction:
        """ "Not this person": the face of ``image`` nearest to ``name`` and its near-duplicates
        are never named ``name`` again (:func:`faceprint.gallery.corrections.reject`)."""
        return reject(self, image, name)

    def confirm(self, image: ImageInput, name: str) -> Correction:
        """ "This is": add the face of ``image`` to ``name``
        (:func:`faceprint.gallery.corrections.confirm`)."""
        return confirm(self, image, name)

    def export(self, path: str | os.PathLike) -> Path:
        """Write every face to an ``.npz`` file (:func:`faceprint.gallery.exchange.export_gallery`);
        returns the path written, which always ends in ``.npz``."""
        return export_gallery(self, path)

    def import_(self, path: str | os.PathLike) -> int:
        """Merge a file written by :meth:`export` (same model only); returns faces added."""
        return import_gallery(self, path)

    def __enter__(self) -> Gallery:
        return self
